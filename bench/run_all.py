"""Run every benchmark in bench/ and print their figures (each also saves bench/results/*.json).

    make bench          # or: .venv/bin/python bench/run_all.py [--quick]

--quick uses fewer repetitions, only 10,000 synthetic notes and 2,000 load-test requests.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script, *args):
    print(f"\n=== {script} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / script), *args], check=True, cwd=HERE.parent)
    print(f"=== {script}: {time.perf_counter() - started:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    run("bench_site.py", "--repeat", "60" if args.quick else "200")
    run("bench_search_quality.py")
    run("bench_live.py", *(["--rounds", "3"] if args.quick else []))
    run("bench_uploads.py", "--repeat", "3" if args.quick else "10")
    run("bench_speed.py", *(["--rounds", "2"] if args.quick else []))
    run("bench_search_scale.py", "--sizes", *(["10000"] if args.quick else ["10000", "100000"]))
    run("load_test.py", "--requests", "2000" if args.quick else "10000")


if __name__ == "__main__":
    main()
