"""Loading the onexn delegate: library path, options and their errors, the report before any graph."""

import os
import platform
import re
from pathlib import Path

import pytest

import onexn_tf
from onexn_tf.runtime import delegate as onexn_delegate
from onexn_tf.runtime.delegate import delegate_path, load_delegate, read_report

from test_delegate_models import assert_close, conv_model, fc_model, random_inputs, run

ROOT = Path(__file__).resolve().parents[1]


def test_delegate_path_is_the_installed_library():
    path = Path(delegate_path())
    assert path.is_file() and path.name == "libonexn_delegate.so"
    assert path.parent == Path(onexn_tf.__file__).resolve().parent  # where setup.py builds it


def test_public_names():
    assert onexn_tf.delegate_path is delegate_path
    assert onexn_tf.load_delegate is load_delegate
    assert onexn_tf.delegate_report is onexn_delegate.delegate_report


def test_env_var_overrides_the_path(monkeypatch, tmp_path):
    copy = tmp_path / "libcopy.so"
    copy.write_bytes(Path(delegate_path()).read_bytes())
    monkeypatch.setenv("ONEXN_DELEGATE_PATH", str(copy))
    assert delegate_path() == str(copy)
    monkeypatch.setenv("ONEXN_DELEGATE_PATH", str(tmp_path / "missing.so"))
    with pytest.raises(FileNotFoundError, match="ONEXN_DELEGATE_PATH.*pip install"):
        delegate_path()
    with pytest.raises(FileNotFoundError):
        load_delegate()


def test_missing_library_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.delenv("ONEXN_DELEGATE_PATH", raising=False)
    monkeypatch.setattr(onexn_delegate, "__file__", str(tmp_path / "runtime" / "delegate.py"))
    with pytest.raises(FileNotFoundError, match="not built.*pip install -e"):
        delegate_path()


BAD_OPTIONS = {
    "num_threads_negative": (dict(num_threads=-3), "num_threads='-3'"),
    "num_threads_text": (dict(num_threads="abc"), "num_threads='abc'"),
    "num_threads_empty": (dict(num_threads=""), "num_threads=''"),
    "num_threads_float": (dict(num_threads=1.5), "num_threads='1.5'"),
    "num_threads_huge": (dict(num_threads=100000), "num_threads='100000'"),
    "kernel_unknown": (dict(kernel="sse9"), "kernel='sse9' is unknown"),
    "kernel_case": (dict(kernel="AVX2"), "kernel='AVX2' is unknown"),
    "verbose_two": (dict(verbose=2), "verbose='2' must be 0 or 1"),
    "unknown_key": (dict(threads=2), "unknown option 'threads'"),
    "dense_unknown": (dict(dense="sometimes"), "dense='sometimes' must be auto, never or always"),
    "amx_two": (dict(amx=2), "amx='2' must be 0 or 1"),
    "channel_slices_two": (dict(channel_slices=2), "channel_slices='2' must be 0 or 1"),
    "pipeline_two": (dict(pipeline=2), "pipeline='2' must be 0 or 1"),
    # A test hook of the testing library only (tests/test_abi.py checks its values there).
    "abi_probe": (dict(abi_probe=1), "unknown option 'abi_probe'"),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_bad_option_raises_a_clear_value_error(case):
    options, message = BAD_OPTIONS[case]
    with pytest.raises(ValueError, match=f"onexn delegate: .*{message}".replace("(", r"\(")):
        load_delegate(**options)


def test_kernel_for_another_architecture_is_an_error():
    foreign = "neon" if platform.machine().lower() in ("x86_64", "amd64") else "avx2"
    with pytest.raises(ValueError, match=f"kernel='{foreign}' is not supported on this CPU"):
        load_delegate(kernel=foreign)


@pytest.mark.parametrize("value", [1, "1", True, 0, False, "true", "false"])
def test_verbose_values(value):
    load_delegate(verbose=value)


def test_options_reach_the_report_before_any_graph():
    delegate = load_delegate(kernel="scalar", num_threads=3)
    report = read_report(delegate)
    assert report["prepared"] is False and report["claimed"] == 0 and report["isa"] == "scalar"


@pytest.mark.parametrize("value,interpreter_threads,expected", [
    (3, None, 3),     # explicit
    (1, 2, 1),        # explicit beats the interpreter
    (-1, 2, 2),       # -1: follow the interpreter
    (0, 2, 2),        # 0: follow the interpreter
    (None, None, 1),  # unset, interpreter unset: 1
])
def test_num_threads_resolution(value, interpreter_threads, expected):
    tflite = conv_model(n=4)
    inputs = random_inputs(tflite)
    # The kept blocks: at several threads the cost model may leave this small graph to the stock runtime.
    delegate = load_delegate(num_threads=value, dense="never")
    got = run(tflite, inputs, [delegate], num_threads=interpreter_threads)
    report = read_report(delegate)
    assert report["num_threads"] == expected and report["claimed"] == 1
    assert_close(got, run(tflite, inputs))


def test_read_report_needs_a_native_delegate():
    class Empty:
        def _get_native_delegate_pointer(self):
            return None

    with pytest.raises(ValueError, match="no native delegate"):
        read_report(Empty())


def _bazel_library():
    library = ROOT / "bazel-bin" / "tflite_delegate" / "libonexn_delegate.so"
    if not library.is_file():
        return None, "not built with Bazel (bazel build //tflite_delegate:libonexn_delegate.so)"
    return library, ""


def test_bazel_built_library_works_the_same(monkeypatch):
    # Runs only after `bazel build //tflite_delegate:libonexn_delegate.so` (the CI does it first).
    library, why = _bazel_library()
    if library is None:
        pytest.skip(why)
    monkeypatch.setenv("ONEXN_DELEGATE_PATH", str(library))
    tflite = conv_model(n=8, k=(3, 3), stride=(2, 2))
    inputs = random_inputs(tflite)
    delegate = load_delegate(dense="never")  # the kept blocks: this small graph saves too little by default
    got = run(tflite, inputs, [delegate])
    assert read_report(delegate)["claimed"] == 1
    assert_close(got, run(tflite, inputs))
    assert os.path.samefile(delegate_path(), library)


@pytest.mark.parametrize("case", ["1x1", "3x3_stride2", "fc"])
def test_dense_option_runs_every_block_with_the_same_outputs(case):
    """dense=always runs the kept blocks' convolution over every block (the zeros multiplied), dense=never the
    kept blocks only; auto takes what the cost model says is faster and says why when that is every block."""
    tflite = {"1x1": lambda: conv_model(k=(1, 1), n=1, cin=32, cout=48, size=(12, 12)),
              "3x3_stride2": lambda: conv_model(k=(3, 3), stride=(2, 2), n=2, size=(13, 13)),
              "fc": lambda: fc_model(input_shape=(3, 40), n=1, cout=24)}[case]()
    inputs = random_inputs(tflite)
    want = run(tflite, inputs)
    blocks = {}
    for dense in ("never", "always", "auto"):
        delegate = load_delegate(dense=dense)
        assert_close(run(tflite, inputs, [delegate]), want)
        report = read_report(delegate)
        if dense == "auto" and not report["kernels"]:  # every block is faster, so the graph has nothing to gain
            (declined,) = report["declined"]
            assert declined["reason"].startswith(TOO_LITTLE_TO_GAIN), declined
            continue
        (entry,) = report["kernels"]
        blocks[dense] = entry.get("blocks", "kept")
        if dense == "always":
            assert entry["why"] == "option dense=always"
        elif blocks[dense] == "all":
            assert entry["why"].startswith("faster than the kept 1x"), entry
    assert blocks["never"] == "kept" and blocks["always"] == "all"


TOO_LITTLE_TO_GAIN = "the 1xN nodes of the graph gain too little"


def test_a_graph_with_nothing_to_gain_is_left_to_the_stock_runtime():
    # 1x1 blocks leave no vector of output channels to share an input: at 50% sparsity the pixel-vector
    # kernels that serve them are slower than running every block. Run densely, the graph would go about as
    # fast as on the stock runtime, never with a margin: the delegate leaves it there and says why.
    tflite = conv_model(k=(1, 1), n=1, cin=64, cout=96, size=(28, 28))
    inputs = random_inputs(tflite)
    report = read_report_of(tflite)
    handed_back = not report["claimed"]
    if report["claimed"] or report["isa"] not in ("avx512", "avx2"):
        # The cost model is fitted for AVX-512 and AVX2; scalar has no estimates and NEON's coefficients are
        # set by hand (no Arm machine here), so there the kept blocks may be taken.
        assert report["isa"] not in ("avx512", "avx2"), report
    else:
        assert report["partitions"] == 0, report
        (declined,) = report["declined"]
        assert declined["reason"].startswith(TOO_LITTLE_TO_GAIN) and "dense=always or glue=all" in declined["reason"]
    for options in ({"dense": "always"}, {"glue": "all"}):  # asked for: taken anyway, every block run
        delegate = load_delegate(**options)
        assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
        (entry,) = read_report(delegate)["kernels"]
        # Forced, or the fitted cost model's choice (NEON's may keep the blocks and hand the graph back for
        # saving 32% or less).
        if "dense" in options or (handed_back and report["isa"] in ("avx512", "avx2")):
            assert entry["blocks"] == "all", entry


@pytest.mark.parametrize("threads", [1, 2])
def test_one_node_that_gains_keeps_the_graph(threads):
    # N=16 at 75%: the kept blocks win by far, so the graph is claimed at one thread and at two.
    report = read_report_of(conv_model(k=(1, 1), n=16, cin=64, cout=96, size=(28, 28), keep=0.25), threads)
    assert report["claimed"] == 1 and report["kernels"][0].get("blocks", "kept") == "kept", report


MIN_SAVING = {1: 0.32, 2: 0.32}  # node_claim.cc kMinimumSaving, at any thread count


def test_a_small_saving_is_left_to_the_stock_runtime_at_one_thread_and_at_two():
    # N=2 at 50% on a 14x14 1x1 layer of MobileNetV2: the kept blocks are estimated a little faster than every
    # block (12% on AVX-512, 17% on AVX2), too little to pay for what the cost model does not see (the sweep's
    # MobileNetV2 N=2 50% ran 1.07x stock at 2 threads on Zen 4, 1.10x at 1 thread on a Xeon), so the graph
    # is left to the stock runtime; glue=all takes it anyway, and its estimate is the one the decline gave.
    tflite = conv_model(k=(1, 1), n=2, cin=96, cout=576, size=(14, 14))
    inputs = random_inputs(tflite)
    for kernel in ("auto", "avx2") if platform.machine().lower() in ("x86_64", "amd64") else ("auto",):
        for threads in (1, 2):
            delegate = load_delegate(num_threads=threads, kernel=kernel)
            got = run(tflite, inputs, [delegate], num_threads=threads)
            assert_close(got, run(tflite, inputs, num_threads=threads))
            taken = load_delegate(num_threads=threads, kernel=kernel, glue="all")
            assert_close(run(tflite, inputs, [taken], num_threads=threads), run(tflite, inputs, num_threads=threads))
            check_margin(read_report(delegate), read_report(taken), threads)


def check_margin(report, taken, threads):
    """The graph's report with the default options and with glue=all (which takes it whatever the saving)."""
    assert taken["claimed"] >= 1, taken
    estimate = taken["kernels"][0].get("estimated_ms")
    # The margin's yardstick: every block at the dense block width ("stock"); "all" may be less, on a faster
    # dense kernel (8x32 on full-width AVX-512), and the way chosen is the cheaper of "kept" and "all".
    saving = 1 - estimate["chosen"] / estimate["stock"] if estimate else None
    if report["isa"] in ("avx512", "avx2"):  # the fitted cost model puts this layer in the band
        assert estimate["chosen"] == min(estimate["kept"], estimate["all"]) and estimate["all"] <= estimate["stock"]
        assert estimate["kept"] < estimate["stock"], estimate
        assert 0 < saving < MIN_SAVING[threads], estimate
    if saving is None or saving > MIN_SAVING[threads]:  # no estimate (scalar), or NEON's hand-set coefficients above it
        assert report["claimed"] == 1, report
        return
    assert report["claimed"] == 0 and report["partitions"] == 0, report
    (declined,) = report["declined"]
    reason = declined["reason"]
    assert reason.startswith(TOO_LITTLE_TO_GAIN) and f"{threads} thread(s)" in reason, reason
    saved = re.search(r"(\d+)% saved", reason)
    needed = f"more than {100 * MIN_SAVING[threads]:.0f}%"
    assert saved and abs(int(saved.group(1)) - 100 * saving) <= 1 and needed in reason, (reason, estimate)


def test_the_report_gives_each_nodes_estimates():
    # What the cost model estimated for the kept blocks and for every block, and which it chose: the cheaper.
    report = read_report_of(conv_model(k=(1, 1), n=16, cin=64, cout=96, size=(28, 28), keep=0.25))
    if report["isa"] == "scalar":
        assert "estimated_ms" not in report["kernels"][0], report  # no coefficients for the scalar kernels
        return
    estimate = report["kernels"][0]["estimated_ms"]
    assert 0 < estimate["chosen"] == min(estimate["kept"], estimate["all"]) < estimate["all"], estimate


def read_report_of(tflite, threads=None):
    delegate = load_delegate(num_threads=threads)
    run(tflite, random_inputs(tflite), [delegate])
    return read_report(delegate)
