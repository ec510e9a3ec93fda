"""The user path the examples share: data -> dense fine-tune -> gradual 1xN pruning -> strip -> report ->
convert -> check against Keras -> benchmark with and without the onexn delegate -> summary.

Each example (mobilenet_v2_1xn.py, resnet_1xn.py) supplies only its model and defaults; see ``Example``.
"""

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ info lines out of the output

import numpy as np  # noqa: E402

import onexn_tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
from onexn_tf import datasets  # noqa: E402
from onexn_tf.runtime import bench  # noqa: E402
from onexn_tf.keras.compat import keras  # noqa: E402

# Short fine-tuning budgets: with Keras' ImageNet BatchNorm momentum (0.99 / 0.999) the moving statistics
# would barely leave their initial values in a few hundred steps, and the evaluated model would be random.
BN_MOMENTUM = 0.9
CHECK_IMAGES = 4  # test images run through Keras, the stock runtime and the onexn delegate
RUNS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runs")  # gitignored


@dataclasses.dataclass
class Example:
    """What an example adds to the pipeline.

    name: file stem of the artifacts; title: what the summary calls the model.
    build: ``build(args, num_classes) -> tf_keras model`` taking ``(args.size, args.size, 3)`` images.
    preprocess: the model's ``preprocess_input`` (images arrive as RGB in [0, 255]).
    defaults / quick: argument defaults of a full run and of ``--quick``.
    """

    name: str
    title: str
    build: object
    preprocess: object
    defaults: dict
    quick: dict


COMMON_DEFAULTS = dict(n=16, sparsity=0.5, batch_size=32, lr=1e-3, threads=1, warmup=10, seed=0)


def make_parser(example, description):
    """argparse parser with the options every example has; options left unset take ``example.defaults``
    (or ``example.quick`` with ``--quick``)."""
    d = {**COMMON_DEFAULTS, **example.defaults}
    q = {**COMMON_DEFAULTS, **example.quick}
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)

    def option(flag, key, kind, text):
        shown = f"default {d[key]}" + (f", --quick {q[key]}" if q[key] != d[key] else "")
        parser.add_argument(flag, type=kind, default=None, help=f"{text} ({shown})")

    option("--n", "n", int, "block width N: output channels sharing one input channel")
    option("--sparsity", "sparsity", float, "final fraction of 1xN blocks zeroed in every pruned layer")
    option("--size", "size", int, "input resolution (images are resized to size x size)")
    option("--dense-steps", "dense_steps", int, "fine-tuning steps of the dense model before pruning")
    option("--steps", "steps", int, "fine-tuning steps while pruning: 2/3 ramp (PolynomialDecay), 1/3 at target")
    option("--batch-size", "batch_size", int, "training batch size")
    option("--lr", "lr", float, "Adam learning rate")
    option("--threads", "threads", int, "threads of both runtimes in the benchmark")
    option("--runs", "runs", int, "timed benchmark runs per runtime (interleaved)")
    option("--warmup", "warmup", int, "untimed benchmark runs per runtime first")
    option("--seed", "seed", int, "seed of the initialization, data split and benchmark input")
    parser.add_argument("--rearrange", action="store_true",
                        help="reorder filters by importance before pruning (onexn_tf.rearrange_filters)")
    parser.add_argument("--compact", action="store_true",
                        help="also write the compact .tflite (TFLite block-sparse weights, DENSIFY at load)")
    parser.add_argument("--weights", metavar="FILE",
                        help="initial weights: a Keras .h5 file is loaded by layer name, skipping layers whose "
                             "shape differs (e.g. a 1000-class head); other formats must match exactly")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="fine-tune on DIR/<class>/<image> files instead of scikit-learn's digits")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help=f"artifact directory (default runs/{example.name}[_quick] in the repository)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budget (small input, few steps and runs): checks the whole path in a minute")
    parser.set_defaults(_defaults=d, _quick=q, _name=example.name)
    return parser


def parse_args(parser, argv=None):
    """Parses argv and fills unset options from the example's defaults; bad values are parser errors."""
    args = parser.parse_args(argv)
    defaults = args._quick if args.quick else args._defaults
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    for key in ("n", "size", "batch_size", "threads", "runs"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    for key in ("dense_steps", "warmup"):
        if getattr(args, key) < 0:
            parser.error(f"--{key.replace('_', '-')} must be >= 0, got {getattr(args, key)}")
    if args.steps < 2:
        parser.error(f"--steps must be >= 2 (pruning needs at least one mask update and one step at target), "
                     f"got {args.steps}")
    if not 0.0 < args.sparsity < 1.0:
        parser.error(f"--sparsity must be in (0, 1), got {args.sparsity}")
    if args.lr <= 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.size < 32:
        parser.error(f"--size must be >= 32 (keras.applications models need it), got {args.size}")
    if args.weights and not (os.path.isfile(args.weights) or os.path.isfile(args.weights + ".index")):
        parser.error(f"--weights {args.weights!r}: no such file (or TensorFlow checkpoint)")
    if args.data_dir and not os.path.isdir(args.data_dir):
        parser.error(f"--data-dir {args.data_dir!r} is not a directory")
    args.out = args.out or os.path.join(RUNS, args._name + ("_quick" if args.quick else ""))
    return args


def load_weights(model, path):
    """Loads `path` into `model`: H5 by layer name, skipping layers whose shapes differ; else exactly."""
    if path.endswith((".h5", ".hdf5")):
        model.load_weights(path, by_name=True, skip_mismatch=True)
        return
    try:
        model.load_weights(path)
    except ValueError as e:
        raise ValueError(f"--weights {path!r} does not fit this model ({e}); a Keras .h5 file is loaded by "
                         "layer name and skips mismatched layers") from None


def accuracy(model, test):
    """Top-1 accuracy on the test set (model compiled here for evaluation only)."""
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return float(model.evaluate(test, verbose=0)[1])


def pruning_schedule(sparsity, steps):
    """PolynomialDecay from 0 to `sparsity` over the first 2/3 of the steps (10 mask updates), so the last
    third fine-tunes at the target. end_step is a multiple of the frequency: tfmot only prunes on those."""
    ramp = max(2 * steps // 3, 1)
    frequency = max(ramp // 10, 1)
    end = frequency * (ramp // frequency)
    return tfmot.sparsity.keras.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=end, frequency=frequency)


def tflite_outputs(tflite, images, delegate, threads):
    """Runs each image through one interpreter (stock, or with the onexn delegate); stacked outputs."""
    interpreter = bench.make_interpreter(tflite, delegate=delegate, threads=threads)
    outputs = []
    for image in images:
        bench.set_inputs(interpreter, image[None])
        interpreter.invoke()
        outputs.append(bench.first_output(interpreter))
    return np.concatenate(outputs)


def run(example, args):
    """The whole path; prints progress and a summary, writes artifacts to args.out, returns the results."""
    started = time.time()
    bench.require_delegate()  # fail now, not after the fine-tuning
    os.makedirs(args.out, exist_ok=True)
    stem = f"{example.name}_1x{args.n}_{round(args.sparsity * 100)}"
    keras.utils.set_random_seed(args.seed)

    print("[1/7] data and model")
    if args.data_dir:
        data = datasets.image_directory(args.data_dir, args.size, args.batch_size, seed=args.seed,
                                        preprocess=example.preprocess)
    else:
        data = datasets.digits(args.size, args.batch_size, seed=args.seed, preprocess=example.preprocess)
    print(f"      {data.source}: {data.num_train} train / {data.num_test} held-out images, {data.num_classes} classes")
    model = example.build(args, data.num_classes)
    if args.weights:
        load_weights(model, args.weights)
    for layer in model.submodules:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    print(f"      {example.title}: {model.count_params():,} parameters, "
          f"{'weights from ' + args.weights if args.weights else 'random init (weights=None)'}")

    print(f"[2/7] dense fine-tuning, {args.dense_steps} steps" + ("" if args.dense_steps else " (skipped)"))
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if args.dense_steps:
        model.fit(data.train, steps_per_epoch=args.dense_steps, epochs=1, verbose=1)
    accuracy_before = accuracy(model, data.test)
    print(f"      held-out accuracy of the dense model: {accuracy_before:.1%}")

    policy = onexn_tf.Prune1xNPolicy(args.n, allow_partial_blocks=True)  # layers with cout % N != 0 too
    if args.rearrange:
        model, rearranged = onexn_tf.rearrange_filters(model, args.n, policy=policy, return_report=True)
        print(f"      {str(rearranged).splitlines()[0]}")

    schedule = pruning_schedule(args.sparsity, args.steps)
    print(f"[3/7] gradual 1x{args.n} pruning to {args.sparsity:.0%} while fine-tuning, {args.steps} steps "
          f"(PolynomialDecay to step {schedule.end_step}, every {schedule.frequency})")
    pruned = onexn_tf.prune_1xn(model, n=args.n, pruning_schedule=schedule, pruning_policy=policy)
    pruned.compile(optimizer=keras.optimizers.Adam(args.lr), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    pruned.fit(data.train, steps_per_epoch=args.steps, epochs=1, verbose=1,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])

    print("[4/7] strip the pruning wrappers and report")
    stripped = onexn_tf.strip_1xn(pruned)
    report = onexn_tf.sparsity_report(stripped, n=args.n)
    print("      " + "\n      ".join(str(report).splitlines()))
    accuracy_after = accuracy(stripped, data.test)
    print(f"      held-out accuracy of the 1x{args.n}-pruned model: {accuracy_after:.1%}")
    keras_path = os.path.join(args.out, f"{stem}.keras")
    stripped.save(keras_path)

    print("[5/7] convert to .tflite with onexn metadata")
    files = {"plain": onexn_tf.convert(stripped, n=args.n)}
    if args.compact:
        files["compact"] = onexn_tf.convert(stripped, n=args.n, compact=True)
    paths = {}
    for kind, tflite in files.items():
        paths[kind] = os.path.join(args.out, f"{stem}{'_compact' if kind == 'compact' else ''}.tflite")
        with open(paths[kind], "wb") as f:
            f.write(tflite)
        print(f"      {paths[kind]}: {len(tflite) / 1e6:.2f} MB, "
              f"{len(onexn_tf.read_metadata(tflite))} 1xN layers described in its metadata")

    print(f"[6/7] check: Keras vs stock runtime vs onexn delegate on {CHECK_IMAGES} held-out images")
    images = np.concatenate([x for x, _ in data.test.take(1)])[:CHECK_IMAGES]
    keras_out = stripped(images, training=False).numpy()
    checks = {}
    for kind, tflite in files.items():
        stock = tflite_outputs(tflite, images, False, args.threads)
        onexn = tflite_outputs(tflite, images, True, args.threads)
        claimed = onexn_tf.delegate_report(tflite)
        checks[kind] = {"stock_vs_keras": float(np.abs(stock - keras_out).max()),
                        "onexn_vs_stock": float(np.abs(onexn - stock).max()),
                        "claimed": int(claimed["claimed"]), "declined": len(claimed["declined"]),
                        "isa": claimed.get("isa", "?")}
        c = checks[kind]
        print(f"      {kind}: max |stock - keras| = {c['stock_vs_keras']:.1e}, max |onexn - stock| = "
              f"{c['onexn_vs_stock']:.1e}; delegate claimed {c['claimed']} nodes ({c['isa']}), "
              f"declined {c['declined']}")

    print(f"[7/7] benchmark: stock runtime (XNNPACK dense) vs onexn delegate, {args.threads} thread(s), "
          f"{args.runs} interleaved runs each")
    timing = bench.compare(files["plain"], threads=args.threads, runs=args.runs, warmup=args.warmup, progress=True)

    pruned_rows = [r for r in report.layers if r.block_sparsity > 0]
    blocks_total = sum(r.blocks for r in pruned_rows)
    kept_total = sum(r.kept_blocks for r in pruned_rows)
    summary = {
        "model": example.title, "data": data.source, "n": args.n, "target_sparsity": args.sparsity,
        "size": args.size, "dense_steps": args.dense_steps, "steps": args.steps, "rearrange": args.rearrange,
        "accuracy_before": accuracy_before, "accuracy_after": accuracy_after,
        "pruned_layers": len(pruned_rows), "conv_dense_layers": len(report.layers),
        "block_sparsity": 1.0 - kept_total / blocks_total if blocks_total else 0.0,
        "macs": report.macs, "macs_after": report.macs_after,
        "files": {kind: {"path": paths[kind], "bytes": len(files[kind])} for kind in files},
        "keras_model": keras_path, "checks": checks, "bench": timing.as_dict(),
        "seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print_summary(summary)
    return {"summary": summary, "model": stripped, "tflite": files, "images": images, "report": report}


def print_summary(s):
    b = s["bench"]
    print()
    print(f"summary: {s['model']}, 1x{s['n']} blocks, {s['target_sparsity']:.0%} target block sparsity")
    print(f"  data               {s['data']}")
    print(f"  accuracy           dense {s['accuracy_before']:.1%} ({s['dense_steps']} steps) -> 1x{s['n']}-pruned "
          f"{s['accuracy_after']:.1%} ({s['steps']} more steps{', rearranged' if s['rearrange'] else ''})")
    print(f"  sparsity           {s['pruned_layers']} of {s['conv_dense_layers']} conv/dense layers pruned, "
          f"{s['block_sparsity']:.1%} of their 1x{s['n']} blocks zero")
    print(f"  conv/dense MACs    {s['macs'] / 1e6:.1f} M dense -> {s['macs_after'] / 1e6:.1f} M "
          f"({s['macs_after'] / max(s['macs'], 1):.1%}; depthwise and other layers not counted)")
    for kind, f in s["files"].items():
        c = s["checks"][kind]
        print(f"  {kind + ' .tflite':18} {f['bytes'] / 1e6:.2f} MB  {f['path']}")
        print(f"  {'':18} stock vs Keras {c['stock_vs_keras']:.1e}, onexn vs stock {c['onexn_vs_stock']:.1e}, "
              f"{c['claimed']} nodes on onexn ({c['isa']})")
    print(f"  latency            stock XNNPACK dense {b['baseline_ms']:.3f} ms, onexn {b['onexn_ms']:.3f} ms "
          f"(medians of {b['runs']}, {b['threads']} thread(s))")
    print(f"  ratio              {b['ratio']:.2f} (onexn / stock; below 1 is faster)")
    print(f"  Keras model        {s['keras_model']}")
    print(f"  total time         {s['seconds']:.0f} s")
