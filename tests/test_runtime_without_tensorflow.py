"""The runtime side works with only numpy and ai-edge-litert: a fresh Python in which TensorFlow, tf_keras,
Keras and tfmot cannot be imported reads, checks, annotates, inspects, profiles and benchmarks a model
file written beforehand, and runs it with the delegate; the Keras side says which extra it needs."""

import json
import subprocess
import sys

import pytest

from onexn_tf import read_metadata
from onexn_tf.runtime import bench
from onexn_tf.tflite import graph, metadata

DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()

# Runs in the subprocess. Every import of a blocked package fails and is counted, so that code that
# catches ImportError cannot hide one.
SCRIPT = r'''
import contextlib, importlib.abc, io, json, sys

BLOCKED = {"tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"}
attempts = []


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
plain, compact, bare = sys.argv[1:4]

import onexn_tf
# Everything the runtime side is made of, imported by name (the commands below use most of it again).
from onexn_tf.cli import bench as bench_command, inspect as inspect_command, main  # noqa: F401
from onexn_tf.runtime import bench, delegate, profile  # noqa: F401
from onexn_tf.tflite import annotate, graph, metadata, sparse, verify  # noqa: F401


def command(*argv):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(list(argv))
    return code, json.loads(text.getvalue())


out = {}
out["records"] = [[r.operator, r.n, r.num_kept, r.encoding] for r in onexn_tf.read_metadata(plain)]
out["annotated"] = [[r.operator, r.n, r.num_kept, r.encoding]
                    for r in verify.read_metadata(annotate.annotate(graph.as_bytes(bare)))]
out["compact_encodings"] = [r.encoding for r in verify.read_metadata(compact)]
out["verified"] = all(c.ok for c in verify.verify(compact))
sparse_tensor = next(t for t in graph.read_model(compact).subgraphs[0].tensors if t.sparsity is not None)
out["sparse_n"] = sparse.layout(sparse_tensor.sparsity, list(sparse_tensor.shape))[0]
out["inspect"] = command("inspect", compact, "--json")
out["bench"] = command("bench", plain, "--runs", "2", "--warmup", "0", "--per-op", "--json")
out["claimed"] = onexn_tf.delegate_report(graph.as_bytes(plain))["claimed"]
out["attempts"] = list(attempts)
try:
    onexn_tf.prune_1xn
except ImportError as e:
    out["keras_side"] = str(e)
print("RESULT " + json.dumps(out))
'''


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_runtime_side_runs_without_tensorflow(tmp_path, varied):
    paths = {key: tmp_path / f"{key}.tflite" for key in ("plain", "compact", "bare")}
    paths["plain"].write_bytes(varied["plain"])
    paths["compact"].write_bytes(varied["compact"])
    model = graph.read_model(varied["plain"])
    model.metadata = [m for m in model.metadata if graph.name_of(m) != metadata.ENTRY_NAME]
    paths["bare"].write_bytes(graph.write_model(model))  # what TensorFlow's converter wrote
    expected = read_metadata(varied["plain"])
    claimed = bench.delegate_summary(varied["plain"])["claimed"]

    run = subprocess.run([sys.executable, "-c", SCRIPT, *map(str, paths.values())], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, run.stdout[-3000:]
    out = json.loads(lines[0][len("RESULT "):])

    assert out["attempts"] == [], "the runtime side tried to import " + ", ".join(out["attempts"])
    assert out["records"] == [[r.operator, r.n, r.num_kept, r.encoding] for r in expected]
    assert out["annotated"] == out["records"]
    assert 1 in out["compact_encodings"] and out["verified"]
    assert out["sparse_n"] in {r.n for r in expected}
    code, inspected = out["inspect"]
    assert code == 0 and inspected["ok"] and inspected["totals"]["recorded"] == len(expected)
    code, timed = out["bench"]
    assert code == 0 and timed["claimed"] == claimed and timed["ratio"] > 0 and timed["per_op"]["ops"]
    assert out["claimed"] == claimed > 0
    assert "pip install onexn[train]" in out["keras_side"]
