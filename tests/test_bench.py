"""onexn_tf.runtime.bench and `onexn bench`: interleaving, result fields, the --json line, errors. No timing asserts."""

import json

import numpy as np
import pytest

import onexn_tf
from onexn_tf import cli
from onexn_tf.runtime import bench

DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()
needs_delegate = pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")


class FakeInterpreter:
    """Records every invoke() into a shared log; enough of the Interpreter API for bench.measure."""

    def __init__(self, name, log):
        self.name, self.log, self.inputs = name, log, {}

    def get_input_details(self):
        return [{"name": "x", "index": 0, "shape": np.array([1, 3]), "dtype": np.float32}]

    def get_output_details(self):
        return [{"index": 1}]

    def set_tensor(self, index, value):
        self.inputs[index] = value

    def get_tensor(self, index):
        return self.inputs[0] * 2

    def invoke(self):
        self.log.append(self.name)


def fake_measure(names, runs, warmup, seed=0):
    log = []
    variants = [bench.Variant(n, b"") for n in names]
    m = bench.measure(variants, runs=runs, warmup=warmup, seed=seed,
                      build=lambda v, threads: (FakeInterpreter(v.name, log), None))
    return m, log


def test_schedule_rounds_are_permutations_and_seeded():
    rounds = bench.interleaved_schedule(3, 40, seed=5)
    assert len(rounds) == 40 and all(sorted(r) == [0, 1, 2] for r in rounds)
    assert rounds == bench.interleaved_schedule(3, 40, seed=5)
    assert rounds != bench.interleaved_schedule(3, 40, seed=6)
    assert len({tuple(r) for r in rounds}) > 1  # the order really changes between rounds
    assert bench.interleaved_schedule(2, 0) == []


def test_measure_interleaves_every_round_and_counts_runs():
    m, log = fake_measure(["a", "b", "c"], runs=7, warmup=2)
    assert log == m.order and len(log) == 3 * (7 + 2)
    for r in range(9):  # each consecutive group of 3 invokes is one round: every variant exactly once
        assert sorted(log[3 * r:3 * r + 3]) == ["a", "b", "c"]
    assert all(len(t.samples_ms) == 7 for t in m.timings.values())
    t = m.timings["a"]
    assert t.min_ms <= t.p10_ms <= t.median_ms <= t.p90_ms
    assert m.outputs["a"].shape == (1, 3)
    np.testing.assert_array_equal(m.outputs["a"], m.outputs["c"])  # every variant was fed the same input
    assert m.reports == {}


def test_measure_sleeps_the_interval_before_every_invoke(monkeypatch):
    """interval_ms: each invoke (warm-up included) comes after that much idle time, as in a periodic workload;
    0 never sleeps."""
    events = []
    monkeypatch.setattr(bench.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    variants = [bench.Variant(n, b"") for n in ("a", "b")]
    log = _LoggedInvokes(events)
    m = bench.measure(variants, runs=6, warmup=1, interval_ms=5,
                      build=lambda v, t: (FakeInterpreter(v.name, log), None))
    # Turns of PERIODIC_BLOCK invokes (the first untimed), each after a sleep: 1 warm-up round, then 2 timed.
    block = bench.PERIODIC_BLOCK
    assert block > 1 and len(events) == 2 * 2 * block * 3
    assert events[0::2] == [("sleep", 0.005)] * (2 * block * 3) and all(e[0] == "invoke" for e in events[1::2])
    turns = [m.order[k:k + block] for k in range(0, len(m.order), block)]
    assert all(len(set(turn)) == 1 for turn in turns) and len(turns) == 6
    assert all(len(t.samples_ms) == 6 for t in m.timings.values())  # 2 timed rounds x (block - 1) >= 6, cut
    events.clear()
    bench.measure(variants, runs=3, warmup=1, build=lambda v, t: (FakeInterpreter(v.name, log), None))
    assert [e[0] for e in events] == ["invoke"] * 8


def test_measure_in_turns_times_all_but_each_turns_first_invoke(monkeypatch):
    """turn=4: each variant runs 4 invokes in a row, the first untimed (it pays for the caches the other
    variants left: 1000 ms here, the others 1 ms); a Variant's own thread count wins over measure's."""
    clock = [0]
    monkeypatch.setattr(bench.time, "perf_counter_ns", lambda: clock[0])
    log, built = [], {}

    class Timed(FakeInterpreter):
        def invoke(self):
            clock[0] += 10**9 if not log or log[-1] != self.name else 10**6
            super().invoke()

    def build(v, threads):
        built[v.name] = threads
        return Timed(v.name, log), None

    variants = [bench.Variant("a", b"", threads=1), bench.Variant("b", b"", threads=2), bench.Variant("c", b"")]
    m = bench.measure(variants, threads=3, runs=5, warmup=3, turn=4, build=build)
    assert built == {"a": 1, "b": 2, "c": 3}
    turns = [m.order[k:k + 4] for k in range(0, len(m.order), 4)]
    assert all(len(set(turn)) == 1 for turn in turns) and len(turns) == 3 * (1 + 2)  # 3 warm-up, 5 timed: cut
    assert all(t.samples_ms == (1.0,) * 5 for t in m.timings.values())
    with pytest.raises(ValueError, match="turn"):
        bench.measure(variants, turn=0, build=build)
    with pytest.raises(ValueError, match="'a' threads"):
        bench.measure([bench.Variant("a", b"", threads=0)], build=build)


class _LoggedInvokes(list):
    """A FakeInterpreter log that records each invoke into a shared event list."""

    def __init__(self, events):
        super().__init__()
        self.events = events

    def append(self, name):
        self.events.append(("invoke", name))
        super().append(name)


@pytest.mark.parametrize("kwargs, message", [
    (dict(runs=0), "runs"), (dict(warmup=-1), "warmup"), (dict(threads=0), "threads"),
    (dict(threads=True), "threads"), (dict(runs=2.5), "runs"), (dict(interval_ms=-1), "interval_ms"),
    (dict(interval_ms=float("nan")), "interval_ms"), (dict(interval_ms="soon"), "interval_ms")])
def test_measure_rejects_bad_numbers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bench.measure([bench.Variant("a", b"")], build=lambda v, t: (FakeInterpreter("a", []), None), **kwargs)


def test_measure_rejects_bad_variants():
    with pytest.raises(ValueError, match="distinct"):
        fake_measure(["a", "a"], runs=1, warmup=0)
    with pytest.raises(ValueError, match="non-empty"):
        bench.measure([])


def test_run_once_stock_matches_keras_and_checks_input(varied):
    x = varied["x"][:1]
    got = bench.run_once(varied["plain"], x, delegate=False)
    np.testing.assert_allclose(got, varied["model"](x).numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        bench.run_once(varied["plain"], varied["x"], delegate=False)  # batch 2, the model takes 1
    with pytest.raises(ValueError, match="input"):
        bench.run_once(varied["plain"], [x, x], delegate=False)
    with pytest.raises(ValueError, match="complex64"):
        bench.run_once(varied["plain"], x.astype(np.complex64), delegate=False)
    with pytest.raises(ValueError, match="delegate=True"):
        bench.make_interpreter(varied["plain"], delegate=False, kernel="auto")


@needs_delegate
def test_run_once_with_delegate_matches_stock(varied):
    x = varied["x"][:1]
    stock = bench.run_once(varied["plain"], x, delegate=False)
    np.testing.assert_allclose(bench.run_once(varied["plain"], x, delegate=True, threads=2), stock,
                               rtol=1e-4, atol=1e-4)


@needs_delegate
def test_compare_fields_are_consistent(varied):
    r = bench.compare(varied["plain"], threads=2, runs=6, warmup=1, progress=False, dense="never")
    assert r.threads == 2 and r.runs == 6 and r.warmup == 1
    assert r.ratio == pytest.approx(r.onexn_ms / r.baseline_ms)
    assert r.baseline_min_ms <= r.baseline_p10_ms <= r.baseline_ms <= r.baseline_p90_ms
    assert r.onexn_min_ms <= r.onexn_p10_ms <= r.onexn_ms <= r.onexn_p90_ms
    report = onexn_tf.delegate_report(varied["plain"], dense="never")
    assert r.claimed == report["claimed"] > 0 and r.isa == report["isa"]
    assert r.max_abs_diff < 1e-3 and 0 <= r.max_rel_diff < 1e-4
    d = r.as_dict()
    assert {"baseline_ms", "onexn_ms", "ratio", "threads", "runs"} <= set(d) and d["ratio"] == r.ratio


@needs_delegate
def test_compare_rejects_bad_args(varied):
    with pytest.raises(ValueError, match="threads"):
        bench.compare(varied["plain"], threads=0, progress=False)
    with pytest.raises(ValueError, match="runs"):
        bench.compare(varied["plain"], runs=0, progress=False)
    with pytest.raises(ValueError):
        bench.compare(varied["plain"], runs=2, warmup=0, progress=False, kernel="no-such-isa")


def _write(tmp_path, data):
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    return str(path)


@needs_delegate
def test_cli_json_is_one_line_with_the_schema(varied, tmp_path, capsys):
    path = _write(tmp_path, varied["plain"])
    assert cli.main(["bench", path, "--threads", "2", "--runs", "4", "--warmup", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["threads"] == 2 and data["runs"] == 4 and data["model"] == path
    assert data["ratio"] == pytest.approx(data["onexn_ms"] / data["baseline_ms"])
    assert data["emulated"] is None  # this machine runs its own code; tests/test_aarch64.py has the other case
    assert "%|" not in err  # no progress bar with --json


@needs_delegate
def test_cli_interval_runs_the_sides_apart_and_says_so(varied, tmp_path, capsys):
    path = _write(tmp_path, varied["plain"])
    assert cli.main(["bench", path, "--runs", "3", "--warmup", "1", "--interval-ms", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip())
    assert data["interval_ms"] == 2 and data["max_rel_diff"] < 1e-5
    assert cli.main(["bench", path, "--runs", "3", "--warmup", "1", "--interval-ms", "2"]) == 0
    assert "each 2 ms after the last" in capsys.readouterr().out


@needs_delegate
def test_cli_per_op_lists_claimed_and_kept_nodes(varied, tmp_path, capsys):
    path = _write(tmp_path, varied["plain"])
    # dense never: the kept blocks, so the 1xN nodes of this small model are not handed back (cost model).
    assert cli.main(["bench", path, "--runs", "3", "--warmup", "0", "--per-op", "--json", "--dense", "never"]) == 0
    data = json.loads(capsys.readouterr().out)
    ops = data["per_op"]["ops"]
    claimed = [o for o in ops if o["claimed"]]  # 1xN nodes, dense layers and glue operators
    one_by_n = [o for o in claimed if not o["glue"] and not o["dense"]]
    assert len(one_by_n) == data["claimed"] > 0
    assert all(o["n"] >= 1 for o in one_by_n)
    assert all(o["onexn_ms"] > 0 and o["kernel"] for o in claimed)
    assert all(o["onexn_ms"] is None for o in ops if not o["claimed"])
    totals = data["per_op"]["totals"]
    assert totals["claimed_stock_ms"] == pytest.approx(sum(o["stock_ms"] for o in claimed))
    assert totals["kept_nodes"] == len(ops) - len(claimed)
    assert cli.main(["bench", path, "--runs", "3", "--warmup", "0", "--per-op", "--dense", "never"]) == 0
    assert "claimed by onexn" in capsys.readouterr().out


@needs_delegate
def test_cli_amx_asks_the_delegate_for_the_tiles(varied, tmp_path, capsys):
    """--amx passes amx=1: refused with the delegate's reason on a CPU without AMX-INT8 tiles."""
    path = _write(tmp_path, varied["plain"])
    rc = cli.main(["bench", path, "--runs", "2", "--warmup", "0", "--json", "--amx"])
    out, err = capsys.readouterr()
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    if {"amx_int8", "amx_tile", "avx512_vnni", "avx512vbmi"} <= set(flags):
        assert rc == 0 and json.loads(out)["claimed"] > 0
    else:
        assert rc == 2 and "amx=1 needs AMX-INT8 tiles" in err


@pytest.mark.parametrize("machine, kernel, expected", [
    ("aarch64", "x86_64", "aarch64 code, x86_64 kernel"),  # qemu-user on a PC
    ("x86_64", "aarch64", "x86_64 code, aarch64 kernel"),
    ("x86_64", "x86_64", None),
    ("i686", "x86_64", None),  # 32-bit programs on a 64-bit kernel run natively
    ("armv7l", "aarch64", None),
])
def test_emulation_compares_the_program_with_the_kernel(tmp_path, monkeypatch, machine, kernel, expected):
    arch = tmp_path / "arch"
    arch.write_text(kernel + "\n")
    monkeypatch.setattr(bench.platform, "machine", lambda: machine)
    assert bench.emulation(str(arch)) == expected
    assert bench.emulation(str(tmp_path / "missing")) is None  # older kernels: no claim either way


@pytest.mark.parametrize("extra, message", [
    (["--threads", "0"], "--threads"), (["--runs", "0"], "--runs"), (["--warmup", "-1"], "--warmup"),
    (["--interval-ms", "-2"], "--interval-ms"), (["--interval-ms", "inf"], "--interval-ms")])
def test_cli_bad_numbers(varied, tmp_path, capsys, extra, message):
    path = _write(tmp_path, varied["plain"])
    assert cli.main(["bench", path] + extra) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_or_bad_file(tmp_path, capsys):
    assert cli.main(["bench", str(tmp_path / "nope.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    assert cli.main(["bench", str(bad), "--json"]) == 2
    assert "TFL3" in capsys.readouterr().err


def test_without_delegate_library_stock_side_only(varied, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ONEXN_DELEGATE_PATH", str(tmp_path / "missing.so"))
    assert not bench.delegate_status()[0]
    with pytest.raises(bench.DelegateUnavailable, match="not available"):
        bench.compare(varied["plain"], runs=1, progress=False)
    path = _write(tmp_path, varied["plain"])
    assert cli.main(["bench", path, "--runs", "2", "--warmup", "0", "--json"]) == 1
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["baseline_ms"] > 0 and data["onexn_ms"] is None and data["ratio"] is None
    assert "skipped" in err
