"""The delegate in an aarch64 LiteRT runtime, under qemu (scripts/aarch64_python.sh; docs/ARM.md).

Models are made here, on x86 (the converter needs TensorFlow), and handed to the aarch64 Python as files:
MobileNetV2-like models (keras.applications, alpha 0.35, 32x32) at N 1, 2, 4, 8, 16 and several sparsities
(one compact, one with partial blocks) and a small bottleneck ResNet, each run at 1 and 2 threads. There
the delegate must report isa "neon", claim what it claims on x86, run NEON microkernels, and match the
stock runtime; `onexn bench` must run and say its times mean nothing; onexn_tf's runtime side must work
with no TensorFlow installable. The project's delegate test files (ABI probe, claiming, glue and fusion,
damaged metadata, options) run there too, under pytest, against the litert runtime. The libraries' C
symbols are checked against what Android's bionic offers (tests/bionic_symbols.txt).

Emulated runs are slow (about a minute in all here); the inputs are small to keep CI within its budget.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import onexn_tf

from conftest import run_tflite
from test_delegate_models import assert_close

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tflite_delegate" / "tools"))
import build_delegate  # noqa: E402  (the one build description's reader)

SCRIPT = ROOT / "scripts" / "aarch64_python.sh"
BUILD = Path(os.environ.get("ONEXN_AARCH64_DIR", ROOT / "build" / "aarch64"))
CROSS = {"cc": "aarch64-linux-gnu-gcc", "cxx": "aarch64-linux-gnu-g++"}
# The aarch64 library Bazel builds (--config=aarch64_linux); scripts/test.sh builds it and names it here.
BAZEL_PATH_ENV = "ONEXN_AARCH64_BAZEL_DELEGATE_PATH"
EM_AARCH64 = 183  # ELF e_machine
BIONIC_LIST = Path(__file__).with_name("bionic_symbols.txt")
# The delegate's test files, run under pytest in the aarch64 Python. Deselected: tf.lite (no TensorFlow on
# aarch64) and the test of the x86 Bazel library (test_bazel_built_aarch64_library is its aarch64 twin).
SUITES = ["test_abi.py", "test_delegate.py", "test_delegate_glue.py", "test_delegate_metadata.py",
          "test_delegate_options.py", "test_delegate_models.py", "test_delegate_channel_slices.py",
          "test_delegate_pad_fusion.py", "test_delegate_chains.py"]
DESELECT = "not tf and not bazel_built"
THREADS = [1, 2]
# name -> (N, block sparsity, extra): the MobileNetV2-like cases and the ResNet-like one.
MOBILENET_CASES = {
    "mobilenet_n1_s50": (1, 0.5, {}),
    "mobilenet_n2_s50": (2, 0.5, {}),
    "mobilenet_n4_s50": (4, 0.5, {}),
    "mobilenet_n4_s70_compact": (4, 0.7, {"compact": True}),
    "mobilenet_n8_s60": (8, 0.6, {}),
    "mobilenet_n16_s50": (16, 0.5, {}),
    "mobilenet_n16_s75_partial": (16, 0.75, {"allow_partial_blocks": True}),
}
RESNET_CASES = {"resnet_n8_s50": (8, 0.5, {})}
# The MobileNetV2-like model fully int8-quantized (int8 I/O, TensorFlow's converter): the int8 1xN kernels,
# 16x8 (N=16) and 16x4 (N=4) with the dot product where the CPU has it, as qemu's does.
INT8_CASES = {"int8_mobilenet_n16_s50": (16, 0.5, {"int8": True}), "int8_mobilenet_n4_s75": (4, 0.75, {"int8": True})}
CASES = {**MOBILENET_CASES, **RESNET_CASES, **INT8_CASES}


def _unavailable():
    """Why the aarch64 runtime cannot run here (None when it can); scripts/aarch64_python.sh says more."""
    for tool in ("qemu-aarch64", CROSS["cc"], CROSS["cxx"], "dpkg"):
        if shutil.which(tool) is None:
            return f"{tool} not found (scripts/setup.sh installs it)"
    qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version (\d+)\.(\d+)", qemu)
    if not found or tuple(map(int, found.groups())) < (8, 1):
        return "qemu-aarch64 older than 8.1 (docs/ARM.md; scripts/setup.sh installs a newer one on Debian 12)"
    arches = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
    if "arm64" not in arches.split() and not (BUILD / "python" / ".packages").is_file():
        return "apt lacks the arm64 architecture for the aarch64 CPython (scripts/setup.sh adds it on Debian)"
    return None


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def aarch64_python(*args, env=None, cwd=None, timeout=1800):
    """Runs scripts/aarch64_python.sh ARGS; returns the CompletedProcess (text)."""
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def guest_env(**values):
    """This environment without the host's delegate paths (x86 libraries), plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in ("ONEXN_DELEGATE_PATH", "ONEXN_TESTING_DELEGATE_PATH")}
    return {**env, **values}


def elf_machine(path):
    with open(path, "rb") as f:
        header = f.read(20)
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


# ---------------------------------------------------------------------------------------------------------
# Models, made on x86


def _calibrate_batchnorm(model, x):
    """Sets every BatchNormalization's moving statistics to those of its input on `x`, in graph order, so
    that activations keep a unit scale through a randomly initialised network (instead of shrinking to
    1e-12 at the logits, where ReLU6's upper bound would never be reached)."""
    from onexn_tf.keras.compat import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            a = keras.Model(model.inputs, layer.input)(x, training=False).numpy()
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2)) + 1e-3])


def _mobilenet():
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10,
                                          classifier_activation=None)


def _resnet():
    """Two stages of bottleneck blocks (1x1, 3x3, 1x1 + shortcut, ADD, ReLU), as in ResNet-50, at 24x24."""
    from onexn_tf.keras.compat import keras

    layers = keras.layers
    keras.utils.set_random_seed(0)

    def conv_bn(x, filters, kernel, stride=1, relu=True):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    inputs = keras.Input((24, 24, 3))
    x = conv_bn(inputs, 32, 3)
    for width, stride in ((16, 1), (16, 1), (32, 2)):
        shortcut = x if stride == 1 and x.shape[-1] == 4 * width else conv_bn(x, 4 * width, 1, stride, relu=False)
        y = conv_bn(conv_bn(conv_bn(x, width, 1), width, 3, stride), 4 * width, 1, relu=False)
        x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10)(x))


def _make_models(directory):
    """{name: {"path", "input", "x86_stock", "x86_report"}} for every case, written under `directory`."""
    from benchmarks.models import int8_convert, tf_convert, transplant_zeros

    made = {}
    for build, cases in ((_mobilenet, MOBILENET_CASES), (_resnet, RESNET_CASES), (_mobilenet, INT8_CASES)):
        model = build()
        x = np.random.default_rng(1).standard_normal((1, *model.input_shape[1:])).astype(np.float32)
        _calibrate_batchnorm(model, np.random.default_rng(2).standard_normal((16, *model.input_shape[1:]))
                             .astype(np.float32))
        dense = tf_convert(model)  # converted once; each case writes its zeros into the weights
        for name, (n, sparsity, extra) in cases.items():
            policy = onexn_tf.Prune1xNPolicy(n, allow_partial_blocks=extra.get("allow_partial_blocks", False))
            pruned = onexn_tf.apply_1xn(model, n=n, sparsity=sparsity, pruning_policy=policy)
            if extra.get("int8"):
                tflite = int8_convert(pruned)
                x_case = np.random.default_rng(1).integers(-128, 128, x.shape, dtype=np.int8)
            else:
                tflite = onexn_tf.convert(transplant_zeros(dense, pruned), n=n, compact=extra.get("compact", False))
                x_case = x
            path, inputs = directory / f"{name}.tflite", directory / f"{name}-input.npy"
            path.write_bytes(tflite)
            np.save(inputs, x_case)
            made[name] = {"path": str(path), "input": str(inputs), "x86_stock": run_tflite(tflite, x_case),
                          "x86_report": onexn_tf.delegate_report(tflite, dense="never")}
    return made


@pytest.fixture(scope="session")
def aarch64_run(tmp_path_factory):
    """The models, and what tests/aarch64_run_models.py wrote about them in the aarch64 Python."""
    directory = tmp_path_factory.mktemp("aarch64")
    models = _make_models(directory)
    bench_model = models["mobilenet_n16_s50"]["path"]
    manifest = {
        "models": [{"name": name, "path": m["path"], "input": m["input"], "threads": THREADS}
                   for name, m in models.items()],
        "bench": bench_model,
        "bench_args": [["--runs", "2", "--warmup", "1", "--threads", "2", "--dense", "never"],
                       ["--runs", "2", "--warmup", "0", "--json", "--dense", "never"]],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    done = aarch64_python(Path(__file__).with_name("aarch64_run_models.py"), directory / "manifest.json",
                          directory, env=guest_env())
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((directory / "results.json").read_text())
    return {"models": models, "results": results, "directory": directory}


def _guest_output(run, name, which):
    return np.load(run["directory"] / f"{name}-{which}.npy")


# ---------------------------------------------------------------------------------------------------------
# The aarch64 Python itself


def test_guest_runs_the_aarch64_library_next_to_the_package(aarch64_run):
    results = aarch64_run["results"]
    assert results["machine"] == "aarch64"
    path = Path(results["delegate_path"])
    assert path == BUILD / "onexn" / "onexn_tf" / build_delegate.LIBRARY  # as `pip install` lays it out
    assert elf_machine(path) == EM_AARCH64


def test_runtime_side_needs_no_tensorflow_there(aarch64_run):
    results = aarch64_run["results"]
    assert results["tensorflow_importable"] is False
    assert "pip install onexn[train]" in results["keras_side"]


def test_same_litert_on_both_architectures(aarch64_run):
    # docs/ARM.md: one ai-edge-litert version everywhere (2.3 needs qemu >= 8.1 under emulation).
    assert aarch64_run["results"]["versions"] == {"ai-edge-litert": version("ai-edge-litert"),
                                                  "numpy": version("numpy")}


# ---------------------------------------------------------------------------------------------------------
# The models


@pytest.mark.parametrize("name", CASES)
def test_claims_what_it_claims_on_x86_with_neon_kernels(aarch64_run, name):
    x86 = aarch64_run["models"][name]["x86_report"]
    for threads in THREADS:
        report = aarch64_run["results"]["models"][name][str(threads)]
        assert report["isa"] == "neon" and report["num_threads"] == threads
        assert report["metadata"] == "ok" and report["claimed"] > 0
        for key in ("claimed_nodes", "glue_nodes", "partitions", "declined"):
            assert report[key] == x86[key], key
        # Which blocks fuse depends on the kernels (the ISA) and the thread count; they are made of
        # claimed, dense and glue nodes, and MobileNets, float and int8, have some on aarch64 too.
        fused = {node for block in report["fused"] for node in block}
        assert fused <= set(report["claimed_nodes"]) | set(report["dense_nodes"]) | set(report["glue_nodes"])
        assert bool(fused) == ("mobilenet" in name)
        # The same nodes (and DENSIFY nodes run inside a kernel), each on a NEON microkernel; the cost model's
        # estimates are per ISA.
        def same(k):
            return dict(k, kernel=None, estimated_ms=None)
        assert [same(k) for k in report["kernels"]] == [same(k) for k in x86["kernels"]]
        neon = ("-neondot", "-neon") if name in INT8_CASES else ("-neon",)
        assert all(k["kernel"].endswith(neon) for k in report["kernels"]), report["kernels"]
        if name in INT8_CASES:
            assert all(k["kernel"].startswith("qs8-qc8w-spconv-") for k in report["kernels"]), report["kernels"]


@pytest.mark.parametrize("name", CASES)
def test_outputs_equal_stock(aarch64_run, name):
    stock = _guest_output(aarch64_run, name, "stock")
    if name in INT8_CASES:  # XNNPACK's fp32 requantization on both machines: equal, or within 1 step
        assert stock.dtype == np.int8 and int(np.abs(stock.astype(int)).max()) > 1
        steps = lambda a, b: int(np.abs(a.astype(int) - b.astype(int)).max())  # noqa: E731
        assert steps(stock, aarch64_run["models"][name]["x86_stock"]) <= 1
        for threads in THREADS:
            assert steps(_guest_output(aarch64_run, name, f"onexn-{threads}"), stock) <= 1
        return
    assert_close([stock], [aarch64_run["models"][name]["x86_stock"]])  # the two stock runtimes agree
    assert float(np.abs(stock).max()) > 1e-2  # calibrated: real activations, not vanishing ones
    for threads in THREADS:
        assert_close([_guest_output(aarch64_run, name, f"onexn-{threads}")], [stock])


def test_bench_runs_and_says_its_times_mean_nothing(aarch64_run):
    human, as_json = aarch64_run["results"]["bench"]
    assert human["code"] == 0, human["stderr"]
    assert "note: this runs emulated (aarch64 code, " in human["stdout"]
    assert "the times below mean nothing" in human["stdout"]
    assert "ratio onexn / stock" in human["stdout"] and "onexn (neon)" in human["stdout"]
    assert as_json["code"] == 0, as_json["stderr"]
    data = json.loads(as_json["stdout"])
    assert data["emulated"].startswith("aarch64 code, ") and data["isa"] == "neon"
    assert data["claimed"] == aarch64_run["models"]["mobilenet_n16_s50"]["x86_report"]["claimed"]


def test_inspect_runs_there(aarch64_run):
    inspected = aarch64_run["results"]["inspect"]
    assert inspected["code"] == 0, inspected["stderr"]
    data = json.loads(inspected["stdout"])
    path = aarch64_run["models"]["mobilenet_n16_s50"]["path"]
    assert data["ok"] and data["totals"]["recorded"] == len(onexn_tf.read_metadata(path))


# ---------------------------------------------------------------------------------------------------------
# The delegate's own test files, under pytest in the aarch64 Python


def _collected_here():
    """(module, test name) of every test pytest collects from SUITES here, with DESELECT."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-k", DESELECT,
                           *[f"tests/{f}" for f in SUITES]], capture_output=True, text=True, cwd=ROOT)
    ids = [line.split("::") for line in done.stdout.splitlines() if "::" in line]
    return {(Path(path).stem, name) for path, name in ids}


def test_delegate_test_files_pass_in_the_aarch64_runtime(tmp_path):
    testing = build_delegate.build_library(BUILD / "lib", arch="aarch64", testing=True, **CROSS)
    report = tmp_path / "report.xml"
    # From tmp_path, with the ini's pythonpath emptied: onexn_tf must come from the aarch64 layout, not
    # from the source tree (whose library is the x86 one).
    done = aarch64_python("-m", "pytest", *[ROOT / "tests" / f for f in SUITES], "-k", DESELECT, "-q",
                          "-o", "pythonpath=", "-p", "no:cacheprovider", f"--junitxml={report}",
                          cwd=tmp_path, env=guest_env(ONEXN_TESTING_DELEGATE_PATH=str(testing)))
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in cases
              if any(case.find(tag) is not None for tag in ("failure", "error", "skipped"))]
    assert done.returncode == 0 and failed == [], "\n".join(failed) + "\n" + done.stdout[-3000:]
    ran = {(case.get("classname").rsplit(".", 1)[-1], case.get("name")) for case in cases}
    # Every test the x86 run has, except the deselected ones and those of ISAs only x86 has.
    assert _portable(ran) == _portable(_collected_here())
    assert any(name.endswith("[neon]") for _, name in ran)


def _portable(tests):
    return {(module, name) for module, name in tests if not re.search(r"\[(avx2|avx512|neon)\]$", name)}


# ---------------------------------------------------------------------------------------------------------
# The Bazel build and Android


def _bazel_library():
    value = os.environ.get(BAZEL_PATH_ENV)
    return Path(value) if value and Path(value).is_file() else None


def test_bazel_built_aarch64_library(aarch64_run, tmp_path):
    # scripts/test.sh builds it (`bazel build --config=aarch64_linux //tflite_delegate:libonexn_delegate.so`).
    library = _bazel_library()
    if library is None:
        pytest.skip(f"{BAZEL_PATH_ENV} names no library; scripts/test.sh builds it")
    assert elf_machine(library) == EM_AARCH64
    name = "mobilenet_n8_s60"
    model = aarch64_run["models"][name]
    manifest = {"models": [{"name": name, "path": model["path"], "input": model["input"], "threads": [2]}],
                "bench": model["path"], "bench_args": []}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    done = aarch64_python(Path(__file__).with_name("aarch64_run_models.py"), tmp_path / "manifest.json", tmp_path,
                          env=guest_env(ONEXN_DELEGATE_PATH=str(library)))
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert Path(results["delegate_path"]) == library.resolve()
    report = results["models"][name]["2"]
    assert report["isa"] == "neon" and report["claimed_nodes"] == model["x86_report"]["claimed_nodes"]
    assert_close([np.load(tmp_path / f"{name}-onexn-2.npy")], [np.load(tmp_path / f"{name}-stock.npy")])


def _bionic_list():
    names = {}
    for line in BIONIC_LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            glibc, bionic, since = line.split()[:3]
            names[glibc] = (bionic, int(since))
    return names


def c_library_imports(library):
    """The strong undefined symbols of an aarch64 library that its C library must provide: versioned
    GLIBC_*, or unversioned (nothing else claims them). C++ runtime ones (GLIBCXX_, CXXABI_, GCC_) are left
    out: an Android build links the NDK's libc++."""
    out = subprocess.run(["aarch64-linux-gnu-nm", "-D", "--undefined-only", str(library)], capture_output=True,
                         text=True, check=True).stdout
    symbols = set()
    for line in out.splitlines():
        kind, name = line.split()[-2:]
        if kind != "U":
            continue  # weak: optional
        symbol, _, tag = name.partition("@")
        if not tag or tag.startswith("GLIBC_"):
            symbols.add(symbol)
    return symbols


def test_aarch64_library_imports_only_what_bionic_has():
    libraries = [build_delegate.build_library(BUILD / "lib", arch="aarch64", **CROSS)]
    if _bazel_library() is not None:
        libraries.append(_bazel_library())
    listed = _bionic_list()
    for library in libraries:
        imports = c_library_imports(library)
        assert {"malloc", "pthread_create", "memcpy"} <= imports  # the listing itself works
        missing = sorted(imports - set(listed))
        assert not missing, (f"{library} imports {missing}, not in {BIONIC_LIST.name}: check that bionic has "
                             "them (libc/libc.map.txt, arm64) and add a line for each")


def test_bionic_list_is_sorted_and_unique():
    names = [line.split()[0] for line in BIONIC_LIST.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert names == sorted(set(names))
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in names)
