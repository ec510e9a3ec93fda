"""Accuracy study: does 1xN pruning keep accuracy better than filter pruning, as the paper claims?

Trains a small CNN on scikit-learn's 8x8 digits (shipped with the wheel, no download), then prunes the
same layers to the same per-layer weight sparsity with the same fine-tuning budget (epochs, optimizer,
gradual ``PolynomialDecay`` schedule) using:

  - dense             no pruning, fine-tuned the same number of epochs (the fair reference);
  - unstructured      per-weight magnitude (tfmot's ``prune_low_magnitude`` under tf_keras);
  - filter            whole output channels zeroed by L1 norm (_baselines_tf_keras.py / _baselines_keras3.py);
  - 1xN               ``onexn_tf.prune_1xn`` for N in {2, 4, 8, 16};
  - 1xN + rearrange   ``onexn_tf.rearrange_filters`` on the trained dense model, then ``prune_1xn``.

Every method starts from the same dense weights of a seed; results are mean +- std over seeds of top-1
(and cross-entropy) on a fixed held-out split. Writes ``accuracy.md``, ``accuracy.png`` and
``accuracy.json`` to ``--out-dir`` (``accuracy_keras3.*`` with ``--keras 3``).

``--keras 3`` runs the whole study on Keras 3 (TensorFlow backend) with no tfmot in the program: every
method uses onexn's Keras 3 wrapper, schedule and step callback.

    python examples/compare_patterns.py             # full study, writes docs/accuracy.{md,png,json}
    python examples/compare_patterns.py --keras 3   # the same on Keras 3, writes docs/accuracy_keras3.*
    python examples/compare_patterns.py --quick     # 1 seed, 1 sparsity, tiny budget (for the tests)
"""

import argparse
import dataclasses
import datetime
import importlib
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

import onexn_tf
from onexn_tf import blocks

FLAVOURS = {"tf_keras": "_baselines_tf_keras", "3": "_baselines_keras3"}
keras = None      # the run's Keras (tf_keras or Keras 3), set by use_flavour
baselines = None  # the run's unstructured and filter wrappers (_baselines_tf_keras or _baselines_keras3)


def use_flavour(name):
    """Loads the Keras flavour of the run: "tf_keras" (the baselines use tfmot) or "3" (Keras 3, no tfmot)."""
    global keras, baselines
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the baselines modules live next to this file
    baselines = importlib.import_module(FLAVOURS[name])
    keras = baselines.keras


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple = (0, 1, 2)
    sparsities: tuple = (0.5, 0.75, 0.9)
    ns: tuple = (2, 4, 8, 16)
    rearrange: bool = True
    train_epochs: int = 30         # dense training from scratch
    finetune_epochs: int = 10      # the same budget for every method, dense included
    ramp_fraction: float = 0.5     # sparsity ramps 0 -> target over this part of fine-tuning, then holds
    prune_frequency: int = 5       # steps between mask updates
    batch_size: int = 64
    train_lr: float = 2e-3
    finetune_lr: float = 1e-3
    test_fraction: float = 1 / 3
    split_seed: int = 0            # the held-out split is fixed, whatever the seed


FULL = Config()
QUICK = Config(seeds=(0,), sparsities=(0.75,), ns=(4, 16), train_epochs=6, finetune_epochs=2)

# --------------------------------------------------------------------------------------------------- data


def load_digits_split(cfg):
    """scikit-learn's 1,797 8x8 digits, scaled to [0, 1], with a fixed stratified held-out split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int64), test_size=cfg.test_fraction,
        random_state=cfg.split_seed, stratify=digits.target)
    return (x_train, y_train), (x_test, y_test)

# -------------------------------------------------------------------------------------------------- model


def build_model():
    """A small CNN: a dense stem (1 input channel, kept dense by Prune1xNPolicy), three prunable convs
    with channel counts that are multiples of 16, and a Dense(10) head (kept dense by every method)."""
    def conv_bn_relu(x, filters, size, name):
        x = keras.layers.Conv2D(filters, size, padding="same", use_bias=False, name=name)(x)
        # momentum 0.9: with ~40 steps an epoch, Keras' default 0.99 leaves the moving statistics stale.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input((8, 8, 1), name="digits")
    x = conv_bn_relu(inputs, 16, 3, "stem")
    x = conv_bn_relu(x, 32, 3, "conv1")
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = conv_bn_relu(x, 64, 3, "conv2")
    x = conv_bn_relu(x, 64, 1, "conv3")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x), name="digits_cnn")


HEAD = "head"


def policy_for(n):
    """The 1xN policy of the study: its default rules (the stem stays dense), and the head stays dense."""
    return onexn_tf.Prune1xNPolicy(n, exclude=(HEAD,))


def pruned_layer_names(model, ns):
    """The layers every method prunes: those the 1xN policy accepts for every N of the study."""
    names = [layer.name for layer in model.layers if all(policy_for(n).allow_pruning(layer) for n in ns)]
    if not names:
        raise ValueError("no layer can be pruned for every N")
    return names


def copy_model(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def compile_model(model, lr):
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def evaluate(model, x, y):
    """(top-1 accuracy, mean cross-entropy) of the logits on (x, y)."""
    logits = model(x, training=False).numpy().astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(np.mean(logits.argmax(axis=1) == y)), float(-np.mean(log_probs[np.arange(len(y)), y]))

# ----------------------------------------------------------------------------------------------- methods


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    pattern: str        # "dense", "unstructured", "filter" or "1xN"
    n: int = 0
    rearrange: bool = False


def methods_for(cfg):
    out = [Method("dense", "dense"), Method("unstructured", "unstructured"), Method("filter", "filter")]
    for n in cfg.ns:
        out.append(Method(f"1x{n}", "1xN", n))
        if cfg.rearrange:
            out.append(Method(f"1x{n} + rearrange", "1xN", n, True))
    return out


def wrap_for(method, base, schedule, names):
    """A model with this method's pruning wrappers on the layers `names`; it shares `base`'s layers (as
    tfmot does), so pass a throwaway copy."""
    if method.pattern == "1xN":
        return onexn_tf.prune_1xn(base, n=method.n, pruning_schedule=schedule, pruning_policy=policy_for(method.n))

    def clone_fn(layer):
        if layer.name not in names:
            return layer
        if method.pattern == "unstructured":
            return baselines.unstructured(layer, schedule)
        return baselines.filters(layer, schedule)

    return keras.models.clone_model(base, clone_function=clone_fn)


def schedule_for(cfg, sparsity, steps_per_epoch):
    """Gradual PolynomialDecay 0 -> sparsity, ending on a mask update so the target is reached exactly."""
    total = cfg.finetune_epochs * steps_per_epoch
    freq = cfg.prune_frequency
    end = max(freq, int(cfg.ramp_fraction * total) // freq * freq)
    if end > total:
        raise ValueError(f"fine-tuning ({total} steps) is shorter than one pruning interval ({freq} steps)")
    return onexn_tf.PolynomialDecay(0.0, sparsity, begin_step=0, end_step=end, frequency=freq)


def check_pattern(kernel, method, sparsity):
    """Raises if a stripped kernel does not have the method's pattern at the target weight sparsity."""
    zeros = float(np.mean(kernel == 0))
    cout = kernel.shape[-1]
    if method.pattern == "dense":
        ok = zeros == 0.0
    elif method.pattern == "unstructured":
        ok = abs(zeros - sparsity) <= 1.5 / kernel.size
    elif method.pattern == "filter":
        dead = np.all(kernel.reshape(-1, cout) == 0, axis=0)
        ok = zeros == dead.mean() and dead.sum() == blocks.num_pruned_blocks(cout, sparsity)
    else:
        total = blocks.kept_blocks(kernel, method.n).size
        ok = (blocks.blocks_explain_zeros(kernel, method.n)
              and abs(zeros - blocks.num_pruned_blocks(total, sparsity) / total) < 1e-9)
    if not ok:
        raise RuntimeError(f"{method.name} at {sparsity:.0%}: kernel {kernel.shape} has weight sparsity "
                           f"{zeros:.4f}, not the intended pattern")
    return zeros

# --------------------------------------------------------------------------------------------------- study


def log(message):
    print(message, flush=True)


def train_dense(cfg, seed, data):
    """A freshly initialised model trained from scratch on the training split."""
    (x_train, y_train), _ = data
    keras.utils.set_random_seed(seed)
    dense = build_model()
    compile_model(dense, cfg.train_lr)
    dense.fit(x_train, y_train, batch_size=cfg.batch_size, epochs=cfg.train_epochs, verbose=0)
    return dense


def rearranged_models(cfg, dense, x_check):
    """``rearrange_filters`` of the trained dense model for every N, each checked to compute the same logits."""
    models, diffs = {}, []
    for n in cfg.ns if cfg.rearrange else ():
        models[n] = onexn_tf.rearrange_filters(copy_model(dense), n, policy=policy_for(n))
        diff = float(np.max(np.abs(models[n](x_check, training=False) - dense(x_check, training=False))))
        if diff > 1e-3:
            raise RuntimeError(f"rearrange_filters(n={n}) changed the model's outputs (max diff {diff})")
        diffs.append({"n": n, "max_abs_diff": diff})
    return models, diffs


def finetune(cfg, method, start, sparsity, seed, data, names):
    """Fine-tunes a copy of `start` with this method's pruning; returns the plain (stripped) model."""
    (x_train, y_train), _ = data
    model = copy_model(start)
    callbacks = []
    if method.pattern != "dense":
        schedule = schedule_for(cfg, sparsity, math.ceil(len(x_train) / cfg.batch_size))
        model = wrap_for(method, model, schedule, names)
        wrapped = sorted(l.layer.name for l in model.layers if baselines.is_wrapper(l))
        if wrapped != sorted(names):
            raise RuntimeError(f"{method.name} wrapped {wrapped}, expected {sorted(names)}")
        callbacks = [onexn_tf.UpdatePruningStep()]
    keras.utils.set_random_seed(seed + 1000)  # the same batches for every method of a seed
    compile_model(model, cfg.finetune_lr)
    model.fit(x_train, y_train, batch_size=cfg.batch_size, epochs=cfg.finetune_epochs, verbose=0,
              callbacks=callbacks)
    return onexn_tf.strip_1xn(model) if callbacks else model


def run_study(cfg, kernels_path=None):
    """Runs every (seed, sparsity, method); returns the results as a JSON-ready dict."""
    start = time.perf_counter()
    data = load_digits_split(cfg)
    (x_train, _), (x_test, y_test) = data
    methods = methods_for(cfg)
    log(f"digits: {len(x_train)} train / {len(x_test)} held-out images; {len(cfg.seeds)} seed(s), "
        f"sparsities {[f'{s:.0%}' for s in cfg.sparsities]}, {len(methods)} methods")
    results = {"config": dataclasses.asdict(cfg), "train_size": len(x_train), "test_size": len(x_test),
               "dense_pretrained": [], "runs": [], "rearrange_max_abs_diff": []}
    kernels = {}
    for seed in cfg.seeds:
        t0 = time.perf_counter()
        dense = train_dense(cfg, seed, data)
        names = pruned_layer_names(dense, cfg.ns)
        kept_dense = [l.name for l in dense.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))
                      and l.name not in names]
        results.update(pruned_layers=names, dense_layers=kept_dense)
        acc, loss = evaluate(dense, x_test, y_test)
        results["dense_pretrained"].append({"seed": seed, "accuracy": acc, "loss": loss})
        log(f"[seed {seed}] dense trained {cfg.train_epochs} epochs: top-1 {acc:.4f}, loss {loss:.4f} "
            f"({time.perf_counter() - t0:.1f} s)")
        rearranged, diffs = rearranged_models(cfg, dense, x_test)
        results["rearrange_max_abs_diff"] += [dict(d, seed=seed) for d in diffs]
        for sparsity in cfg.sparsities:
            for method in methods:
                if method.pattern == "dense" and sparsity != cfg.sparsities[0]:
                    continue  # the dense baseline does not depend on the sparsity: fine-tune it once
                t0 = time.perf_counter()
                target = 0.0 if method.pattern == "dense" else sparsity
                final = finetune(cfg, method, rearranged[method.n] if method.rearrange else dense, target, seed,
                                 data, names)
                layer_sparsity = {}
                for name in names + kept_dense:
                    kernel = final.get_layer(name).kernel.numpy()
                    if name in names:
                        layer_sparsity[name] = check_pattern(kernel, method, target)
                    elif np.any(kernel == 0):
                        raise RuntimeError(f"{method.name}: layer {name} should stay dense")
                    if kernels_path and seed == cfg.seeds[0]:
                        kernels[f"{method.name}|{target}|{name}"] = kernel
                acc, loss = evaluate(final, x_test, y_test)
                seconds = time.perf_counter() - t0
                results["runs"].append({"seed": seed, "sparsity": target, "method": method.name,
                                        "pattern": method.pattern, "n": method.n, "rearrange": method.rearrange,
                                        "accuracy": acc, "loss": loss, "weight_sparsity": layer_sparsity,
                                        "seconds": seconds})
                log(f"[seed {seed}] {target:4.0%} {method.name:18} top-1 {acc:.4f}  loss {loss:.4f}  "
                    f"({seconds:.1f} s, {time.perf_counter() - start:.0f} s total)")
    if kernels_path:
        np.savez(kernels_path, **kernels)
    results["methods"] = [dataclasses.asdict(m) for m in methods]
    results["runtime_seconds"] = time.perf_counter() - start
    return results

# ------------------------------------------------------------------------------------------------- report


def summarize(results):
    """{(method, sparsity): {"acc": (mean, std), "loss": (mean, std), "per_seed": [...]}}."""
    table = {}
    for run in results["runs"]:
        table.setdefault((run["method"], run["sparsity"]), []).append(run)
    out = {}
    for key, runs in table.items():
        accs = np.array([r["accuracy"] for r in runs])
        losses = np.array([r["loss"] for r in runs])
        out[key] = {"acc": (accs.mean(), accs.std()), "loss": (losses.mean(), losses.std()),
                    "per_seed": {r["seed"]: r["accuracy"] for r in runs}}
    return out


def paired_gain(results, better, worse, sparsity, metric="accuracy"):
    """Mean and std over seeds of how much `better` beats `worse` (accuracy difference, or loss reduction),
    each seed's pair starting from the same dense model. None if either is missing."""
    value = {(r["method"], r["sparsity"], r["seed"]): r[metric] for r in results["runs"]}
    sign = 1.0 if metric == "accuracy" else -1.0
    diffs = np.array([sign * (value[(better, sparsity, s)] - value[(worse, sparsity, s)])
                      for s in results["config"]["seeds"] if (better, sparsity, s) in value
                      and (worse, sparsity, s) in value])
    return (diffs.mean(), diffs.std()) if diffs.size else None


def pct(mean_std):
    mean, std = mean_std
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def verdict(gain, test_size):
    """The paper expects gain > 0: agrees / disagrees only when the mean difference is larger than both its
    std over seeds and one held-out image."""
    mean, std = gain
    if abs(mean) <= max(std, 1.0 / test_size):
        return "within noise"
    return "agrees" if mean > 0 else "disagrees"


def paper_comparison(results, summary):
    """A table of the paper's claims against this run, and plain sentences saying where they hold."""
    cfg = results["config"]
    sparsities = cfg["sparsities"]
    claims = [(f"1×{n} − filter", f"1x{n}", "filter", "+2.7 (1×4)" if n == 4 else "") for n in cfg["ns"]]
    claims.append(("unstructured − 1×4", "unstructured", "1x4", "+1.7"))
    if cfg["rearrange"]:
        claims += [(f"1×{n} + rearrange − 1×{n}", f"1x{n} + rearrange", f"1x{n}", "+0.1 to +0.4" if n == 4 else "")
                   for n in cfg["ns"]]
    cols = [f"{s:.0%}" for s in sparsities]
    lines = ["| paired top-1 difference (points) | paper, 50% | " + " | ".join(cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    tally = {}
    for label, better, worse, paper in claims:
        cells = []
        for s in sparsities:
            gain = paired_gain(results, better, worse, s)
            if gain is None:
                cells.append("—")
                continue
            word = verdict(gain, results["test_size"])
            tally.setdefault(label, []).append((s, word))
            cells.append(f"{100 * gain[0]:+.1f} ± {100 * gain[1]:.1f} ({word})")
        lines.append(f"| {label} | {paper} | " + " | ".join(cells) + " |")
    lines += ["", "\"agrees\" / \"disagrees\": the mean paired difference has / has not the paper's sign and "
              "is larger than both its std over seeds and one held-out image "
              f"({100 / results['test_size']:.2f} points); \"within noise\" otherwise. With "
              f"{len(cfg['seeds'])} seed(s) this is a descriptive rule, not a significance test.", ""]
    for label, outcomes in tally.items():
        by_verdict = {}
        for s, v in outcomes:
            by_verdict.setdefault(v, []).append(f"{s:.0%}")
        lines.append(f"- {label}: " + "; ".join(f"{v} at {', '.join(ss)}" for v, ss in by_verdict.items()) + ".")
    dense = summary[("dense", 0.0)]["acc"][0]
    pruned = [m["name"] for m in results["methods"] if m["pattern"] != "dense"]
    lines.append("")
    for s in sparsities:
        near = [m for m in pruned if dense - summary[(m, s)]["acc"][0] < 0.005]
        by_acc = sorted(pruned, key=lambda m: -summary[(m, s)]["acc"][0])
        by_loss = sorted(pruned, key=lambda m: summary[(m, s)]["loss"][0])
        saturation = (f" {len(near)} of {len(pruned)} pruned methods are within 0.5 points of dense "
                      f"({100 * dense:.1f}%)" + (": top-1 saturates here." if len(near) == len(pruned) else "."))
        lines.append(f"- **{s:.0%}**:{saturation} Order by mean top-1: {' > '.join(by_acc)}. "
                     f"Order by mean test loss (lower first): {' < '.join(by_loss)}.")
    return lines


def other_run_comparison(results, summary, other):
    """Markdown comparing this run's top-1 with another run's (its accuracy.json), cell by cell.

    The runs start from different dense models (another Keras initialises differently from the same seed),
    so the comparison is unpaired: a cell is "within noise" when the means differ by no more than the sum of
    the two stds or one held-out image, whichever is larger."""
    theirs = summarize(other)
    image = 1.0 / results["test_size"]
    sparsities = results["config"]["sparsities"]
    lines = ["## Against the " + other.get("keras", "tf_keras") + " run", "",
             f"`{other['command']}` ({other['date']}) against this run: top-1 mean ± std (%), "
             f"{other.get('keras', 'tf_keras')} → {results['keras']}. \"within noise\": the means differ by no more "
             f"than the sum of the two stds or one held-out image ({100 * image:.2f} points).", "",
             "| method | " + " | ".join(f"{s:.0%}" for s in sparsities) + " |", "|---|" + "---:|" * len(sparsities)]
    verdicts = {}  # (method, sparsity) -> word; the dense row repeats one cell
    for m in results["methods"]:
        keys = [("dense", 0.0)] * len(sparsities) if m["name"] == "dense" else [(m["name"], s) for s in sparsities]
        cells = []
        for key in keys:
            if key not in theirs:
                cells.append("—")
                continue
            (a, sa), (b, sb) = theirs[key]["acc"], summary[key]["acc"]
            word = verdicts[key] = "within noise" if abs(b - a) <= max(sa + sb, image) + 1e-12 else "differs"
            cells.append(f"{100 * a:.1f} ± {100 * sa:.1f} → {100 * b:.1f} ± {100 * sb:.1f} ({100 * (b - a):+.1f}, {word})")
        lines.append(f"| {m['name']} | " + " | ".join(cells) + " |")
    words = list(verdicts.values())
    lines += ["", f"{words.count('within noise')} of {len(words)} (method, sparsity) results within noise, "
              f"{words.count('differs')} differ."]
    return lines


def write_plot(results, summary, path):
    """Top-1 and test loss against sparsity, one line per method, dense as a dashed reference."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = results["config"]
    xs = [100 * s for s in cfg["sparsities"]]
    dense = summary[("dense", 0.0)]
    shades = plt.get_cmap("Blues")(np.linspace(0.45, 1.0, len(cfg["ns"])))
    # Top-1 *error* on a log axis: the patterns differ by fractions of a point near 100% accuracy and by
    # tens of points at high sparsity; a linear accuracy axis would hide one or the other.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, metric, label in ((axes[0], "err", "top-1 error on the held-out split (%)"),
                              (axes[1], "loss", "test cross-entropy")):
        def value(stats):
            return (100 * (1 - stats["acc"][0]), 100 * stats["acc"][1]) if metric == "err" else stats["loss"]
        ax.axhline(value(dense)[0], color="black", linestyle=":", label="dense (fine-tuned)")
        for m in results["methods"]:
            if m["pattern"] == "dense":
                continue
            if m["pattern"] == "1xN":
                style = dict(color=shades[cfg["ns"].index(m["n"])], marker="o",
                             linestyle="--" if m["rearrange"] else "-", mfc="white" if m["rearrange"] else None)
            else:
                style = dict(color="tab:gray", marker="s") if m["pattern"] == "unstructured" else dict(
                    color="tab:red", marker="v")
            stats = [value(summary[(m["name"], s)]) for s in cfg["sparsities"]]
            ax.errorbar(xs, [v for v, _ in stats], yerr=[e for _, e in stats], capsize=3,
                        label=m["name"].replace("x", "×"), **style)
        ax.set_xlabel("weight sparsity of the pruned layers (%)")
        ax.set_ylabel(label)
        ax.set_xticks(xs)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("symlog", linthresh=100 / results["test_size"])  # one test image: linear below
    axes[0].set_ylim(bottom=0)
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"8×8 digits, held-out split: mean ± std over {len(cfg['seeds'])} seed(s), {results['keras']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def write_markdown(results, summary, path, command, plot_name, other=None):
    cfg = results["config"]
    methods = results["methods"]
    dense = summary[("dense", 0.0)]
    pre = [p["accuracy"] for p in results["dense_pretrained"]]
    cols = [f"{s:.0%}" for s in cfg["sparsities"]]
    lines = [
        "# Accuracy study: 1×N against unstructured and filter pruning (8×8 digits)"
        + ("" if results["keras"] == "tf_keras" else f", {results['keras']}"),
        "",
        "Generated by `examples/compare_patterns.py`; do not edit by hand, re-run it.",
        "",
        f"- Command: `{command}`",
        f"- Date: {results['date']}; runtime {results['runtime_seconds']:.0f} s",
        f"- Machine: {results['machine']}; TensorFlow {tf.__version__}, {baselines.VERSIONS}",
        f"- Data: scikit-learn 8×8 digits, {results['train_size']} training / {results['test_size']} held-out "
        f"images (fixed stratified split, seed {cfg['split_seed']}), pixels scaled to [0, 1].",
        "- Model: stem conv3×3(16) → conv3×3(32) → maxpool → conv3×3(64) → conv1×1(64) → global pool → "
        "Dense(10); BN + ReLU after every conv. "
        f"Pruned layers (every method, same target per layer): {', '.join(results['pruned_layers'])}. "
        f"Kept dense by every method: {', '.join(results['dense_layers'])} (the stem reads 1 input channel, "
        "which Prune1xNPolicy leaves dense as the paper does; the 10-way head is excluded so that every "
        "method prunes the same layers).",
        f"- Budget: dense training {cfg['train_epochs']} epochs (Adam {cfg['train_lr']}); then every method, "
        f"dense included, fine-tunes {cfg['finetune_epochs']} epochs (Adam {cfg['finetune_lr']}, batch "
        f"{cfg['batch_size']}, the same batches) with a PolynomialDecay schedule 0 → target over the first "
        f"{cfg['ramp_fraction']:.0%} of the steps, a mask update every {cfg['prune_frequency']} steps. "
        "No hyper-parameter was tuned per method and nothing is selected on the held-out split.",
        f"- Seeds: {', '.join(map(str, cfg['seeds']))} (initialisation and batch order; every method of a seed "
        "starts from that seed's trained dense model). Numbers are mean ± std (population) over seeds.",
        "- Filter pruning zeros the round(s·cout) output channels of lowest L1 norm (weight sparsity s, like "
        f"the others); 1×N zeros the lowest-L1 1×N blocks (`prune_1xn`); {baselines.UNSTRUCTURED}. Every "
        "stripped kernel is checked for its pattern and exact sparsity.",
        "",
        f"Dense model after training, before fine-tuning: top-1 {pct((np.mean(pre), np.std(pre)))}%.",
        "",
        "## Top-1 accuracy on the held-out split (%)",
        "",
        "| method | pattern | " + " | ".join(cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for m in methods:
        if m["name"] == "dense":
            cells = [pct(dense["acc"]) + " (0%)"] * len(cols)
        else:
            cells = [pct(summary[(m["name"], s)]["acc"]) for s in cfg["sparsities"]]
        pattern = "1×N" if m["pattern"] == "1xN" else m["pattern"]
        lines.append(f"| {m['name']} | {pattern} | " + " | ".join(cells) + " |")
    lines += ["", "The dense row is the unpruned model with the same fine-tuning, repeated in every column as "
              "the reference.", "", "## Test cross-entropy (lower is better)", "",
              "| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for m in methods:
        key = [("dense", 0.0)] * len(cols) if m["name"] == "dense" else [(m["name"], s) for s in cfg["sparsities"]]
        lines.append(f"| {m['name']} | " + " | ".join(
            f"{summary[k]['loss'][0]:.3f} ± {summary[k]['loss'][1]:.3f}" for k in key) + " |")
    lines += ["", f"![accuracy per method and sparsity]({plot_name})", "",
              "## Against the paper", "",
              "Paper (ImageNet, MobileNetV2, 50%): dense 71.7, unstructured weight pruning 71.1, filter pruning "
              "66.7, 1×4 69.4; filter rearrangement +0.1 to +0.4. Below, each difference is taken per seed "
              "(both methods start from that seed's dense model), then mean ± std over seeds.", ""]
    lines += paper_comparison(results, summary)
    if results["rearrange_max_abs_diff"]:
        worst = max(r["max_abs_diff"] for r in results["rearrange_max_abs_diff"])
        lines += ["", f"`rearrange_filters` preserved the dense model's function: max |logit difference| "
                  f"{worst:.1e} over all seeds and N."]
    if other is not None:
        lines += [""] + other_run_comparison(results, summary, other)
    lines += ["", "Caveat: 8×8 digits and a 28k-weight CNN are a far smaller problem than ImageNet; the study "
              "checks the ordering of the patterns, not the paper's absolute numbers.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keras", choices=sorted(FLAVOURS), default="tf_keras",
                        help="the Keras of the run: tf_keras (with tfmot, default) or 3 (Keras 3, no tfmot)")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 75%% sparsity, N in {4, 16}, tiny budget: a smoke run of every pattern (~1 min)")
    parser.add_argument("--out-dir", help="where accuracy.{md,png,json} (accuracy_keras3.* with --keras 3) go "
                        "(default: docs/, or a temporary directory with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the seeds")
    parser.add_argument("--sparsities", type=float, nargs="+", help="override the sparsities, each in (0, 1)")
    parser.add_argument("--ns", type=int, nargs="+", help="override the block widths N")
    parser.add_argument("--no-rearrange", action="store_true", help="skip the rearrange_filters variants")
    parser.add_argument("--save-kernels", help="also save the first seed's stripped kernels to this .npz")
    parser.add_argument("--compare-with", metavar="JSON", help="another run's accuracy.json (e.g. the tf_keras "
                        "run's, docs/accuracy.json): the report then compares the two tables cell by cell")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    overrides = {}
    if args.seeds:
        overrides["seeds"] = tuple(args.seeds)
    if args.sparsities:
        for s in args.sparsities:
            if not 0.0 < s < 1.0:
                parser.error(f"--sparsities: {s} is not in (0, 1)")
        overrides["sparsities"] = tuple(args.sparsities)
    if args.ns:
        for n in args.ns:
            if n < 1 or 16 % n:
                parser.error(f"--ns: {n} does not divide 16 (the smallest pruned layer's width)")
        overrides["ns"] = tuple(args.ns)
    if args.no_rearrange:
        overrides["rearrange"] = False
    return args, dataclasses.replace(cfg, **overrides)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args, cfg = parse_args(argv)
    other = None
    if args.compare_with:
        with open(args.compare_with) as f:
            other = json.load(f)
    use_flavour(args.keras)
    out_dir = args.out_dir or (tempfile.mkdtemp(prefix="compare_patterns_") if args.quick else
                               os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs"))
    os.makedirs(out_dir, exist_ok=True)
    results = run_study(cfg, kernels_path=args.save_kernels)
    results["date"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    results["machine"] = machine_description()
    results["command"] = " ".join(["python examples/compare_patterns.py", *map(shlex.quote, argv)])
    summary = summarize(results)
    stem = "accuracy" if args.keras == "tf_keras" else "accuracy_keras3"
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("md", "png", "json")}
    results["keras"] = baselines.NAME
    write_plot(results, summary, paths["png"])
    write_markdown(results, summary, paths["md"], results["command"], f"{stem}.png", other)
    with open(paths["json"], "w") as f:
        json.dump(results, f, indent=1)
    log(f"done in {results['runtime_seconds']:.0f} s: " + ", ".join(os.path.normpath(p) for p in paths.values()))
    return results


if __name__ == "__main__":
    main()
