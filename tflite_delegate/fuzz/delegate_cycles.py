"""Create / apply / destroy cycles of the onexn delegate in the real runtime (ai_edge_litert).

Each cycle loads a delegate (``tflite_plugin_create_delegate``), builds an interpreter with it (the
runtime calls the delegate's Prepare, which claims or declines nodes), allocates, invokes, reads the
report, then destroys the interpreter and the delegate (``tflite_plugin_destroy_delegate``). The
scenarios rotate through every path that allocates in the delegate: claimed dense and compact nodes,
a thread pool, a kernel re-packed for a resized input, a partition with depthwise/add glue and its
arena re-planned for a resized input, one with pooling, pad, concatenation, reshape and softmax steps, a
dense layer (no record) re-packed for a resized input, a dynamic tensor (re-prepared at invoke),
damaged and lying metadata, a bad option (create fails), a failing Prepare (through the abi_probe test
hook, so that scenario runs on the testing library, tests/testing_library.py), and a delegate destroyed
before its interpreter (as Python's garbage collector may do).

Used by tests/test_reliability_cycles.py (RSS) and by scripts/leak_check.sh, which runs it in a
process with LeakSanitizer and the ASan-built delegate:

    python tflite_delegate/fuzz/delegate_cycles.py --save DIR          # build the scenario models (needs TF)
    python tflite_delegate/fuzz/delegate_cycles.py --load DIR [--cycles 1000] [--leak-on-purpose N]

Without --load the models are built in the same process. With --load only ai_edge_litert and
onexn_tf.runtime.delegate are imported (no TensorFlow), which keeps the sanitized process small and its
LeakSanitizer report short.

``--leak-on-purpose N`` creates N delegates through the C entry point and never destroys them: the
positive control that proves the leak check sees (and attributes) a leak of the delegate.
"""

import argparse
import contextlib
import ctypes
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

ERRORS = {"ValueError": ValueError, "RuntimeError": RuntimeError}
DELEGATE_FIRST = "delegate_destroyed_first"  # this scenario frees the delegate, then the interpreter


def scenarios():
    """[(name, tflite bytes, delegate options, input shape or None, expected claimed count or an error)]."""
    from tensorflow.lite.python import schema_py_generated as schema

    from test_delegate_dense import _stem_model
    from test_delegate_glue import MODEL as GLUE_MODEL
    from test_delegate_metadata import BASE, COMPACT, _lying_block
    from test_delegate_tensor_ops import NETWORK
    from test_delegate_models import GraphBuilder, conv_model, entry_of, replace_entry, sparse_weight, with_metadata

    rng = np.random.default_rng(0)
    g = GraphBuilder()
    x = g.input([1, 648])
    shape = g._tensor([4], "shape", dtype=schema.TensorType.INT32)
    g.inputs.append(shape)
    r = g._tensor([1, 9, 9, 8], "reshaped")
    g._op(schema.BuiltinOperator.RESHAPE, [x, shape], [r])
    y = g.conv(r, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16))
    dynamic = with_metadata(g.finish(y), 4)

    big = conv_model(k=(3, 3), n=8, cin=64, cout=128, size=(8, 8))  # ~150 KB of packed weights per kernel
    return [
        ("claimed_conv_2_threads", big, {"num_threads": 2}, None, 1),
        ("claimed_compact_with_densify", COMPACT, {}, None, 3),
        ("resized_input_repacked", conv_model(n=4, batch=1), {}, [3, 11, 7, 16], 1),
        ("dynamic_tensor_reprepared", dynamic, {}, None, 1),
        ("damaged_metadata", replace_entry(BASE, entry_of(BASE)[:-8]), {}, None, 0),
        ("lying_record", _lying_block(BASE), {"kernel": "scalar"}, None, 2),
        ("no_metadata", _strip(conv_model(n=4)), {}, None, 0),
        ("bad_option", big, {"kernel": "avx9"}, None, ValueError),
        ("prepare_fails", big, {"abi_probe": 2}, None, RuntimeError),
        (DELEGATE_FIRST, COMPACT, {"num_threads": 2}, None, 3),
        ("glue_partition_resized", GLUE_MODEL, {"num_threads": 2}, [2, 10, 9, 16], 4),
        ("pool_pad_concat_softmax_resized", NETWORK, {"num_threads": 2}, [2, 20, 11, 8], 4),
        ("dense_layer_resized", _stem_model(), {}, [2, 14, 9, 3], 1),
    ]


def save(cases, directory):
    """Writes the scenarios as DIR/<name>.tflite plus DIR/scenarios.json."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    for name, tflite, options, shape, expected in cases:
        (directory / f"{name}.tflite").write_bytes(tflite)
        index.append({"name": name, "options": options, "input_shape": shape,
                      "expected": expected.__name__ if isinstance(expected, type) else expected})
    (directory / "scenarios.json").write_text(json.dumps(index, indent=1))


def load(directory):
    """The scenarios written by ``save``."""
    directory = Path(directory)
    return [(c["name"], (directory / f"{c['name']}.tflite").read_bytes(), c["options"], c["input_shape"],
             ERRORS.get(c["expected"], c["expected"])) for c in json.loads((directory / "scenarios.json").read_text())]


def _strip(tflite):
    from onexn_tf.tflite import graph, metadata

    model = graph.read_model(tflite)
    model.metadata = [m for m in model.metadata if graph.name_of(m) != metadata.ENTRY_NAME]
    return graph.write_model(model)


def one_cycle(tflite, options, input_shape, expected, delegate_first=False):
    """One create/apply/invoke/destroy cycle; raises AssertionError if the delegate misbehaved."""
    import testing_library

    library = testing_library.in_use() if "abi_probe" in options else contextlib.nullcontext()
    with library:
        _cycle(tflite, options, input_shape, expected, delegate_first)


def _cycle(tflite, options, input_shape, expected, delegate_first):
    from ai_edge_litert.interpreter import Interpreter

    from onexn_tf.runtime.delegate import load_delegate, read_report

    # The kept blocks (dense=never) unless a scenario says otherwise: its claim count is that of the 1xN
    # kernels, not the cost model's choice, which leaves some of these small graphs to the stock runtime.
    options = {"dense": "never", **options}
    if isinstance(expected, type):
        try:
            delegate = load_delegate(**options)
            Interpreter(model_content=tflite, experimental_delegates=[delegate])
        except expected:
            return
        raise AssertionError(f"expected {expected.__name__}")
    delegate = load_delegate(**options)
    it = Interpreter(model_content=tflite, experimental_delegates=[delegate])
    details = it.get_input_details()
    if input_shape is not None:
        it.resize_tensor_input(details[0]["index"], input_shape)
    it.allocate_tensors()
    for d in it.get_input_details():
        if d["dtype"] == np.int32:  # the dynamic scenario's target shape
            it.set_tensor(d["index"], np.array([1, 9, 9, 8], np.int32))
        else:
            it.set_tensor(d["index"], np.ones(d["shape"], np.float32))
    it.invoke()
    claimed = read_report(delegate)["claimed"]
    if delegate_first:
        delegate.__del__()  # tflite_plugin_destroy_delegate while the kernel nodes still exist
    del it
    del delegate
    if claimed != expected:
        raise AssertionError(f"claimed {claimed}, expected {expected}")


def run_cycles(count, cases=None):
    """Runs `count` cycles rotating through the scenarios; returns {scenario name: cycles run}."""
    cases = cases if cases is not None else scenarios()
    done = {name: 0 for name, *_ in cases}
    for i in range(count):
        name, tflite, options, shape, expected = cases[i % len(cases)]
        try:
            one_cycle(tflite, options, shape, expected, delegate_first=name == DELEGATE_FIRST)
        except AssertionError as e:
            raise AssertionError(f"cycle {i} ({name}): {e}") from None
        done[name] += 1
    return done


def leak_on_purpose(count):
    """Creates `count` delegates through the plugin entry point and drops them without destroying."""
    from onexn_tf.runtime.delegate import delegate_path

    lib = ctypes.CDLL(delegate_path())
    lib.tflite_plugin_create_delegate.restype = ctypes.c_void_p
    lib.tflite_plugin_create_delegate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                                  ctypes.c_void_p]
    for _ in range(count):
        if not lib.tflite_plugin_create_delegate(None, None, 0, None):
            raise RuntimeError("tflite_plugin_create_delegate returned NULL")


def attributable_leaks(report, modules=("libonexn_delegate.so", "libonexn_delegate_testing.so")):
    """(bytes, objects, blocks) of the LeakSanitizer leaks whose allocation stack passes through `modules`.

    `report` is the sanitizer's text output. Leaks allocated entirely by CPython or the runtime are left
    out: they are the interpreter's own exit-time leftovers, not the delegate's.
    """
    total_bytes, total_objects, blocks = 0, 0, []
    for block in report.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines or " leak of " not in lines[0]:
            continue
        if any(any(m in line for m in modules) or "/tflite_delegate/" in line for line in lines[1:]):
            words = lines[0].split()
            total_bytes += int(words[words.index("byte(s)") - 1])
            total_objects += int(words[words.index("object(s)") - 1])
            blocks.append(block.strip())
    return total_bytes, total_objects, blocks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--leak-on-purpose", type=int, default=0, metavar="N")
    parser.add_argument("--save", metavar="DIR", help="write the scenario models to DIR and exit")
    parser.add_argument("--load", metavar="DIR", help="read the scenario models from DIR")
    parser.add_argument("--lsan-report", metavar="LOG", help="print the delegate's leaks in a LeakSanitizer log "
                        "as 'LEAKED <bytes> <objects>' (and their stacks) and exit")
    args = parser.parse_args()
    if args.lsan_report:
        leaked, objects, blocks = attributable_leaks(Path(args.lsan_report).read_text(errors="replace"))
        for block in blocks:
            print(block + "\n")
        print(f"LEAKED {leaked} {objects}")
        return
    if args.save:
        save(scenarios(), args.save)
        return
    done = run_cycles(args.cycles, load(args.load) if args.load else None)
    if args.leak_on_purpose:
        leak_on_purpose(args.leak_on_purpose)
    print(f"delegate_cycles: {sum(done.values())} create/apply/destroy cycles: "
          + ", ".join(f"{k} {v}" for k, v in done.items()), flush=True)


if __name__ == "__main__":
    main()
