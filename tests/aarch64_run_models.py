"""Runs in the aarch64 Python (scripts/aarch64_python.sh) for tests/test_aarch64.py, which made the models on
x86 and checks what this writes: aarch64_run_models.py MANIFEST.json OUT_DIR.

For every model of the manifest: the stock runtime's output (XNNPACK, 1 thread) and, for each thread count,
the output with the onexn delegate in front and the delegate's report. Then `onexn bench` and `onexn
inspect` on one model, and what this Python is: machine, delegate library, runtime versions, whether
TensorFlow can be imported. Only numpy, ai-edge-litert and onexn_tf's runtime side are used.
"""

import contextlib
import importlib.metadata
import importlib.util
import io
import json
import platform
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

import onexn_tf
from onexn_tf.cli import main as onexn_command
from onexn_tf.runtime.delegate import read_report


def run(path, x, threads, delegates=None):
    interpreter = Interpreter(model_path=path, num_threads=threads, experimental_delegates=delegates)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def command(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = onexn_command(list(argv))
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main(manifest_path, out_dir):
    manifest = json.loads(Path(manifest_path).read_text())
    out_dir = Path(out_dir)
    results = {"models": {}}
    for model in manifest["models"]:
        x = np.load(model["input"])
        np.save(out_dir / f"{model['name']}-stock.npy", run(model["path"], x, threads=1))
        reports = {}
        for threads in model["threads"]:
            delegate = onexn_tf.load_delegate(num_threads=threads)
            np.save(out_dir / f"{model['name']}-onexn-{threads}.npy", run(model["path"], x, threads, [delegate]))
            reports[threads] = read_report(delegate)
        results["models"][model["name"]] = reports
    results["bench"] = [command("bench", manifest["bench"], *argv) for argv in manifest["bench_args"]]
    results["inspect"] = command("inspect", manifest["bench"], "--json")
    try:
        onexn_tf.prune_1xn
    except ImportError as e:
        results["keras_side"] = str(e)
    results["machine"] = platform.machine()
    results["delegate_path"] = onexn_tf.delegate_path()
    results["versions"] = {name: importlib.metadata.version(name) for name in ("ai-edge-litert", "numpy")}
    results["tensorflow_importable"] = importlib.util.find_spec("tensorflow") is not None
    (out_dir / "results.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
