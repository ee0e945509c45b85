"""The speed estimator against llama.cpp on this machine, in the same run.

    .venv/bin/python bench/bench_speed.py [--threads 1] [--rounds 3]

1. Measures this machine: memory bandwidth with a STREAM-like copy (numpy, 512 MiB arrays,
   far larger than any cache, split across the threads; a read-only pass is reported
   beside it), and compute with a float32 matrix multiply (numpy's BLAS, same threads).
2. Measures llama.cpp on the bundled model (Gemma 3 270M Q4_K_M) through
   llama-cpp-python, CPU only, the way llama-bench does: pp512 (one 512-token batch into
   an empty context) and tg128 (128 single-token decodes after it, depth 0 onwards).
3. Asks calculators.speed for the same two figures, given the measured copy bandwidth and
   matmul throughput, backend cpu, and the model's own GGUF header; prints both and the
   ratio. Absolute figures move with the machine's load (printed); read the ratio.

The threads are the same in all three (default 1: llama.cpp's threads spin while waiting,
so one per core is fragile on a shared 2-core host, see live/llm.py). With one thread every
figure is timed in that thread's CPU time (time.thread_time), so other processes sharing
the core do not count; wall-clock figures are printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _set_threads(n: int) -> None:
    # before numpy is imported: its BLAS reads these once
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(n)


def clock(threads: int):
    """CPU time of this thread when the work runs in it alone, else wall time."""
    return time.thread_time if threads == 1 else time.perf_counter


def memory_bandwidth(threads: int, rounds: int, mib: int = 512) -> dict:
    """GB/s: copy (read + write, as STREAM counts it) and read (a max), median of `rounds`."""
    import numpy as np

    n = mib * 2**20 // 8
    a = np.random.default_rng(0).random(n)
    b = np.empty_like(a)
    chunks = np.array_split(np.arange(n), threads)
    bounds = [(c[0], c[-1] + 1) for c in chunks]
    now = clock(threads)

    def run(kernel):
        if threads == 1:
            start = now()
            kernel(*bounds[0])
            return now() - start
        workers = [threading.Thread(target=kernel, args=bound) for bound in bounds]
        start = now()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return now() - start

    def copy(lo, hi):
        np.copyto(b[lo:hi], a[lo:hi])

    sums = [0.0] * threads

    def read(lo, hi):
        sums[bounds.index((lo, hi))] = float(a[lo:hi].max())  # max: the cheapest full pass

    run(copy)  # touch the pages first
    copy_s = statistics.median(run(copy) for _ in range(rounds))
    read_s = statistics.median(run(read) for _ in range(rounds))
    return {"copy_gbs": 2 * a.nbytes / copy_s / 1e9, "read_gbs": a.nbytes / read_s / 1e9}


def matmul_tflops(threads: int, rounds: int, n: int = 2048) -> float:
    import numpy as np

    x = np.random.default_rng(1).random((n, n), dtype=np.float32)
    y = np.random.default_rng(2).random((n, n), dtype=np.float32)
    x @ y
    seconds = statistics.median(_timed(lambda: x @ y, clock(threads)) for _ in range(rounds))
    return 2 * n**3 / seconds / 1e12


def _timed(fn, now=time.perf_counter) -> float:
    start = now()
    fn()
    return now() - start


def llama_cpp_speed(threads: int, rounds: int, n_prompt: int = 512, n_gen: int = 128) -> dict:
    """pp and tg tokens/s of the bundled model, llama-bench's way (median of `rounds`)."""
    from live.engine import LocalBackend

    backend = LocalBackend(n_ctx=n_prompt + n_gen + 256, n_threads=threads, n_batch=n_prompt)
    llm = backend.llama  # loads and warms up
    vocab = llm.n_vocab()
    tokens = [(i * 7919) % (vocab - 1000) + 500 for i in range(n_prompt + n_gen)]  # arbitrary ids, as llama-bench

    def generate():
        for token in tokens[:n_gen]:
            llm.eval([token])

    result = {"n_prompt": n_prompt, "n_gen": n_gen}
    for name, now in (("", clock(threads)), ("wall_", time.perf_counter)):
        pp, tg = [], []
        for _ in range(rounds):
            llm.reset()
            pp.append(n_prompt / _timed(lambda: llm.eval(tokens[:n_prompt]), now))
            llm.reset()
            tg.append(n_gen / _timed(generate, now))
        result |= {f"{name}pp": statistics.median(pp), f"{name}tg": statistics.median(tg)}
    backend.close()
    return result


def estimate(bandwidth_gbs: float, tflops: float, n_prompt: int, n_gen: int):
    from calculators import speed
    from calculators.gguf_header import parse_header
    from live.llm import bundled_model_path

    with open(bundled_model_path(), "rb") as fh:
        header = parse_header(fh.read(8 * 2**20))
    hw = speed.Hardware(bandwidth_gbs, tflops, "cpu", name="this machine")
    prompt = speed.estimate(header, hw, n_prompt=n_prompt, n_ubatch=n_prompt)
    # tg128 averages the tokens generated at depths 0 … 127
    gen = speed.estimate(header, hw, depth=n_gen // 2, n_prompt=n_prompt, n_ubatch=n_prompt)
    return prompt.prompt, gen.generation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _set_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from bench.common import print_table, save

    started = time.perf_counter()
    bandwidth = memory_bandwidth(args.threads, args.rounds)
    tflops = matmul_tflops(args.threads, args.rounds)
    measured = llama_cpp_speed(args.threads, args.rounds)
    # the estimator is given STREAM's copy figure, the usual way to state a machine's bandwidth
    prompt, gen = estimate(bandwidth["copy_gbs"], tflops, measured["n_prompt"], measured["n_gen"])

    rows = [("figure", "measured", "estimated", "estimated / measured"),
            (f"pp{measured['n_prompt']} tokens/s", f"{measured['pp']:.1f}", f"{prompt.tokens_per_second:.1f}",
             f"{prompt.tokens_per_second / measured['pp']:.2f}"),
            (f"tg{measured['n_gen']} tokens/s", f"{measured['tg']:.1f}", f"{gen.tokens_per_second:.1f}",
             f"{gen.tokens_per_second / measured['tg']:.2f}")]
    import llama_cpp  # only for its version in the report

    print(f"llama-cpp-python {llama_cpp.__version__}, bundled Gemma 3 270M Q4_K_M, CPU, {args.threads} thread(s), "
          f"{os.cpu_count()} cpus, load avg {os.getloadavg()[0]:.2f}")
    timing = "CPU time of the one thread" if args.threads == 1 else "wall clock"
    print(f"this machine ({timing}): copy {bandwidth['copy_gbs']:.1f} GB/s, read {bandwidth['read_gbs']:.1f} GB/s, "
          f"float32 matmul {tflops * 1000:.1f} GFLOPS (given to the estimator: copy bandwidth, matmul)")
    print(f"llama.cpp by wall clock: pp{measured['n_prompt']} {measured['wall_pp']:.1f}, "
          f"tg{measured['n_gen']} {measured['wall_tg']:.1f} tokens/s")
    print_table("llama.cpp against calculators.speed (backend cpu)", rows)
    print(f"estimate: {gen.weights_bytes / 1e6:.0f} MB of weights + {gen.kv_cache_bytes / 1e6:.2f} MB of KV cache "
          f"per token, bound by {gen.bound}; prompt bound by {prompt.bound}")
    print(f"total {time.perf_counter() - started:.1f} s")
    save("speed", {
        "threads": args.threads, "bandwidth": bandwidth, "matmul_tflops": tflops,
        "measured": measured, "estimated": {"pp": prompt.tokens_per_second, "tg": gen.tokens_per_second},
        "ratio": {"pp": prompt.tokens_per_second / measured["pp"], "tg": gen.tokens_per_second / measured["tg"]},
    })


if __name__ == "__main__":
    main()
