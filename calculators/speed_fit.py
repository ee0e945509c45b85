"""Fit `calculators.speed`'s backend constants to published llama.cpp speeds, and measure
the error on the results held out of the fit.

    .venv/bin/python -m calculators.speed_fit            # constants + error report
    .venv/bin/python -m calculators.speed_fit --cv       # leave-one-hardware-out, fitted part
    .venv/bin/python -m calculators.speed_fit --check --data FILE
                                                         # the shipped constants on FILE, fitting nothing

Evaluation protocol (fixed before the current model's constants were fitted; the data files'
headers state it too):

1. Evidence: tests/calculators/llama_bench_results.yaml, llama_bench_independent.yaml and
   llama_bench_later.yaml, pooled (every row cites its source). The second was collected apart
   from the first as an independent check and first scored without any fitting (README keeps
   that report); the third was collected after the current model was fitted, partly blind,
   and scored once before it was fitted (its header keeps that report).
2. Held out, by hardware: a row is held out when the SHA-256 of its hardware slug, read as an
   integer, is divisible by 3 (`is_held_out`, the rule of the first fit, unchanged), so
   the held-out error is the error on GPUs and Macs the constants never saw. Held-out rows
   are never fitted (a test scrambles them and checks that the fit does not move).
3. Build window: a row dated more than WINDOW_DAYS before the newest row is neither fitted
   nor scored (`in_window`); builds drift. The rule is the only exclusion: no row is left
   out by hand. It was written after the independent check had been scored once, and it
   takes out two of that check's failures (a July 2025 Vulkan build running DeepSeek's
   attention on a kernel its own PR calls untuned, ggml-org/llama.cpp#14509, and an August
   2025 ROCm build on Strix Halo, whose rocBLAS was slower than the RX 7900's,
   ROCm/legacy-rocm-build#4748), so the report also gives the errors on every build.
4. The floors (median |error| ≤ 15 % dense generation, ≤ 25 % MoE generation, ≤ 30 %
   prompt processing, no measurement off by more than 2×) are asserted on the held-out rows
   in the window; the fitted part is cross-validated by leaving one hardware out at a time.

Each backend's constants are fitted by robust least squares on log(predicted / measured)
(see `fit` for how the GPU backends share what they have in common), with a weak pull
towards a physical prior so that a backend with few rows stays sensible. Each row's
generation tests together weigh as much as one test, and its prompt tests likewise, so a
row with many depths does not outweigh the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares

from calculators import speed
from calculators.architecture import Architecture, FieldError
from calculators.gpus import get_accelerator
from calculators.presets import get_preset
from calculators.speed import BackendConstants

EVIDENCE = Path(__file__).resolve().parent.parent / "tests" / "calculators"
DATA = EVIDENCE / "llama_bench_results.yaml"
INDEPENDENT = EVIDENCE / "llama_bench_independent.yaml"
LATER = EVIDENCE / "llama_bench_later.yaml"  # collected after the current model was fitted
DATA_FILES = (DATA, INDEPENDENT, LATER)
WINDOW_DAYS = 365  # rows dated this long before the newest row are neither fitted nor scored
# A measurement is set apart as a toolchain regression (a test's `toolchain_regression`, which
# names the other measurement) only when its own source measured the same llama.cpp build on the
# same machine, model and test at least REGRESSION_FACTOR times as fast under another release of
# the same backend's toolchain (ROCm 6.4.4 against 7.2, say) or another driver of it (Mesa's RADV
# against AMD's AMDVLK under Vulkan): a fault of that release or driver, which no input of the
# estimator describes. The rule reads only the evidence, never a prediction; such measurements
# are neither fitted nor scored with the rest, and the report lists them apart.
REGRESSION_FACTOR = 2.0
# A physical prior: 70 % of the peak bandwidth, 3 µs per kernel launch, 30 % of the peak
# compute in matrix multiplies and in attention; a third of that in attention on the vector
# units (the FP16 peaks quoted are the matrix units', two to eight times the vector rate).
PRIOR = BackendConstants(bandwidth_fraction=0.7, kernel_overhead_us=3.0, compute_fraction=0.3,
                         attention_fraction=0.3, vector_fraction=0.3, blas_fraction=0.3,
                         scalar_fraction=0.1)
FIELDS = tuple(f.name for f in dataclasses.fields(BackendConstants))
PRIOR_WEIGHT = 0.3  # against residuals in natural log units
# How strongly a GPU backend's constants are pulled towards the values fitted on all GPU
# rows together (POOLED: how much of the bandwidth a token gets, and the launch cost, are
# mostly the memory's and the driver's) or towards the prior (the kernels' efficiencies,
# which differ by backend). Chosen by leave-one-hardware-out cross-validation on the fitted
# rows (`--cv`), never on held-out rows.
SHRINK = {"bandwidth_fraction": 1.0, "kernel_overhead_us": 0.3}
POOLED = ("bandwidth_fraction", "kernel_overhead_us")
# constant sets fitted as a vendor's variant of a backend: pulled towards it, and it without rows
VARIANT_OF = {key: backend for key, (backend, _) in speed.CONSTANT_VARIANTS.items()}
ROBUST_SCALE = 0.2  # residuals beyond ±20 % count linearly, not squared (soft L1)
BOUNDS = {"bandwidth_fraction": (0.05, 1.5), "kernel_overhead_us": (0.0, 100.0)}  # the rest: (0.002, 3)
ROUNDING = {"kernel_overhead_us": 2}  # the rest: 3 digits


# constants only some backends have: cuBLAS's on CUDA, the vector-unit shaders' where llama.cpp
# runs them on some GPUs (speed.attention_kernel, speed.vulkan_bf16_matrices); a variant
# (VARIANT_OF) has its backend's
ONLY_ON = {"blas_fraction": (speed.MMQ_BACKEND,), "scalar_fraction": ("rocm", "vulkan")}


def _fitted_fields(key: str | None) -> tuple[str, ...]:
    """The constants fitted for the constant set `key` (None: all GPU rows pooled)."""
    backend = VARIANT_OF.get(key, key)
    return tuple(f for f in FIELDS if backend is None or backend in ONLY_ON.get(f, (backend,)))


def is_held_out(hardware: str) -> bool:
    """The split, fixed before fitting: a third of the hardware, by hash."""
    return int(hashlib.sha256(hardware.encode()).hexdigest(), 16) % 3 == 0


@dataclass(frozen=True)
class Measurement:
    row: str
    source: str
    dataset: str  # the file's stem: llama_bench_results or llama_bench_independent
    date: datetime.date
    hardware: str
    backend: str
    model: str
    quant: str
    kind: str  # "tg" or "pp"
    tokens: int
    depth: int
    n_ubatch: int
    measured: float
    moe: bool
    held_out: bool
    in_window: bool  # within WINDOW_DAYS of the newest row: fitted (unless held out) and scored
    weight: float
    prof: speed.Profile
    hw: speed.Hardware
    # a test's `toolchain_regression`: the evidence shows this measurement slowed by a fault of
    # the toolchain it was built with (REGRESSION_FACTOR); neither fitted nor scored with the rest
    regression: dict | None = None

    @property
    def fitted(self) -> bool:
        return self.in_window and not self.held_out and not self.regression

    def predict(self, constants: dict[str, BackendConstants] | None = None) -> float:
        if self.kind == "tg":
            # llama-bench's tgN averages N tokens generated after `depth`
            return speed.generation(self.prof, self.hw, self.depth + self.tokens // 2, constants).tokens_per_second
        return speed.prompt_processing(self.prof, self.hw, self.depth, self.tokens, self.n_ubatch,
                                       max(2048, self.n_ubatch), constants).tokens_per_second


def parse_test(name: str, n_ubatch: int = 512) -> tuple[str, int, int]:
    """llama-bench test names: "pp512", "tg128 @ d8192". A prompt processed one token at a
    time ("pp1", or any ppN with -ub 1) is a run of generation steps."""
    test, _, depth = name.partition("@")
    test = test.strip()
    depth = int(depth.strip().lstrip("d")) if depth else 0
    kind, tokens = test[:2], test[2:]
    if kind not in ("pp", "tg"):
        raise ValueError(f"unknown test {name!r}")
    n = int(tokens) if tokens else 128
    if kind == "pp" and (n == 1 or n_ubatch == 1):
        return "tg", n, depth
    return kind, n, depth


def row_date(value) -> datetime.date:
    """A row's `date`: a full date, or a month ("2025-08"), read as its first day."""
    if isinstance(value, datetime.date):
        return value
    year, month, *day = (int(part) for part in str(value).split("-"))
    return datetime.date(year, month, day[0] if day else 1)


def _regression(row_id: str, test: dict) -> dict | None:
    """A test's `toolchain_regression`, checked against the rule (REGRESSION_FACTOR)."""
    regression = test.get("toolchain_regression")
    if regression is None:
        return None
    other = regression["compared_with"]
    if not (other["source"].startswith("https://") and other["toolchain"]
            and float(other["tps"]) >= REGRESSION_FACTOR * float(test["tps"])):
        raise ValueError(f"{row_id} {test['test']}: a toolchain regression needs the same build measured "
                         f"at least {REGRESSION_FACTOR}× as fast under another toolchain, with its source")
    return regression


def load(paths=DATA_FILES) -> tuple[list[Measurement], list[tuple[str, str]]]:
    """Every measurement of `paths` (one file or several, pooled) whose model this code base
    can describe, and the rows it skipped (id, why)."""
    paths = (paths,) if isinstance(paths, (str, Path)) else tuple(paths)
    files = [(Path(path), yaml.safe_load(Path(path).read_text())) for path in paths]
    newest = max(row_date(row["date"]) for _, data in files for row in data["rows"])
    window_start = newest - datetime.timedelta(days=WINDOW_DAYS)
    measurements, skipped, profiles = [], [], {}
    for path, data in files:
        configs = data.get("models") or {}
        for row in data["rows"]:
            try:
                if row["model"] in configs:
                    arch = Architecture.from_hf_config(configs[row["model"]]["config"])
                else:
                    arch = get_preset(row["model"]).architecture
            except FieldError as exc:
                skipped.append((row["id"], f"{row['model']}: {exc.message}"))
                continue
            accel = get_accelerator(row["hardware"])
            date = row_date(row["date"])
            hw = speed.Hardware(accel.memory_bandwidth_gbs, accel.compute_tflops, row["backend"], accel.unified,
                                name=accel.name, int8_tops=accel.int8_tops, architecture=accel.architecture,
                                build_date=date)
            n_ubatch = row.get("n_ubatch", 512)
            key = (row["model"], row["quant"], row["backend"] == "cpu", n_ubatch, bool(row.get("flash_attention")))
            if key not in profiles:
                profiles[key] = speed.profile(arch, quant=row["quant"], n_gpu_layers=0 if key[2] else 10**6,
                                              flash_attention=key[4], n_ubatch=n_ubatch, n_batch=max(2048, n_ubatch))
            prof = profiles[key]
            tests = [parse_test(t["test"], n_ubatch) + (float(t["tps"]), _regression(row["id"], t))
                     for t in row["tests"]]
            counts = {kind: sum(1 for t in tests if t[0] == kind) for kind in ("tg", "pp")}
            for kind, tokens, depth, tps, regression in tests:
                measurements.append(Measurement(
                    row=row["id"], source=row["source"], dataset=path.stem, date=date, hardware=row["hardware"],
                    backend=row["backend"], model=row["model"], quant=row["quant"], kind=kind, tokens=tokens,
                    depth=depth, n_ubatch=n_ubatch, measured=tps, moe=prof.is_moe,
                    held_out=is_held_out(row["hardware"]), in_window=date >= window_start,
                    weight=1 / counts[kind], prof=prof, hw=hw, regression=regression))
    return measurements, skipped


def _least_squares(rows: list[Measurement], prior: BackendConstants, pull: dict[str, float],
                   fixed: dict[str, BackendConstants], names: tuple[str, ...]) -> BackendConstants:
    """The constants `names` for `rows`: robust least squares on log(predicted / measured),
    each constant pulled towards `prior` with the weight pull.get(name, PRIOR_WEIGHT)."""
    start = np.array([getattr(prior, name) for name in names])
    weights = np.sqrt([m.weight for m in rows])
    pulls = np.array([pull.get(name, PRIOR_WEIGHT) for name in names])
    offset = np.array([1.0 if name == "kernel_overhead_us" else 0.0 for name in names])  # may be 0: log(1 + µs)
    bounds = tuple(zip(*(BOUNDS.get(name, (0.002, 3.0)) for name in names)))

    def constants(x) -> BackendConstants:
        return BackendConstants(**dict(zip(names, (float(v) for v in x))))

    def residuals(x):
        trial = {**{key: constants(x) for key in speed.CONSTANT_SETS}, **fixed}
        errs = [math.log(m.predict(trial) / m.measured) for m in rows]
        return np.concatenate([weights * errs, pulls * np.log((x + offset) / (start + offset))])

    result = least_squares(residuals, start, bounds=bounds, x_scale=np.maximum(start, 0.1),
                           loss="soft_l1", f_scale=ROBUST_SCALE)
    return BackendConstants(**{name: round(float(v), ROUNDING.get(name, 3)) for name, v in zip(names, result.x)})


def fit(measurements: list[Measurement]) -> dict[str, BackendConstants]:
    """Each backend's constants from the measurements the protocol leaves for fitting.

    The CPU backend is fitted on its own rows. The GPU backends share how much of the
    bandwidth a token gets and the cost of a kernel launch more than they differ, so each
    backend's bandwidth fraction and kernel overhead are pulled towards the values fitted
    on all GPU rows together; the efficiencies of the matrix and attention kernels differ by
    backend and by matrix units (Apple's GPUs have none), so they are only weakly pulled
    towards the physical prior. A backend without rows gets the pooled values. Intel's GPUs
    under Vulkan and AMD's GCN GPUs under ROCm (speed.constants_key) are fitted as variants of
    Vulkan's and ROCm's constants (VARIANT_OF).
    """
    train = [m for m in measurements if m.fitted]
    cpu_fields = _fitted_fields("cpu")
    cpu_rows = [m for m in train if m.backend == "cpu"]
    cpu = (_least_squares(cpu_rows, PRIOR, {}, {}, cpu_fields) if cpu_rows
           else BackendConstants(**{f: getattr(PRIOR, f) for f in cpu_fields}))
    gpu_rows = [m for m in train if m.backend != "cpu"]
    pooled = _least_squares(gpu_rows, PRIOR, {}, {"cpu": cpu}, FIELDS) if gpu_rows else PRIOR
    prior = dataclasses.replace(PRIOR, **{f: getattr(pooled, f) for f in POOLED})
    constants = {"cpu": cpu}
    for key in speed.CONSTANT_SETS:
        if key == "cpu":
            continue
        names = _fitted_fields(key)
        rows = [m for m in gpu_rows if speed.constants_key(m.hw) == key]
        parent = constants.get(VARIANT_OF.get(key))
        # a vendor's variant of a backend is pulled towards that backend's constants, and is
        # that backend's when it has no rows of its own
        start = dataclasses.replace(PRIOR, **{f: getattr(parent, f) for f in names}) if parent else prior
        fallback = parent or BackendConstants(**{f: getattr(pooled, f) for f in names})
        constants[key] = _least_squares(rows, start, SHRINK, {"cpu": cpu}, names) if rows else fallback
    return {key: constants[key] for key in speed.CONSTANT_SETS}


@dataclass(frozen=True)
class Summary:
    count: int
    median_error: float  # median of |predicted / measured - 1|
    worst_error: float
    worst_ratio: float  # max(predicted/measured, measured/predicted)
    worst_row: str
    off_twice: int  # measurements off by more than 2x


def errors(measurements, constants=None) -> list[tuple[Measurement, float]]:
    return [(m, m.predict(constants) / m.measured) for m in measurements]


def summarise(pairs: list[tuple[Measurement, float]]) -> Summary | None:
    if not pairs:
        return None
    abs_err = [abs(r - 1) for _, r in pairs]
    ratios = [max(r, 1 / r) for _, r in pairs]
    worst = max(range(len(pairs)), key=lambda i: ratios[i])
    m = pairs[worst][0]
    return Summary(len(pairs), statistics.median(abs_err), max(abs_err), max(ratios),
                   f"{m.row} {m.kind}{m.tokens}@d{m.depth}", sum(1 for r in ratios if r > 2))


GROUPS = {
    "generation, dense": lambda m: m.kind == "tg" and not m.moe,
    "generation, MoE": lambda m: m.kind == "tg" and m.moe,
    "prompt processing, dense": lambda m: m.kind == "pp" and not m.moe,
    "prompt processing, MoE": lambda m: m.kind == "pp" and m.moe,
    "prompt processing, all": lambda m: m.kind == "pp",
    "all": lambda m: True,
}

# the parts of the evidence the report describes
PARTS = {
    "held out": lambda m: m.held_out and m.in_window and not m.regression,
    "held out, every build": lambda m: m.held_out and not m.regression,
    "toolchain regressions": lambda m: bool(m.regression),
    "fitted": lambda m: m.fitted,
}


def by_group(pairs) -> dict[str, Summary | None]:
    return {name: summarise([(m, r) for m, r in pairs if test(m)]) for name, test in GROUPS.items()}


def report(measurements, constants=None) -> dict[str, dict[str, Summary | None]]:
    """Summaries per group for each part of the evidence (PARTS)."""
    pairs = errors(measurements, constants)
    return {part: by_group([(m, r) for m, r in pairs if test(m)]) for part, test in PARTS.items()}


def held_out_report(measurements, constants=None) -> dict[str, Summary | None]:
    """The protocol's figures: summaries per group on the held-out rows in the build window."""
    return by_group(errors([m for m in measurements if PARTS["held out"](m)], constants))


def check(measurements, constants=None) -> dict[str, Summary | None]:
    """Summaries per group for every measurement, fitting nothing: the shipped constants
    (or `constants`) on a file of evidence, whatever its split."""
    return by_group(errors(measurements, constants))


def cross_validation_errors(measurements) -> list[tuple[Measurement, float]]:
    """Leave one fitted hardware out at a time: each fitted measurement's predicted / measured
    with constants fitted without its hardware (the held-out rows are not touched)."""
    train = [m for m in measurements if m.fitted]
    pairs = []
    for hardware in sorted({m.hardware for m in train}):
        constants = fit([m for m in train if m.hardware != hardware])
        pairs += errors([m for m in train if m.hardware == hardware], constants)
    return pairs


def cross_validate(measurements) -> dict[str, Summary | None]:
    """The error on hardware the fit did not see (for choosing between model variants)."""
    return by_group(cross_validation_errors(measurements))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append",
                        help="a file of evidence (default: the pooled files of the protocol)")
    parser.add_argument("--rows", action="store_true", help="print every measurement's error")
    parser.add_argument("--check", action="store_true",
                        help="only measure the shipped constants on --data, fitting nothing")
    parser.add_argument("--cv", action="store_true",
                        help="only leave-one-hardware-out cross-validation on the fitted rows")
    args = parser.parse_args()
    measurements, skipped = load(args.data or DATA_FILES)
    if args.check:
        for name, s in check(measurements).items():
            print(_line(name, s))
        if args.rows:
            _print_rows(errors(measurements))
        return
    if args.cv:
        pairs = cross_validation_errors(measurements)
        for name, s in by_group(pairs).items():
            print(_line(name, s))
        if args.rows:
            _print_rows(pairs)
        return
    constants = fit(measurements)
    print("CONSTANTS: dict[str, BackendConstants] = {")
    for backend, c in constants.items():
        values = ", ".join([str(getattr(c, f)) for f in FIELDS if f not in ONLY_ON]
                           + [f"{f}={getattr(c, f)}" for f in ONLY_ON if getattr(c, f) is not None])
        print(f'    "{backend}": BackendConstants({values}),')
    print("}")
    held = sorted({m.hardware for m in measurements if m.held_out})
    outside = sorted({m.row for m in measurements if not m.in_window})
    print(f"\n{len(measurements)} measurements; held-out hardware: {', '.join(held)}")
    print(f"outside the build window: {', '.join(outside)}")
    for row, why in skipped:
        print(f"skipped {row}: {why}")
    for part, groups in report(measurements, constants).items():
        print(f"\n{part}:")
        for name, s in groups.items():
            print(_line(name, s))
    if args.rows:
        _print_rows(errors(measurements, constants))


def _print_rows(pairs) -> None:
    for m, r in pairs:
        mark = ("H" if m.held_out else " ") + (" " if m.in_window else "o")
        print(f"{mark} {m.row:52} {m.kind}{m.tokens}@d{m.depth:<6} "
              f"measured {m.measured:9.2f} predicted {m.measured * r:9.2f}  {r - 1:+6.1%}")


def _line(name: str, s: Summary | None) -> str:
    if s is None:
        return f"  {name:26} none"
    return (f"  {name:26} n={s.count:3}  median {s.median_error:6.1%}  worst {s.worst_error:6.1%}"
            f"  (×{s.worst_ratio:.2f}, {s.worst_row}); {s.off_twice} off by >2×")


if __name__ == "__main__":
    main()
