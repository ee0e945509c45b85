"""How much the service costs over raw llama-cpp-python, on the bundled model.

    .venv/bin/python bench/bench_live.py [--tokens 128] [--rounds 3]

The service is the one the site runs: requests go over a Unix socket to the model worker
(live/worker.py), a separate process started through its supervisor, exactly as a web
process sends them. The raw reference is a ``llama_cpp.Llama`` in this process with the
same settings (context, batch, threads). Modes are interleaved round by round; the median
and the best round are reported, because this machine's 2 cores are shared with other
work (the 1-minute load average is printed) and single rounds vary by 2x.

* greedy tokens/s: completion tokens / wall time of the whole call (prompt
  evaluation included), for raw ``create_completion(temperature=0)``, the
  service's ``generate`` (JSON) and its ``stream_generate`` (events read to the
  end). The raw context is reset before each call so both evaluate the prompt
  afresh, as the service does.
* next-token latency: the service's ``next_token(top_n=10)`` (tokenise, evaluate,
  full softmax + entropy, top-N, pieces) vs a raw ``reset(); eval(tokens)`` and a
  read of the last logits with ``llama_get_logits_ith``. Prompts rotate so the
  service's last-prompt memo does not answer.
* time to first streamed token: ``stream_generate`` vs raw
  ``create_completion(stream=True)``.
* worker restart: the worker is killed (SIGKILL) and a next-token request sent at once;
  the time until it is answered, and the supervisor's own figure (death to ready).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from live.engine import softmax_stats  # noqa: E402
from live.llm import bundled_model_path  # noqa: E402
from live.service import LLMService, ServiceConfig  # noqa: E402

PROMPT = "Once upon a time"
NEXT_TOKEN_PROMPTS = [
    "The capital of France is",
    "Water boils at a temperature of",
    "def fibonacci(n):",
    "The quick brown fox",
    "In 1969, the first person to walk on the Moon was",
]


def median_ms(values):
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n-threads", type=int, default=None,
                        help="generation threads (default: llama-cpp-python's, half the cores)")
    args = parser.parse_args()

    started = time.perf_counter()
    worker_dir = tempfile.mkdtemp(prefix="bench-live-")
    service = LLMService.from_config(ServiceConfig(n_ctx=1024, n_threads=args.n_threads, queue_size=1,
                                                   queue_timeout=60, worker_dir=worker_dir))
    t = time.perf_counter()
    service.next_token(PROMPT, top_n=1)  # starts the supervisor and the worker, loads the model
    load_s = time.perf_counter() - t
    import llama_cpp  # the raw reference, in this process

    # The worker's LocalBackend settings: n_batch 512, llama.cpp's own sliding-window cache.
    llm = llama_cpp.Llama(model_path=bundled_model_path(), n_ctx=1024, n_batch=512, n_threads=args.n_threads,
                          swa_full=False, verbose=False)
    n_vocab = llm.n_vocab()

    # -- greedy throughput ---------------------------------------------------
    rates: dict[str, list[float]] = {"raw": [], "json": [], "stream": []}
    texts: dict[str, str] = {}
    for _ in range(args.rounds):
        llm.reset()
        t = time.perf_counter()
        out = llm.create_completion(PROMPT, max_tokens=args.tokens, temperature=0)
        rates["raw"].append(out["usage"]["completion_tokens"] / (time.perf_counter() - t))
        texts["raw"] = out["choices"][0]["text"]

        t = time.perf_counter()
        gen = service.generate(PROMPT, max_tokens=args.tokens, temperature=0)
        rates["json"].append(gen.usage["completion_tokens"] / (time.perf_counter() - t))
        texts["json"] = gen.text

        t = time.perf_counter()
        events = list(service.stream_generate(PROMPT, max_tokens=args.tokens, temperature=0))
        rates["stream"].append(events[-1]["usage"]["completion_tokens"] / (time.perf_counter() - t))
        texts["stream"] = events[-1]["text"]
    same_text = texts["raw"] == texts["json"] == texts["stream"]

    # -- next-token latency -----------------------------------------------------
    raw_next, svc_next = [], []
    for _ in range(args.rounds):
        for prompt in NEXT_TOKEN_PROMPTS:
            tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            t = time.perf_counter()
            llm.reset()
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            int(np.argmax(logits))
            raw_next.append(time.perf_counter() - t)

            t = time.perf_counter()
            service.next_token(prompt, top_n=10)
            svc_next.append(time.perf_counter() - t)
    t = time.perf_counter()
    service.next_token(NEXT_TOKEN_PROMPTS[-1], top_n=10)  # same prompt again: memo
    memo_ms = (time.perf_counter() - t) * 1000

    # The extra work per generated token: one softmax pass over the vocabulary.
    logits = np.random.default_rng(0).normal(size=n_vocab).astype(np.float32)
    t = time.perf_counter()
    for _ in range(50):
        m = logits.max()
        float(np.exp(logits - m).sum(dtype=np.float64))
    prob_ms = (time.perf_counter() - t) / 50 * 1000
    t = time.perf_counter()
    for _ in range(20):
        softmax_stats(logits)
    stats_ms = (time.perf_counter() - t) / 20 * 1000

    # -- time to first streamed token -----------------------------------------------
    raw_ttft, svc_ttft = [], []
    for _ in range(args.rounds):
        llm.reset()
        t = time.perf_counter()
        chunks = llm.create_completion(PROMPT, max_tokens=8, temperature=0, stream=True)
        next(iter(chunks))
        raw_ttft.append(time.perf_counter() - t)
        for _ in chunks:
            pass

        t = time.perf_counter()
        with service.stream_generate(PROMPT, max_tokens=8, temperature=0) as stream:
            next(stream)
            svc_ttft.append(time.perf_counter() - t)

    # -- worker restart ------------------------------------------------------------------
    before = service.backend.supervisor_status()
    os.kill(before["worker_pid"], signal.SIGKILL)
    t = time.perf_counter()
    service.next_token(PROMPT, top_n=1)  # waits in the socket's backlog for the new worker
    restart_s = time.perf_counter() - t
    supervisor_restart_s = service.backend.supervisor_status()["last_restart_s"]

    # -- report ------------------------------------------------------------------------
    raw, raw_best = statistics.median(rates["raw"]), max(rates["raw"])

    def rate_row(name, key):
        med, best = statistics.median(rates[key]), max(rates[key])
        return (name, f"{med:.1f}", f"{med / raw:.2f}", f"{best:.1f}", f"{best / raw_best:.2f}")

    def ms_row(name, values, reference):
        med, best = median_ms(values), min(values) * 1000
        return (name, f"{med:.1f}", f"{med / median_ms(reference):.2f}", f"{best:.1f}",
                f"{best / (min(reference) * 1000):.2f}")

    rows = [
        rate_row("greedy tok/s, raw create_completion", "raw"),
        rate_row("greedy tok/s, service generate (JSON)", "json"),
        rate_row("greedy tok/s, service stream_generate", "stream"),
        ms_row("next token ms, raw eval + logits read", raw_next, raw_next),
        ms_row("next token ms, service next_token(top_n=10)", svc_next, raw_next),
        ("next token ms, same prompt again (memo)", f"{memo_ms:.2f}", "", "", ""),
        ms_row("first token ms, raw create_completion(stream)", raw_ttft, raw_ttft),
        ms_row("first token ms, service stream_generate", svc_ttft, raw_ttft),
        ("per-token prob: softmax pass ms", f"{prob_ms:.2f}", "", "", ""),
        ("next_token softmax+entropy ms", f"{stats_ms:.2f}", "", "", ""),
        ("worker restart: SIGKILL to next answer s", f"{restart_s:.2f}", "", "", ""),
        ("worker restart: death to ready (supervisor) s", f"{supervisor_restart_s:.2f}", "", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"llama-cpp-python {llama_cpp.__version__}, bundled Gemma 3 270M Q4_K_M, n_vocab {n_vocab}, "
          f"n_threads {llm.n_threads} (batch {llm.n_threads_batch}), cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")
    print(f"{args.tokens} greedy tokens from {PROMPT!r}, {args.rounds} rounds (ratios: service through the model "
          f"worker / raw in this process); worker start + model load {load_s:.2f} s")
    print(f"{'measure'.ljust(width)}  {'median':>8}  {'ratio':>6}  {'best':>8}  {'ratio':>6}")
    for name, value, ratio, best, best_ratio in rows:
        print(f"{name.ljust(width)}  {value:>8}  {ratio:>6}  {best:>8}  {best_ratio:>6}")
    print(f"greedy text identical across raw/JSON/stream: {same_text}")
    print(f"total {time.perf_counter() - started:.1f} s")
    service.backend.close()  # the supervisor and its worker leave once nobody is attached
    llm.close()


if __name__ == "__main__":
    main()
