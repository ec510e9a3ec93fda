"""Latency of the onexn delegate against the stock runtime, measured side by side in one process.

The stock runtime is ``ai_edge_litert.interpreter.Interpreter`` with its default delegate (XNNPACK, dense
weights) and ``num_threads=T``. The onexn side is the same model with
``experimental_delegates=[onexn_tf.load_delegate(num_threads=T, ...)]``: the onexn delegate sees the graph
first and XNNPACK still takes the nodes it leaves.

Every variant gets its own interpreter, built and fed the same input once. Timed runs are interleaved:
each round runs every variant once, in an order drawn at random per round (seeded), so that machine
noise (other processes, frequency changes) hits all variants alike. Only ``invoke()`` is timed.
"""

import dataclasses
import gc
import platform
import sys
import time

import numpy as np

from onexn_tf.runtime.delegate import delegate_path, load_delegate, read_report
from onexn_tf.tflite.graph import as_bytes


class DelegateUnavailable(RuntimeError):
    """The onexn delegate library cannot be loaded (not built yet, or built for another machine)."""


def delegate_status():
    """(True, library path) when the onexn delegate can be loaded, else (False, why not)."""
    try:
        path = delegate_path()
    except (ImportError, OSError, RuntimeError, ValueError) as e:
        return False, f"{type(e).__name__}: {e}"
    return True, str(path)


def require_delegate():
    """Raises DelegateUnavailable, saying why, unless the onexn delegate can be loaded."""
    ok, why = delegate_status()
    if not ok:
        raise DelegateUnavailable(f"the onexn delegate library is not available ({why}); build it with "
                                  "`pip install -e .` (scripts/setup.sh)")


_X86 = {"x86_64", "amd64", "i386", "i486", "i586", "i686"}


def emulation(kernel_arch_file="/proc/sys/kernel/arch"):
    """"aarch64 code, x86_64 kernel" (say) when this Python runs under a user-mode emulator, else None.

    qemu-user gives the program the emulated machine in uname() but leaves the kernel's own name for its
    machine (``/proc/sys/kernel/arch``) alone. Times measured there mean nothing. A 32-bit program on a 64-bit
    kernel of the same family is not emulated; a kernel without that file gives None.
    """
    try:
        with open(kernel_arch_file) as f:
            kernel = f.read().strip()
    except OSError:
        return None
    machine = platform.machine()

    def family(arch):
        return "arm" if arch.startswith("arm") or arch == "aarch64" else "x86" if arch in _X86 else arch

    return None if family(kernel) == family(machine) else f"{machine} code, {kernel} kernel"


def check_int(name, value, minimum):
    """Returns value as an int, or raises ValueError unless it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_interpreter(tflite, *, delegate=False, threads=1, **delegate_options):
    """An allocated ``ai_edge_litert`` interpreter: stock (XNNPACK dense), or with the onexn delegate.

    Args:
      tflite: .tflite bytes or path.
      delegate: add ``onexn_tf.load_delegate(num_threads=threads, **delegate_options)`` in front of the
        default delegates.
      threads: ``num_threads`` of the interpreter (XNNPACK) and of the onexn delegate.
    """
    return _build(tflite, delegate, threads, delegate_options)[0]


def _build(tflite, delegate, threads, delegate_options):
    """(allocated interpreter, the onexn delegate object or None)."""
    from ai_edge_litert.interpreter import Interpreter

    data = as_bytes(tflite)
    threads = check_int("threads", threads, 1)
    onexn = None
    if delegate:
        require_delegate()
        onexn = load_delegate(num_threads=threads, **delegate_options)
    elif delegate_options:
        raise ValueError(f"delegate options {sorted(delegate_options)} need delegate=True")
    interpreter = Interpreter(model_content=data, num_threads=threads,
                              experimental_delegates=[onexn] if onexn is not None else None)
    interpreter.allocate_tensors()
    return interpreter, onexn


def random_inputs(interpreter, seed=0):
    """One array per model input: standard normal for float inputs, uniform over the range for integers."""
    rng = np.random.default_rng(seed)
    arrays = []
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        shape = tuple(int(d) for d in detail["shape"])
        if np.issubdtype(dtype, np.floating):
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            arrays.append(rng.integers(max(info.min, -128), min(info.max, 127), shape, endpoint=True).astype(dtype))
        elif dtype == np.bool_:
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        else:
            raise ValueError(f"input {detail['name']!r} has type {dtype}, which random_inputs cannot fill")
    return arrays


def set_inputs(interpreter, arrays):
    """Sets every model input; `arrays` is one array (single-input model) or one per input, in order."""
    details = interpreter.get_input_details()
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, (list, tuple)):
        arrays = [arrays]
    if len(arrays) != len(details):
        raise ValueError(f"the model has {len(details)} input(s), got {len(arrays)} array(s)")
    for detail, array in zip(details, arrays):
        array = np.asarray(array)
        expected = tuple(int(d) for d in detail["shape"])
        if array.shape != expected:
            raise ValueError(f"input {detail['name']!r} has shape {expected}, got an array of shape {array.shape}")
        dtype = np.dtype(detail["dtype"])
        if array.dtype != dtype:
            if not np.can_cast(array.dtype, dtype, casting="same_kind"):
                raise ValueError(f"input {detail['name']!r} is {dtype}, got an array of {array.dtype}")
            array = array.astype(dtype)
        interpreter.set_tensor(detail["index"], array)


def first_output(interpreter):
    """A copy of the model's first output."""
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


def run_once(tflite_bytes_or_path, input_array, delegate, threads=1, **delegate_options):
    """Runs the model once and returns its first output (a numpy array).

    Args:
      tflite_bytes_or_path: the .tflite model.
      input_array: the input (one array, or one per input for a multi-input model), exactly the input's shape.
      delegate: False for the stock runtime (XNNPACK dense), True to add the onexn delegate.
      threads: interpreter and delegate threads.
      **delegate_options: passed to ``onexn_tf.load_delegate`` (e.g. ``kernel="scalar"``).
    """
    interpreter = make_interpreter(tflite_bytes_or_path, delegate=delegate, threads=threads, **delegate_options)
    set_inputs(interpreter, input_array)
    interpreter.invoke()
    return first_output(interpreter)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One side of a measurement: a model and how to run it."""

    name: str
    tflite: bytes
    delegate: bool = False
    options: dict = dataclasses.field(default_factory=dict)
    threads: int = None  # None: measure's thread count


@dataclasses.dataclass(frozen=True)
class Timing:
    """Latencies of one variant in milliseconds, in the order they were measured."""

    samples_ms: tuple

    @property
    def median_ms(self):
        return float(np.median(self.samples_ms))

    @property
    def min_ms(self):
        return float(np.min(self.samples_ms))

    @property
    def p10_ms(self):
        return float(np.percentile(self.samples_ms, 10))

    @property
    def p90_ms(self):
        return float(np.percentile(self.samples_ms, 90))


@dataclasses.dataclass
class Measurement:
    """Result of ``measure``: per variant name its timing, first output and (onexn variants) the
    delegate's report (``onexn_tf.runtime.delegate.read_report``); and the order the runs happened in."""

    timings: dict
    outputs: dict
    order: list  # variant names, in execution order (warmup included)
    reports: dict = dataclasses.field(default_factory=dict)


def interleaved_schedule(num_variants, rounds, seed=0):
    """`rounds` lists, each a random permutation of range(num_variants): round r runs the variants in that order."""
    num_variants = check_int("num_variants", num_variants, 1)
    rounds = check_int("rounds", rounds, 0)
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.permutation(num_variants)] for _ in range(rounds)]


# With interval_ms, each variant's turn in a round: this many invokes, the first untimed (see measure).
PERIODIC_BLOCK = 5


def check_interval(interval_ms):
    """interval_ms as a float >= 0 and finite, or ValueError."""
    try:
        value = float(interval_ms)
    except (TypeError, ValueError):
        raise ValueError(f"interval_ms must be a number of milliseconds, got {interval_ms!r}") from None
    if not 0 <= value < float("inf"):
        raise ValueError(f"interval_ms must be >= 0 and finite, got {interval_ms!r}")
    return value


def measure(variants, *, threads=1, runs=50, warmup=10, seed=0, inputs=None, progress=False, desc=None,
            build=None, interval_ms=0.0, turn=None):
    """Times several variants of a model, interleaved; see the module docstring.

    Args:
      variants: list of ``Variant`` with distinct names; all must take the same inputs.
      threads: threads for every interpreter (and the onexn delegate) whose Variant does not set its own.
      runs: timed runs per variant; warmup: untimed runs per variant before them (also interleaved).
      seed: seeds the random input and the run order.
      inputs: the input array(s); default random (``random_inputs``).
      progress: tqdm progress bar on stderr.
      build: ``build(variant, threads) -> (interpreter, delegate or None)``; default builds an
        ``ai_edge_litert`` interpreter (tests pass a fake one to check the run order).
      interval_ms: idle time before every invoke (warm-up included), as an application that runs the model
        periodically leaves it: each runtime's worker threads have that long to go to sleep. 0: back to back.
        Above 0 the variants take turns in blocks of PERIODIC_BLOCK invokes, the first of each untimed: an
        application runs one runtime, and a runtime whose threads still spin from its last turn (XNNPACK's
        spin for milliseconds) would otherwise take the cores from the next variant's first invoke.
      turn: invokes per variant's turn in a round, the first of each untimed when above 1 (default 1 back to
        back, PERIODIC_BLOCK with an interval). Turns of several invokes measure each runtime as a program that
        runs only it sees it, after its own invokes: in one process the variants' interleaved invokes evict
        each other's weights from the caches and leave their idle threads spinning.
    Returns:
      a ``Measurement``.
    """
    variants = list(variants)
    if not variants or not all(isinstance(v, Variant) for v in variants):
        raise ValueError("variants must be a non-empty list of onexn_tf.runtime.bench.Variant")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be distinct, got {names}")
    threads = check_int("threads", threads, 1)
    for v in variants:
        if v.threads is not None:
            check_int(f"variant {v.name!r} threads", v.threads, 1)
    runs = check_int("runs", runs, 1)
    warmup = check_int("warmup", warmup, 0)
    interval_ms = check_interval(interval_ms)
    turn = check_int("turn", turn, 1) if turn is not None else PERIODIC_BLOCK if interval_ms else 1
    if build is None:
        def build(v, threads):
            return _build(v.tflite, v.delegate, threads, v.options)

    built = [build(v, v.threads if v.threads is not None else threads) for v in variants]
    interpreters = [interpreter for interpreter, _ in built]
    reports = {}
    for v, (_, delegate) in zip(variants, built):
        if delegate is not None:
            reports[v.name] = read_report(delegate)
    if inputs is None:
        inputs = random_inputs(interpreters[0], seed)
    for interpreter in interpreters:
        set_inputs(interpreter, inputs)

    timed = turn - 1 if turn > 1 else 1  # timed invokes per turn
    warm_rounds = -(-warmup // timed)
    schedule = interleaved_schedule(len(variants), warm_rounds + -(-runs // timed), seed)
    samples = [[] for _ in variants]
    order = []
    bar = progress_bar(len(schedule) * len(variants) * turn, progress, desc)
    was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed invoke would land on one variant only
    try:
        for r, round_order in enumerate(schedule):
            for i in round_order:
                invoke = interpreters[i].invoke
                for j in range(turn):
                    if interval_ms:
                        time.sleep(interval_ms / 1e3)
                    start = time.perf_counter_ns()
                    invoke()
                    elapsed = time.perf_counter_ns() - start
                    if r >= warm_rounds and (turn == 1 or j > 0) and len(samples[i]) < runs:
                        samples[i].append(elapsed / 1e6)
                    order.append(names[i])
            bar.update(len(round_order) * turn)
    finally:
        if was_enabled:
            gc.enable()
        bar.close()
    outputs = {v.name: first_output(interp) for v, interp in zip(variants, interpreters)}
    timings = {v.name: Timing(tuple(s)) for v, s in zip(variants, samples)}
    return Measurement(timings=timings, outputs=outputs, order=order, reports=reports)


def progress_bar(total, enabled, desc, unit="run"):
    """A tqdm bar on stderr (a no-op bar when not `enabled`)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc or "bench", unit=unit, file=sys.stderr, disable=not enabled,
                leave=False, dynamic_ncols=True)


@dataclasses.dataclass
class BenchResult:
    """Stock runtime (XNNPACK dense) vs onexn delegate, one interleaved measurement.

    ``baseline_ms`` / ``onexn_ms`` are medians; ``ratio = onexn_ms / baseline_ms`` (below 1: onexn is
    faster). ``*_p10_ms`` / ``*_p90_ms`` give the spread. ``max_abs_diff`` is the largest difference
    between the two sides' first outputs on the benchmark input, ``max_rel_diff`` the same divided by the
    largest stock output magnitude. ``claimed`` is how many nodes the delegate took and ``isa`` its
    kernel family.
    """

    baseline_ms: float
    onexn_ms: float
    ratio: float
    baseline_min_ms: float
    onexn_min_ms: float
    baseline_p10_ms: float
    baseline_p90_ms: float
    onexn_p10_ms: float
    onexn_p90_ms: float
    threads: int
    runs: int
    warmup: int
    interval_ms: float
    max_abs_diff: float
    max_rel_diff: float
    claimed: int
    isa: str

    def as_dict(self):
        return dataclasses.asdict(self)


def result_from(measurement, *, threads, runs, warmup, claimed, isa, baseline="baseline", onexn="onexn",
                interval_ms=0.0):
    """Builds a BenchResult from a Measurement holding a stock and an onexn variant."""
    b, o = measurement.timings[baseline], measurement.timings[onexn]
    diff = np.abs(measurement.outputs[onexn].astype(np.float64) - measurement.outputs[baseline])
    scale = float(np.abs(measurement.outputs[baseline]).max()) if diff.size else 0.0
    return BenchResult(
        baseline_ms=b.median_ms, onexn_ms=o.median_ms, ratio=o.median_ms / b.median_ms,
        baseline_min_ms=b.min_ms, onexn_min_ms=o.min_ms,
        baseline_p10_ms=b.p10_ms, baseline_p90_ms=b.p90_ms, onexn_p10_ms=o.p10_ms, onexn_p90_ms=o.p90_ms,
        threads=threads, runs=runs, warmup=warmup, interval_ms=float(interval_ms),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        max_rel_diff=float(diff.max()) / scale if scale > 0 else 0.0, claimed=int(claimed), isa=str(isa))


def delegate_summary(tflite, threads=1, **delegate_options):
    """The onexn delegate's report for this model: a dict (see ``onexn_tf.runtime.delegate.read_report``)."""
    interpreter, delegate = _build(tflite, True, threads, delegate_options)
    report = read_report(delegate)  # while the interpreter that the delegate prepared is alive
    del interpreter
    return report


def compare(tflite_bytes_or_path, threads=1, runs=50, warmup=10, progress=True, seed=0, interval_ms=0.0,
            **delegate_options):
    """Stock runtime (XNNPACK dense) vs the same model with the onexn delegate, interleaved, same input.

    Args:
      tflite_bytes_or_path: the .tflite model (with onexn metadata, or the delegate claims nothing).
      threads: ``num_threads`` for both sides.
      runs: timed runs per side; warmup: untimed runs per side first.
      progress: tqdm bar on stderr.
      seed: seeds the random input and the run order.
      interval_ms: idle time before every invoke (see ``measure``); 0: back to back.
      **delegate_options: passed to ``onexn_tf.load_delegate`` (e.g. ``kernel="avx2"``).
    Returns:
      a ``BenchResult``. Raises DelegateUnavailable when the delegate library is missing.
    """
    data = as_bytes(tflite_bytes_or_path)
    threads = check_int("threads", threads, 1)
    runs = check_int("runs", runs, 1)
    warmup = check_int("warmup", warmup, 0)
    interval_ms = check_interval(interval_ms)
    require_delegate()
    variants = [Variant("baseline", data), Variant("onexn", data, True, dict(delegate_options))]
    m = measure(variants, threads=threads, runs=runs, warmup=warmup, seed=seed, progress=progress,
                desc="stock vs onexn", interval_ms=interval_ms)
    report = m.reports["onexn"]
    return result_from(m, threads=threads, runs=runs, warmup=warmup, claimed=report.get("claimed", 0),
                       isa=report.get("isa", "?"), interval_ms=interval_ms)
