"""Models of the benchmark sweep (benchmarks/run.py): Keras applications with random weights as a user
builds them (the 1000-class softmax head), pruned one-shot with ``onexn_tf.apply_1xn`` and its default
policy, as .tflite files from ``onexn_tf.convert`` with N detected (onexn metadata; and TFLite's compact
encoding; and full integer quantization, converted from the pruned Keras model); optionally with the zeros
trained weights have (``trained_like``).

TensorFlow's converter takes 20-40 s per full-size model on this machine, so each architecture is
converted once, dense. A pruned variant is then made by running ``apply_1xn`` on the Keras model and
writing its zeros into the converted weights (``transplant_zeros``): pruning only zeroes weights, and the
converter's folding (BatchNorm scale per output channel, Dense transposed to (out, in)) keeps a zero at
the same place, so the result equals converting the pruned model (tests/test_benchmarks_models.py checks it
against a real conversion). The converter then sees .tflite bytes, not the Keras layers, so it gets no note
of the N ``apply_1xn`` pruned with and finds every N from the weights alone: a stricter test of the
detection than a user's ``convert(model)``. Files are cached on disk, keyed by the weights' fingerprint and
the head.
"""

import hashlib
import os
import re

import numpy as np
import tensorflow as tf

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras.compat import keras
from onexn_tf.keras.layers import layer_kernel, leaf_layers, pruned_n
from onexn_tf.tflite import graph

ARCHITECTURES = {
    # name -> keras.applications constructor name
    "mobilenet_v1": "MobileNet",
    "mobilenet_v2": "MobileNetV2",
    "resnet50": "ResNet50",
}


def keras_model(name, seed=0, input_size=224):
    """A keras.applications model with random weights (weights=None, seeded), as keras.applications builds
    it: the 1000-class softmax head included (the user's path; the delegate runs the SOFTMAX too)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; known: {sorted(ARCHITECTURES)}")
    keras.utils.set_random_seed(seed)
    ctor = getattr(keras.applications, ARCHITECTURES[name])
    return ctor(weights=None, input_shape=(input_size, input_size, 3))


def fingerprint(model):
    """12 hex digits identifying a model's weights (cache key)."""
    digest = hashlib.sha1()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()[:12]


def tf_convert(model, batch_size=1):
    """Single-input Keras model -> float32 .tflite bytes with TensorFlow's converter (no onexn metadata).

    The batch size is fixed (1, as deployed): with an open batch dimension the converter keeps shape
    arithmetic in the graph (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE for MobileNetV1's classifier), i.e.
    a dynamic-sized tensor that the benchmark has no reason to time.
    """
    spec = tf.TensorSpec([batch_size, *model.input_shape[1:]], tf.float32)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return bytes(tf.lite.TFLiteConverter.from_concrete_functions([function], model).convert())


# Trained weights hold zeros one-shot pruning of random weights never makes: output channels a ReLU never
# fires for (all zero), and zeros inside kept blocks that gradual pruning left when a block came back.
DEAD_CHANNELS = 0.02
STRAY_ZEROS = 0.01


def trained_like(pruned, seed, dead=DEAD_CHANNELS, stray=STRAY_ZEROS):
    """Gives the layers ``apply_1xn`` pruned (those it noted an N on) the zeros of trained weights, in place:
    in each, a share `dead` of the live output channels (at least one) all zero, and a share `stray` of the
    remaining non-zero weights (at least one) set to zero. Deterministic in `seed`. Returns `pruned`."""
    rng = np.random.default_rng(seed)
    for layer in leaf_layers(pruned):
        if pruned_n(layer) is None:
            continue
        kernel = np.array(layer.kernel.numpy())  # Conv2D HWIO or Dense (in, out): output channels last
        live = np.flatnonzero(np.any(kernel != 0, axis=tuple(range(kernel.ndim - 1))))
        dead_channels = rng.choice(live, max(1, round(dead * len(live))), replace=False)
        kernel[..., dead_channels] = 0
        kept = np.flatnonzero(kernel)
        kernel.flat[rng.choice(kept, max(1, round(stray * len(kept))), replace=False)] = 0
        layer.kernel.assign(kernel)
    return pruned


def int8_convert(model, samples=8, seed=0):
    """Keras model -> .tflite bytes of TensorFlow's full integer quantization (int8 input and output) with
    onexn's int8 records. Calibrated on `samples` standard normal inputs: random weights have no data of
    their own."""
    shape = (1, *model.input_shape[1:])

    def dataset():
        rng = np.random.default_rng(seed)
        for _ in range(samples):
            yield [rng.standard_normal(shape).astype(np.float32)]

    return onexn_tf.convert(model, representative_dataset=dataset, optimizations=[tf.lite.Optimize.DEFAULT],
                            target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                            inference_input_type=tf.int8, inference_output_type=tf.int8)


def _kernel_layers(model):
    return {layer.name: layer for layer in leaf_layers(model) if layer_kernel(layer) is not None}


def _tflite_layout(kernel):
    """A Keras kernel in the converted weight's layout: Conv2D HWIO -> OHWI, Dense (in, out) -> (out, in)."""
    return blocks.hwio_to_ohwi(kernel) if kernel.ndim == 4 else kernel.T


def transplant_zeros(tflite, pruned_model):
    """The converted dense model (bytes) with the zeros of `pruned_model`'s kernels written into its weights.

    Each Conv2D/Dense layer that has zeros must match exactly one CONV_2D/FULLY_CONNECTED weight whose
    tensor name has the layer name as a '/'-separated part (how TensorFlow names them), with the same
    shape; otherwise ValueError. Returns .tflite bytes.
    """
    model = graph.read_model(tflite)
    layers = _kernel_layers(pruned_model)
    matches = {}
    for wop in graph.weight_ops(model):
        tensor = model.subgraphs[wop.subgraph].tensors[wop.weight_tensor]
        parts = set(re.split(r"[/;]", graph.name_of(tensor)))
        for name in parts & set(layers):
            matches.setdefault(name, []).append(tensor)
    for name, layer in layers.items():
        kernel = layer_kernel(layer)
        zero = _tflite_layout(kernel) == 0
        if not zero.any():
            continue
        found = matches.get(name, [])
        if len(found) != 1:
            raise ValueError(f"layer {name!r} matches {len(found)} weight tensors of the .tflite model, expected 1")
        tensor = found[0]
        weight = graph.constant_float32(model, tensor)
        if weight is None or weight.shape != zero.shape:
            shape = None if weight is None else weight.shape
            raise ValueError(f"layer {name!r}: kernel {zero.shape} (converted layout) does not match the "
                             f"float32 weight {shape} of tensor {graph.name_of(tensor)!r}")
        pruned = np.where(zero, np.float32(0), weight).astype("<f4")
        model.buffers[tensor.buffer].data = np.frombuffer(pruned.tobytes(), dtype=np.uint8)
    return graph.write_model(model)


class Cache:
    """.tflite files under a directory (default runs/bench_cache, which git ignores)."""

    def __init__(self, root="runs/bench_cache"):
        self.root = root

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def get(self, relpath, build):
        """The bytes at `relpath`, built with `build()` and written there first when missing."""
        path = self.path(relpath)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return f.read()
        data = build()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # a run killed half-way leaves no truncated file behind
        return data


def sparsity_tag(sparsity):
    return f"s{int(round(sparsity * 100)):02d}"


# The weights of a case: as apply_1xn leaves them, or with trained_like's zeros added.
ONE_SHOT, TRAINED_LIKE = "one-shot", "trained-like"


class SweepModel:
    """One architecture: the Keras model, its dense .tflite, and pruned variants on demand (cached)."""

    def __init__(self, name, cache, seed=0):
        self.name = name
        self.cache = cache
        self.seed = seed
        self.keras = keras_model(name, seed)
        # The head is in the key: a softmax adds no weight, so the fingerprint alone matches the logits files
        # of earlier sweeps.
        self.key = f"{name}-{fingerprint(self.keras)}-b1-softmax"
        self.dense = cache.get(os.path.join(self.key, "dense.tflite"), lambda: tf_convert(self.keras))

    def pruned(self, n, sparsity, weights=ONE_SHOT):
        """{'onexn': bytes with onexn metadata (dense weights), 'compact': the same with compact=True}, pruned
        with apply_1xn's default policy and converted with N detected (no n=)."""
        if weights not in (ONE_SHOT, TRAINED_LIKE):
            raise ValueError(f"weights must be {ONE_SHOT!r} or {TRAINED_LIKE!r}, got {weights!r}")
        base = os.path.join(self.key, f"1x{n}-{sparsity_tag(sparsity)}-{weights}")
        plain = None

        def get_plain():
            nonlocal plain
            if plain is None:
                pruned = onexn_tf.apply_1xn(self.keras, n, sparsity)
                if weights == TRAINED_LIKE:
                    trained_like(pruned, self.seed)
                plain = transplant_zeros(self.dense, pruned)
            return plain

        return {
            "onexn": self.cache.get(base + ".tflite", lambda: onexn_tf.convert(get_plain())),
            "compact": self.cache.get(base + "-compact.tflite", lambda: onexn_tf.convert(get_plain(), compact=True)),
        }


    def int8(self, n, sparsity):
        """The model pruned with the default policy (issue 17's targets), fully int8-quantized (cached)."""
        return self.cache.get(os.path.join(self.key, f"1x{n}-{sparsity_tag(sparsity)}-int8.tflite"),
                              lambda: int8_convert(onexn_tf.apply_1xn(self.keras, n=n, sparsity=sparsity)))


def pointwise_convs(tflite):
    """Distinct 1x1 stride-1 CONV_2D shapes of a model: list of (op_index, (h, w, cin, cout)), first seen."""
    model = graph.read_model(tflite)
    subgraph = model.subgraphs[0]
    seen, found = set(), []
    for i, op in enumerate(subgraph.operators or []):
        if graph.builtin_code(model, op) != graph.CONV_2D:
            continue
        x = [int(d) for d in subgraph.tensors[op.inputs[0]].shape]
        w = [int(d) for d in subgraph.tensors[op.inputs[1]].shape]
        strides = (getattr(op.builtinOptions, "strideH", 1), getattr(op.builtinOptions, "strideW", 1))
        if len(w) != 4 or w[1:3] != [1, 1] or strides != (1, 1) or len(x) != 4:
            continue
        shape = (x[1], x[2], x[3], w[0])
        if shape not in seen:
            seen.add(shape)
            found.append((i, shape))
    return found


def xnnpack_sparse_probe(seed=0):
    """A small model in the shape XNNPACK's sparse (NCHW) inference looks for, 1x1 weights 90% zero.

    XNNPACK rewrites a graph for sparse inference only when (among other conditions) a cluster starts with
    a 3x3 stride-2 convolution over 3 channels padded by 1 on every side, continues with 1x1 convolutions
    whose weights are more than 2/3 zeros, and ends in a global average pooling; and the TFLite delegate
    asks for it only when a DENSIFY operator feeds a weight (the compact encoding). Returns
    ``(dense_bytes, compact_bytes)``: if the compact file is not faster than the dense one here, the sparse
    path does not engage on this machine at all.
    """
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((224, 224, 3))
    x = layers.ZeroPadding2D(1)(inputs)  # explicit symmetric padding: XNNPACK fuses PAD into the conv
    x = layers.ReLU(6.0)(layers.Conv2D(32, 3, strides=2, padding="valid")(x))
    for filters in (64, 256, 256):
        x = layers.ReLU(6.0)(layers.Conv2D(filters, 1)(x))
    model = keras.Model(inputs, layers.GlobalAveragePooling2D()(x))
    pruned = onexn_tf.apply_1xn(model, n=1, sparsity=0.9)
    plain = tf_convert(pruned)
    return onexn_tf.convert(plain, n=1), onexn_tf.convert(plain, n=1, compact=True)
