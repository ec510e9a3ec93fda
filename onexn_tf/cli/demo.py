"""``onexn demo``: the whole onexn path on a built-in example, end to end.

MobileNetV2 (weights=None, 10 classes) -> gradual 1xN pruning with tfmot's PolynomialDecay while
fine-tuning on scikit-learn's digits (upscaled; ships with the wheel) -> strip -> sparsity report ->
convert to .tflite with onexn metadata -> check the stock runtime against Keras -> benchmark the onexn
delegate against the stock runtime (XNNPACK dense) in one run.
"""

import os
import time


def add_arguments(parser):
    parser.add_argument("--n", type=int, default=16, help="block width N (default 16, the AVX-512 vector)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final block sparsity (default 0.5)")
    parser.add_argument("--steps", type=int, default=30, help="fine-tuning steps while pruning (default 30)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=224, help="input resolution (default 224)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both runtimes in the benchmark")
    parser.add_argument("--runs", type=int, default=30, help="benchmark runs per runtime")
    parser.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")


def run(args):
    import numpy as np
    import tensorflow_model_optimization as tfmot

    import onexn_tf
    from onexn_tf import datasets
    from onexn_tf.keras.compat import keras
    from onexn_tf.runtime import bench

    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    print(f"[1/6] MobileNetV2 {args.size}x{args.size}, 10 classes, random init (weights=None)")
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, classes=10, input_shape=(args.size, args.size, 3))
    data = datasets.digits(args.size, args.batch_size, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    train, test = data.train, data.test

    print(f"[2/6] gradual 1x{args.n} pruning to {args.sparsity:.0%} over {args.steps} fine-tuning steps "
          "(PolynomialDecay + UpdatePruningStep)")
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        0.0, args.sparsity, begin_step=0, end_step=max(args.steps - 1, 1), frequency=max(args.steps // 10, 1))
    policy = onexn_tf.Prune1xNPolicy(args.n, allow_partial_blocks=True)
    pruned = onexn_tf.prune_1xn(model, n=args.n, pruning_schedule=schedule, pruning_policy=policy)
    pruned.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    pruned.fit(train, steps_per_epoch=args.steps, epochs=1,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], verbose=1)

    print("[3/6] strip and report")
    stripped = onexn_tf.strip_1xn(pruned)
    report = onexn_tf.sparsity_report(stripped)
    print("\n".join(str(report).splitlines()[:6] + ["..."] + str(report).splitlines()[-1:]))
    stripped.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = stripped.evaluate(test, verbose=0)

    print("[4/6] convert to .tflite with onexn metadata")
    tflite = onexn_tf.convert(stripped)
    path = os.path.join(args.out, f"mobilenet_v2_1x{args.n}_{int(args.sparsity * 100)}.tflite")
    with open(path, "wb") as f:
        f.write(tflite)
    records = onexn_tf.read_metadata(tflite)
    print(f"      {path}: {len(tflite) / 1e6:.1f} MB, {len(records)} 1xN layers described")

    print("[5/6] stock runtime vs Keras, and which nodes the delegate claims")
    sample = next(iter(test))[0][:1].numpy()
    keras_out = stripped.predict(sample, verbose=0)
    stock_out = bench.run_once(tflite, sample, delegate=False)
    onexn_out = bench.run_once(tflite, sample, delegate=True)
    print(f"      max |stock - keras| = {np.abs(stock_out - keras_out).max():.2e}, "
          f"max |onexn - stock| = {np.abs(onexn_out - stock_out).max():.2e}")
    delegate = onexn_tf.delegate_report(tflite)
    glue, dense = len(delegate.get("glue_nodes", [])), len(delegate.get("dense_nodes", []))
    print(f"      delegate claimed {delegate['claimed']} 1xN nodes, {dense} dense layers and {glue} other operators "
          f"({delegate.get('partitions', '?')} partition(s)), declined {len(delegate['declined'])}; "
          f"{len(delegate.get('fused', []))} depthwise blocks run fused")

    print(f"[6/6] benchmark, {args.threads} thread(s), {args.runs} interleaved runs each")
    result = bench.compare(tflite, threads=args.threads, runs=args.runs, warmup=5, progress=True)
    print()
    print("summary")
    print(f"  held-out accuracy after {args.steps} steps (a demo budget, not a trained model): {accuracy:.1%}")
    print(f"  MACs: {report.macs / 1e6:.1f} M dense -> {report.macs_after / 1e6:.1f} M with 1x{args.n} blocks")
    print(f"  latency: stock XNNPACK dense {result.baseline_ms:.2f} ms, onexn {result.onexn_ms:.2f} ms, "
          f"ratio {result.ratio:.2f}")
    print(f"  model: {path}; total time {time.time() - started:.0f} s")
    return 0
