"""Load test: a bounded number of requests on loopback against a running server.

    .venv/bin/python bench/load_test.py [--requests 10000] [--concurrency 16]

Starts gunicorn (1 worker, 8 threads) on 127.0.0.1 over the configured database (run
`make setup` first), then sends a mix of search, entry-page, calculator and live
next-token requests from an asyncio client, bounded in count and in time. Reports per
endpoint: requests, throughput, p50/p99, errors; and the server's resident memory after
warm-up and at the end. Errors must be 0 except 503s from the live queue, which answers
"busy" on purpose when more prompts wait than it holds.
"""

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["my model doesn't fit on my 24 GB card", "make the output valid JSON", "min-p sampling",
             "how big is the KV cache", "lora rank", "what is GGUF", "quantisation", "lamma.cpp"]
ENTRIES = ["gguf", "kv-cache", "lora", "q4-k-m", "min-p", "grouped-query-attention", "qlora"]

# (name, weight, request builder)
MIX = [
    ("search", 30, lambda r: ("GET", "/api/v1/search/", {"params": {"q": r.choice(QUESTIONS)}})),
    ("entry page", 25, lambda r: ("GET", f"/glossary/{r.choice(ENTRIES)}/", {})),
    ("entry api", 10, lambda r: ("GET", f"/api/v1/entries/{r.choice(ENTRIES)}/", {})),
    ("memory", 10, lambda r: ("POST", "/api/v1/calculators/memory/", {"json": {
        "model": r.choice(["llama-3.1-8b", "mistral-7b-v0.1", "gemma-3-270m"]),
        "quant": r.choice(["Q4_K_M", "Q8_0", "Q5_K_S"]), "context_length": r.choice([4096, 32768])}})),
    ("lora", 8, lambda r: ("POST", "/api/v1/calculators/lora/", {"json": {
        "model": "llama-2-7b", "rank": r.choice([8, 16, 64]), "target_modules": ["q_proj", "v_proj"]}})),
    ("bit-layout", 7, lambda r: ("POST", "/api/v1/calculators/bit-layout/", {"json": {
        "format": r.choice(["bf16", "fp16", "fp8_e4m3"]), "value": r.uniform(-100, 100)}})),
    ("next-token", 10, lambda r: ("POST", "/api/v1/llm/next-token/", {"json": {
        "prompt": r.choice(["Once upon a time", "The capital of France is", "def fib(n):"]), "top_n": 10}})),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_load(base_url, total, concurrency, time_limit, seed=1):
    rng = random.Random(seed)
    names, weights = [m[0] for m in MIX], [m[1] for m in MIX]
    plan = [rng.choices(range(len(MIX)), weights)[0] for _ in range(total)]
    stats = {name: {"latencies": [], "errors": 0, "busy": 0, "statuses": {}} for name in names}
    queue = asyncio.Queue()
    for index in plan:
        queue.put_nowait(index)
    deadline = time.monotonic() + time_limit

    async def worker(client, worker_rng):
        while time.monotonic() < deadline:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            name, _, build = MIX[index]
            method, url, kwargs = build(worker_rng)
            started = time.perf_counter()
            try:
                response = await client.request(method, url, **kwargs)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            entry = stats[name]
            entry["latencies"].append(time.perf_counter() - started)
            entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
            if status == 503 and name == "next-token":
                entry["busy"] += 1
            elif not 200 <= status < 300:
                entry["errors"] += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await asyncio.gather(*(worker(client, random.Random(seed + i)) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    report = {}
    for name, entry in stats.items():
        lat = sorted(entry["latencies"])
        if not lat:
            continue
        report[name] = {
            "requests": len(lat), "per_s": round(len(lat) / elapsed, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1)))] * 1000, 1),
            "errors": entry["errors"], "busy_503": entry["busy"], "statuses": entry["statuses"]}
    return {"elapsed_s": round(elapsed, 1), "total": sum(r["requests"] for r in report.values()),
            "endpoints": report}


def start_server(env=None, port=None):
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "8", "--timeout", "120"],
        cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(url + "/api/v1/health/", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError("server did not start")


def rss_mb(process):
    proc = psutil.Process(process.pid)
    return round(sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20, 1)


def measure(total, concurrency, time_limit, env=None):
    process, url = start_server(env)
    try:
        asyncio.run(run_load(url, min(300, total), concurrency, time_limit))  # warm-up: models load
        before = rss_mb(process)
        result = asyncio.run(run_load(url, total, concurrency, time_limit, seed=2))
        result["rss_mb_after_warmup"] = before
        result["rss_mb_end"] = rss_mb(process)
        result["rss_growth_mb"] = round(result["rss_mb_end"] - before, 1)
        return result
    finally:
        process.terminate()
        process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=900)
    args = parser.parse_args()
    result = measure(args.requests, args.concurrency, args.time_limit)
    print(f"\nLoad test: {result['total']:,} requests in {result['elapsed_s']} s, "
          f"concurrency {args.concurrency}")
    print(f"  {'endpoint':12s} {'requests':>8s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s} {'503 busy':>8s}")
    for name, r in result["endpoints"].items():
        print(f"  {name:12s} {r['requests']:8d} {r['per_s']:7.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
              f"{r['errors']:6d} {r['busy_503']:8d}")
    print(f"  server memory: {result['rss_mb_after_warmup']} MiB after warm-up, "
          f"{result['rss_mb_end']} MiB at the end ({result['rss_growth_mb']:+} MiB)")
    sys.path.insert(0, str(Path(__file__).parent))
    from common import save

    save("load", result)


if __name__ == "__main__":
    main()
