"""Differential fuzzing of random Keras architectures: the onexn delegate vs the stock runtime (issue 18).

A seed gives a ``Case``, a small description of one model and of how to run it. The case gives a standalone
Python script that builds the model, prunes it 1xN, converts it and compares the delegate's outputs with the
stock runtime's (ai_edge_litert with XNNPACK) on the same file and inputs. The runner executes exactly that
script, so the script printed for a failing seed is its reproduction (shrunk to the fewest layers and
options that still fail). Only the public API is used: what a user does is what is tested. One tf_keras
case in five is converted to full int8 (INT8_SHARE) and compared in quantization steps.

A case builds its model with tf_keras or with Keras 3. The Keras flavour is fixed per process (``tf.keras``
follows TF_USE_LEGACY_KERAS, and tfmot sets it when imported), so a case of the other flavour runs in a
subprocess; this module imports neither Keras itself (the Keras 3 suite, tests/keras3, must not load tf_keras).

    python tests/fuzz_models.py --seeds 0-99             # one line per failure, then a summary
    python tests/fuzz_models.py --minutes 5 --start 1000
    python tests/fuzz_models.py --repro 123              # the shrunk reproduction of seed 123

Longer campaigns with a log of every failure: scripts/fuzz_models.sh. Results: docs/RELIABILITY.md.
"""

import argparse
import contextlib
import dataclasses
import faulthandler
import functools
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402

import onexn_tf  # noqa: E402  (loads nothing of TensorFlow or Keras until a case needs it)

# Delegate vs stock, per output: |onexn - stock| <= RTOL * max|stock|. Both runtimes sum the same float32
# products in different orders (blocked by N, by pixel tile, FMA or not); each order is within about
# sqrt(K) * 2^-24 of the exact sum relative to sum|w*x| for K terms, i.e. a few 1e-6 for the largest K
# here (5*5*64 = 1600), growing roughly linearly over a dozen layers. A wrong block or a wrong bias changes an
# output by a whole weight*activation term, 1e-2 or more of the scale. docs/RELIABILITY.md has the measured
# spread; the floor keeps an all-but-zero output (everything clipped by ReLU) from demanding exactness.
RTOL = 1e-4
SCALE_FLOOR = 1e-3

CATEGORIES = ("convnet", "mobilenet", "dense")
KERNELS = ("auto", "scalar", "avx2", "avx512")
ACTIVATIONS = ("relu", "relu6", "hard_swish", "tanh", "leaky_relu", None)
N_CHOICES = (1, 2, 4, 8, 16, 32, 3, 5, 6, 7, 12, 24)
DENSE = ("never", "auto", "always")
KERAS = ("tf_keras", "keras3")
KERAS_IMPORT = {"tf_keras": "import tf_keras as keras", "keras3": "import keras"}
# int8 cases: the model converted with full-integer quantization (int8 input and output, calibrated on
# random inputs), both runtimes fed the same int8 input; every output within INT8_STEPS quantization steps
# of the stock runtime's (issue 17: XNNPACK requantizes in fp32, onexn too, so most outputs are equal). The
# claims are not checked for them: which int8 nodes the delegate takes depends on the CPU (N <= 4 and small
# layers declined, and with AMX an estimate against XNNPACK on the tiles), while dense="never" takes them all.
# Only tf_keras cases so far (Keras 3's int8 conversion is not exercised here).
INT8_SHARE = 0.2
INT8_KERAS = ("tf_keras",)
INT8_STEPS = 1
# Declines that are legitimate for a model of this generator (the record's node runs on the stock runtime).
LEGITIMATE_DECLINES = ("fused activation",)
# With dense=auto and glue=auto, the delegate leaves a graph whose every 1xN node would run all its blocks to
# the stock runtime: every record's node is declined so, and nothing at all is claimed.
TOO_LITTLE_TO_GAIN = "the 1xN nodes of the graph gain too little"

# The seeds of the default test run, chosen so that the cases of each Keras exercise every feature of FEATURES;
# each runs in the pytest process of its Keras (tests/test_fuzz_models.py, tests/keras3/test_fuzz_models.py),
# a few minutes on 2 cores in all (docs/RELIABILITY.md).
FIXED_SEEDS = list(range(32)) + [96, 258, 279, 286, 453, 479, 486, 578, 1644]
FEATURES = {
    "category convnet", "category mobilenet", "category dense",
    "Conv2D", "non-square kernel", "stride", "dilation", "padding valid", "DepthwiseConv2D", "depth_multiplier 2",
    "BatchNormalization", "Add", "Concatenate", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "ZeroPadding2D", "Flatten", "Reshape", "Dense on 2-D", "Dense on 3-D", "Dense on 4-D",
    "activation relu", "activation relu6", "activation hard_swish", "activation tanh", "activation leaky_relu",
    "shared layer", "inverted residual", "batch fixed", "batch unknown", "N power of two", "N other",
    "compact True", "compact False", "rearrange True", "rearrange False", "glue auto", "glue off", "glue all",
    "fuse 0", "fuse 1", "threads > 1", "re-invoke", "resize", "resize spatial", "shared delegate",
    "Dense shape set at run time", "dense never", "dense auto", "dense always", "keras tf_keras", "keras keras3",
    "int8",
}


def fixed_seeds(keras):
    """The fixed seeds whose cases build their model with ``keras``."""
    return [seed for seed in FIXED_SEEDS if generate(seed).keras == keras]


def uncovered(keras):
    """The features (FEATURES, and the kernels this CPU has) that no fixed seed of ``keras`` exercises."""
    features = {f for f in FEATURES if not f.startswith("keras ")} | {f"keras {keras}"}
    if keras not in INT8_KERAS:
        features.discard("int8")
    features |= {f"kernel {k}" for k in available_kernels()}
    return features - set().union(*(generate(seed).tags() for seed in fixed_seeds(keras)))


@dataclass(frozen=True)
class Case:
    """One fuzz case. ``lines`` is the Keras code that builds the model from ``x0`` (the same in both flavours);
    the rest says how to prune, convert and run it. Everything in the reproduction script is generated from
    these fields."""

    seed: int
    category: str
    input_shape: tuple            # without the batch
    batch: Optional[int]          # the Input's batch_size; None: unknown batch
    run_batch: int
    lines: tuple
    outputs: tuple
    n: int
    sparsity: float
    prune_stem: bool
    partial: bool                 # Prune1xNPolicy(allow_partial_blocks=...)
    rearrange: bool
    compact: bool
    glue: str
    fuse: int
    kernel: str
    num_threads: int
    reinvoke: Optional[float]     # invoke again with the inputs scaled by this, without re-allocating
    resize: Optional[tuple]       # then resize the input to this shape (batch included) and allocate again
    shared: bool                  # then a second live interpreter on the same delegate object
    dense: str = "never"          # the delegate's option dense: never (kept blocks), auto (cost model), always
    keras: str = "tf_keras"       # the Keras that builds the model: tf_keras or keras3
    int8: bool = False            # full-integer post-training quantization (int8 input and output)

    @property
    def dense_nd(self):
        """Names of the Dense layers applied to 3-D or 4-D tensors (the generator says so in a comment)."""
        names = set()
        for line in self.lines:
            if re.search(r"# Dense on [34]-D", line):
                names.update(re.findall(r'name="(\w+)"', line) or re.findall(r"= (s\d+)\(", line))
        return names

    def tags(self):
        """What the case exercises, read from its code and options (for coverage checks and the summary)."""
        code = "\n".join(self.lines)
        tags = set(re.findall(r"keras\.layers\.(\w+)", code))
        tags.update(f"activation {a}" for a in re.findall(r'activation="(\w+)"', code))
        tags.update(f"activation {a}" for a in re.findall(r"# (hard_swish|leaky_relu|relu6|relu|tanh)$", code, re.M))
        tags.update(f"Dense on {r}-D" for r in re.findall(r"# Dense on ([234])-D", code))
        tags.update(t for t in ("inverted residual", "shared layer") if re.search(f"#.*{t}", code))
        for tag, pattern in (("depth_multiplier 2", r"depth_multiplier=2"), ("stride", r"strides=\(\d"),
                             ("non-square kernel", r"Conv2D\((\d+, )?\((\d), (?!\2)\d\)"),
                             ("dilation", r"dilation_rate="), ("padding valid", r"Conv2D\((\d+, )?[2-5][,)](?!.*same)")):
            if re.search(pattern, code):
                tags.add(tag)
        if self.batch is None and self.dense_nd:
            tags.add("Dense shape set at run time")
        if len(self.input_shape) == 3 and self.input_shape[0] * self.input_shape[1] >= 48 * 48:
            tags.add("large input")
        if self.num_threads > 1:
            tags.add("threads > 1")
        tags.update({f"category {self.category}", f"glue {self.glue}", f"fuse {self.fuse}", f"kernel {self.kernel}",
                     "batch fixed" if self.batch else "batch unknown", f"compact {self.compact}",
                     f"rearrange {self.rearrange}", "N power of two" if self.n & (self.n - 1) == 0 else "N other",
                     f"dense {self.dense}", f"keras {self.keras}"})
        if self.int8:
            tags.add("int8")
        steps = {"re-invoke": self.reinvoke is not None, "resize": self.resize is not None,
                 "resize spatial": self.resize is not None and tuple(self.resize[1:]) != tuple(self.input_shape),
                 "shared delegate": self.shared}
        tags.update(tag for tag, on in steps.items() if on)
        return tags


# ---------------------------------------------------------------------------------------------------------
# The generator


class _Graph:
    """Emits tf_keras lines; a tensor is (variable, shape without batch)."""

    def __init__(self, rng, n, pad_rng=None):
        self.rng, self.n = rng, n
        # Draws of later features come from their own stream, so that the cases of the seeds before them stay
        # the same up to the new layers (the fixed seeds were chosen for their coverage).
        self.pad_rng = pad_rng
        self.lines, self.count, self.shared_count = [], 0, 0
        self.prunable = 0  # layers the default Prune1xNPolicy(n) prunes (apply_1xn refuses a model without one)
        self.resizable = True  # a spatial resize keeps every layer valid (no Flatten, no fixed-size Reshape)

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, options, p=None):
        return options[self.rng.choice(len(options), p=p)]

    def count_prunable(self, cout, cin=None):
        """cout a multiple of N, and not a stem convolution (cin <= 3)."""
        self.prunable += cout % self.n == 0 and (cin is None or cin > 3)

    def emit(self, layer, inputs, shape, comment=""):
        """``layer`` is a keras.layers call with a ``{name}`` slot, or a shared layer's variable."""
        self.count += 1
        var = f"x{self.count}"
        args = inputs if isinstance(inputs, str) else "[" + ", ".join(t[0] for t in inputs) + "]"
        layer = layer.replace("{name}", f'name="l{self.count}"')
        self.lines.append(f"{var} = {layer}({args})" + (f"  # {comment}" if comment else ""))
        return var, tuple(shape)

    def shared(self, layer):
        self.shared_count += 1
        var = f"s{self.shared_count}"
        layer = layer.replace("{name}", f'name="{var}"')
        self.lines.append(f"{var} = {layer}")
        return var

    def channels(self):
        """Output channels: mostly a multiple of N (prunable), sometimes anything (partial or dense)."""
        if self.chance(0.75):
            return self.n * int(self.rng.integers(1, max(1, 64 // self.n) + 1))
        return int(self.rng.integers(1, 49))

    def activation(self, t):
        act = self.pick(ACTIVATIONS)
        if act == "relu":
            return self.emit("keras.layers.ReLU({name})", t[0], t[1], "relu")
        if act == "relu6":
            return self.emit("keras.layers.ReLU(6.0, {name})", t[0], t[1], "relu6")
        if act == "tanh":
            return self.emit('keras.layers.Activation("tanh", {name})', t[0], t[1], "tanh")
        if act == "leaky_relu":
            return self.emit("keras.layers.LeakyReLU(0.1, {name})", t[0], t[1], "leaky_relu")
        if act == "hard_swish":  # x * relu6(x + 3) / 6, as Keras' MobileNetV3 writes it: TFLite's HARD_SWISH
            gate = self.emit("keras.layers.ReLU(6.0, {name})", f"{t[0]} + 3.0", t[1])
            return self.emit("keras.layers.Multiply({name})", f"[{t[0]}, {gate[0]} / 6.0]", t[1], "hard_swish")
        return t

    def window(self, size, k, stride, dilation):
        """(padding, output size) per axis for a window that fits; SAME when VALID would not fit."""
        span = (k - 1) * dilation + 1
        if size >= span and self.chance(0.4):
            return "valid", (size - span) // stride + 1
        return "same", -(-size // stride)

    def conv_geometry(self, h, w, max_k=5):
        kh = int(self.rng.integers(1, max_k + 1))
        kw = kh if self.chance(0.5) else int(self.rng.integers(1, max_k + 1))
        strides = (1, 1)
        if self.chance(0.35):
            strides = (2, 2) if self.chance(0.7) else (int(self.rng.integers(1, 4)), int(self.rng.integers(1, 4)))
        dilation = (1, 1)
        if strides == (1, 1) and self.chance(0.2):
            dilation = (int(self.rng.integers(1, 4)), int(self.rng.integers(1, 4)))
        if dilation != (1, 1):
            self.resizable = False  # TF writes SAME dilation as SPACE_TO_BATCH_ND with paddings for this size
        pad_h, oh = self.window(h, kh, strides[0], dilation[0])
        pad_w, ow = self.window(w, kw, strides[1], dilation[1])
        padding = "valid" if pad_h == pad_w == "valid" else "same"
        if padding == "same":
            oh, ow = -(-h // strides[0]), -(-w // strides[1])
        args = f"({kh}, {kw})" if kh != kw else f"{kh}"
        if strides != (1, 1):
            args += f", strides={strides}"
        if dilation != (1, 1):
            args += f", dilation_rate={dilation}"
        if padding == "same":
            args += ', padding="same"'
        return args, (oh, ow)

    def zero_padding(self, t):
        """Sometimes a ZeroPadding2D of 0-2 rows and columns on each side (TFLite PAD), as ResNet puts before
        its stem and max pool: the delegate folds it into the next layer's padding."""
        if self.pad_rng is None or self.pad_rng.random() >= 0.12:
            return t
        (top, bottom), (left, right) = self.pad_rng.integers(0, 3, size=(2, 2)).tolist()
        if top + bottom + left + right == 0:
            top = 1
        h, w, c = t[1]
        return self.emit(f"keras.layers.ZeroPadding2D((({top}, {bottom}), ({left}, {right})), {{name}})", t[0],
                         (h + top + bottom, w + left + right, c))

    def conv(self, t, filters=None, same=False):
        """A Conv2D of random geometry; ``same``: a square kernel that keeps H and W."""
        if not same:
            t = self.zero_padding(t)
        h, w, _ = t[1]
        filters = self.channels() if filters is None else filters
        if same:
            k = int(self.rng.integers(1, 4))
            args, (oh, ow) = (f"{k}" + (', padding="same"' if k > 1 else "")), (h, w)
        else:
            args, (oh, ow) = self.conv_geometry(h, w)
        fused = self.pick(("relu", "tanh", None), p=(0.3, 0.1, 0.6))
        if fused:
            args += f', activation="{fused}"'
        if self.chance(0.2):
            args += ", use_bias=False"
        self.count_prunable(filters, t[1][2])
        return self.emit(f"keras.layers.Conv2D({filters}, {args}, {{name}})", t[0], (oh, ow, filters))

    def depthwise(self, t):
        h, w, c = t[1]
        args, (oh, ow) = self.conv_geometry(h, w)
        mult = 2 if self.chance(0.25) else 1
        if mult == 2:
            args += ", depth_multiplier=2"
        return self.emit(f"keras.layers.DepthwiseConv2D({args}, {{name}})", t[0], (oh, ow, c * mult))

    def post(self, t):
        """BatchNormalization and/or an activation, sometimes."""
        if self.chance(0.35):
            t = self.emit("keras.layers.BatchNormalization({name})", t[0], t[1])
        if self.chance(0.5):
            t = self.activation(t)
        return t

    def pool(self, t):
        t = self.zero_padding(t)
        h, w, c = t[1]
        kind = self.pick(("MaxPooling2D", "AveragePooling2D"))
        size = int(self.rng.integers(2, 4))
        stride = int(self.rng.integers(1, size + 1))
        padding, oh = self.window(h, size, stride, 1)
        padding_w, ow = self.window(w, size, stride, 1)
        if padding != padding_w or padding == "same":
            padding, oh, ow = "same", -(-h // stride), -(-w // stride)
        args = f"{size}, strides={stride}" + (', padding="same"' if padding == "same" else "")
        return self.emit(f"keras.layers.{kind}({args}, {{name}})", t[0], (oh, ow, c))

    def residual(self, t):
        """x + f(x), f keeping the shape (a Conv2D or a depthwise one)."""
        _, _, c = t[1]
        if self.chance(0.5):
            f = self.conv(t, filters=c, same=True)
        else:
            f = self.emit('keras.layers.DepthwiseConv2D(3, padding="same", {name})', t[0], t[1])
        f = self.post(f)
        return self.emit("keras.layers.Add({name})", [t, f], t[1])

    def concat(self, t):
        a = self.conv(t, same=True)
        b = self.conv(t, same=True) if self.chance(0.6) else t
        return self.emit("keras.layers.Concatenate({name})", [a, b], (*t[1][:2], a[1][2] + b[1][2]))

    def shared_conv(self, t):
        """One Conv2D applied to two tensors of the same shape, the results added."""
        _, _, c = t[1]
        a = self.conv(t, filters=c, same=True)
        b = self.post(self.conv(t, filters=c, same=True))
        filters = self.channels()
        self.count_prunable(filters, c)
        k = int(self.rng.integers(1, 4))
        layer = self.shared(f"keras.layers.Conv2D({filters}, {k}"
                            + (', padding="same"' if k > 1 else "") + ", {name})")
        shape = (*t[1][:2], filters)
        ya = self.emit(layer, a[0], shape, "shared layer")
        yb = self.emit(layer, b[0], shape, "shared layer")
        return self.emit("keras.layers.Add({name})", [ya, yb], shape)

    def inverted_residual(self, t):
        """MobileNetV2's block: 1x1 expansion -> depthwise 3x3 -> 1x1 projection (+ Add when shapes allow), the
        pattern the delegate fuses into one step."""
        h, w, c = t[1]
        expand = c * int(self.pick((1, 2, 3, 4, 6)))
        expand = -(-expand // self.n) * self.n if expand >= self.n else expand
        stride = self.pick((1, 1, 2))
        self.count_prunable(expand, c)
        e = self.emit(f"keras.layers.Conv2D({expand}, 1, use_bias=False, {{name}})", t[0], (h, w, expand),
                      "inverted residual")
        e = self.emit("keras.layers.BatchNormalization({name})", e[0], e[1])
        e = self.emit("keras.layers.ReLU(6.0, {name})", e[0], e[1], "relu6")
        oh, ow = -(-h // stride), -(-w // stride)
        d = self.emit(f"keras.layers.DepthwiseConv2D(3, strides={stride}, padding=\"same\", use_bias=False, {{name}})",
                      e[0], (oh, ow, expand))
        d = self.emit("keras.layers.BatchNormalization({name})", d[0], d[1])
        d = self.emit("keras.layers.ReLU(6.0, {name})", d[0], d[1], "relu6")
        out = c if stride == 1 and self.chance(0.7) else self.channels()
        self.count_prunable(out, expand)
        p = self.emit(f"keras.layers.Conv2D({out}, 1, use_bias=False, {{name}})", d[0], (oh, ow, out))
        p = self.emit("keras.layers.BatchNormalization({name})", p[0], p[1])
        if stride == 1 and out == c:
            p = self.emit("keras.layers.Add({name})", [t, p], p[1])
        return p

    def dense(self, t, units=None, layer=None):
        units = self.channels() if units is None else units
        self.count_prunable(units)
        rank = len(t[1]) + 1
        if rank > 2:
            self.resizable = False  # with a fixed batch the converter's RESHAPE keeps the other dimensions
        if layer is None:
            act = self.pick(("relu", "tanh", None), p=(0.3, 0.1, 0.6))
            layer = f"keras.layers.Dense({units}" + (f', activation="{act}"' if act else "") + ", {name})"
        return self.emit(layer, t[0], (*t[1][:-1], units), f"Dense on {rank}-D")

    def head(self, t):
        """From a 4-D tensor to Dense layers: after global pooling, Flatten (when small) or a Reshape to 3-D,
        or on the 4-D tensor itself; or no head."""
        h, w, c = t[1]
        way = self.pick(("global", "flatten", "reshape", "dense4d", "none"), p=(0.35, 0.15, 0.15, 0.15, 0.2))
        if way == "none":
            return t
        if way == "global":
            kind = self.pick(("GlobalAveragePooling2D", "GlobalMaxPooling2D"))
            t = self.emit(f"keras.layers.{kind}({{name}})", t[0], (c,))
        elif way == "flatten" and h * w * c <= 4096:
            self.resizable = False
            t = self.emit("keras.layers.Flatten({name})", t[0], (h * w * c,))
        elif way == "reshape":
            self.resizable = False
            t = self.emit(f"keras.layers.Reshape(({h * w}, {c}), {{name}})", t[0], (h * w, c))
        for _ in range(int(self.rng.integers(1, 3))):
            t = self.dense(t)
        return t


def _input_size(rng, low, high):
    """Mostly small (fast cases), sometimes large: one in 20 cases goes up to 96."""
    if rng.random() < 0.05:
        return int(rng.integers(high, 97)), int(rng.integers(high, 97))
    h = int(rng.integers(low, high + 1))
    return h, (h if rng.random() < 0.6 else int(rng.integers(low, high + 1)))


def _convnet(g, rng):
    h, w = _input_size(rng, 1, 40)
    shape = (h, w, int(rng.integers(1, 33)))
    t = ("x0", shape)
    steps = ("conv", "conv", "depthwise", "pool", "residual", "concat", "shared", "block", "dense4d")
    for _ in range(int(rng.integers(1, 6))):
        step = g.pick(steps)
        if step == "conv":
            t = g.post(g.conv(t))
        elif step == "depthwise":
            t = g.post(g.depthwise(t))
        elif step == "pool":
            t = g.pool(t)
        elif step == "residual":
            t = g.residual(t)
        elif step == "concat":
            t = g.concat(t)
        elif step == "shared":
            t = g.shared_conv(t)
        elif step == "block":
            t = g.inverted_residual(t)
        else:
            t = g.post(g.dense(t))
        if t[1][0] * t[1][1] * t[1][2] > 64 * 64 * 64:  # keep cases fast: shrink big activations
            t = g.emit("keras.layers.MaxPooling2D(2, padding=\"same\", {name})", t[0],
                       (-(-t[1][0] // 2), -(-t[1][1] // 2), t[1][2]))
    return shape, [g.head(t)]


def _mobilenet(g, rng):
    h, w = _input_size(rng, 4, 40)
    shape = (h, w, int(rng.choice((3, 3, 8, 16))))
    t = ("x0", shape)
    stem = g.channels()
    g.count_prunable(stem, shape[2])
    t = g.emit(f'keras.layers.Conv2D({stem}, 3, strides=2, padding="same", use_bias=False, {{name}})', t[0],
               (-(-h // 2), -(-w // 2), stem))
    t = g.emit("keras.layers.BatchNormalization({name})", t[0], t[1])
    t = g.emit("keras.layers.ReLU(6.0, {name})", t[0], t[1], "relu6")
    for _ in range(int(rng.integers(1, 4))):
        t = g.inverted_residual(t)
    return shape, [g.head(t)]


def _dense(g, rng):
    rank = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(1, 13, size=rank - 2)) + (int(rng.integers(1, 65)),)
    g.resizable = False
    t = ("x0", shape)
    outputs = []
    for _ in range(int(rng.integers(1, 5))):
        step = g.pick(("dense", "dense", "residual", "shared", "concat", "bn"))
        if step == "dense":
            t = g.dense(t)
            if g.chance(0.3):
                t = g.activation(t)
        elif step == "residual":
            f = g.dense(t, units=t[1][-1])
            t = g.emit("keras.layers.Add({name})", [t, f], t[1])
        elif step == "shared":
            units = t[1][-1]
            layer = g.shared(f"keras.layers.Dense({units}, {{name}})")
            a = g.dense(t, units=units, layer=layer)
            a = g.activation(a) if g.chance(0.5) else a
            t = g.dense(a, units=units, layer=layer)
            g.lines[-1] += ", shared layer"
        elif step == "concat":
            a, b = g.dense(t), g.dense(t)
            t = g.emit("keras.layers.Concatenate({name})", [a, b], (*t[1][:-1], a[1][-1] + b[1][-1]))
        else:
            t = g.emit("keras.layers.BatchNormalization({name})", t[0], t[1])
        if g.chance(0.15):
            outputs.append(t)
    return shape, outputs + [t]


def generate(seed):
    """The case of a seed (the same on every machine, except a kernel this CPU lacks, which becomes auto)."""
    rng = np.random.default_rng(seed)
    category = CATEGORIES[int(rng.choice(3, p=(0.45, 0.3, 0.25)))]
    n = int(rng.choice(N_CHOICES, p=np.array([3, 4, 6, 5, 4, 2, 1, 1, 1, 1, 1, 1]) / 30))
    g = _Graph(rng, n, pad_rng=np.random.default_rng([seed, 1]))
    shape, outputs = {"convnet": _convnet, "mobilenet": _mobilenet, "dense": _dense}[category](g, rng)
    if not g.prunable:  # apply_1xn rightly refuses a model with nothing to prune: give it a prunable layer
        outputs[-1] = g.dense(outputs[-1], units=2 * n)
    if rng.random() < 0.25:
        sparsity = float(rng.choice((0.01, 0.25, 0.5, 0.75, 0.99)))
    else:
        sparsity = round(float(rng.uniform(0.01, 0.99)), 3)
    batch = int(rng.integers(1, 4)) if rng.random() < 0.5 else None
    run_batch = batch or int(rng.integers(1, 4))
    resize = None
    if rng.random() < 0.4:
        new_batch = int(rng.integers(1, 4)) if batch is None else batch
        spatial = shape
        if g.resizable and len(shape) == 3 and rng.random() < 0.6:
            spatial = (shape[0] + int(rng.integers(0, 9)), shape[1] + int(rng.integers(0, 9)), shape[2])
        if (new_batch, *spatial) != (run_batch, *shape):
            resize = (new_batch, *spatial)
    kernel = KERNELS[int(rng.integers(len(KERNELS)))]
    case = Case(
        seed=seed, category=category, input_shape=shape, batch=batch, run_batch=run_batch,
        lines=tuple(g.lines), outputs=tuple(t[0] for t in outputs), n=n, sparsity=sparsity,
        prune_stem=bool(rng.random() < 0.3), partial=bool(rng.random() < 0.3), rearrange=bool(rng.random() < 0.4),
        compact=bool(rng.random() < 0.4), glue=str(rng.choice(("auto", "auto", "off", "all"))),
        fuse=int(rng.random() < 0.75), kernel=kernel if kernel in available_kernels() else "auto",
        num_threads=int(rng.choice((1, 1, 2, 2, 3, 4, 5, 6, 7, 8))),
        reinvoke=float(rng.choice((-3.0, 0.5, 10.0))) if rng.random() < 0.4 else None,
        resize=resize, shared=bool(rng.random() < 0.25),
        # Drawn last, so that the earlier draws of a seed stay what they were before these fields existed.
        **_late_draws(rng))
    # Consecutive fused blocks run as one job at exactly two threads (chains): a third of the MobileNet-like
    # cases run there (a draw of its own, after the others).
    if category == "mobilenet" and rng.random() < 0.35:
        case = dataclasses.replace(case, num_threads=2)
    return case


def _late_draws(rng):
    dense = str(rng.choice(DENSE, p=(0.7, 0.15, 0.15)))
    keras = KERAS[int(rng.random() < 0.25)]
    int8 = bool(rng.random() < INT8_SHARE) and keras in INT8_KERAS
    return {"dense": dense, "keras": keras, "int8": int8}


@functools.lru_cache(maxsize=None)
def available_kernels():
    """The kernel option values the delegate accepts on this machine (an ISA the CPU lacks is an error)."""
    available = []
    for kernel in KERNELS:
        try:
            onexn_tf.load_delegate(kernel=kernel)
            available.append(kernel)
        except ValueError:
            pass
    return tuple(available)


# ---------------------------------------------------------------------------------------------------------
# The script of a case: the test and its reproduction

_HELPERS_TEMPLATE = '''\
def randomize(model, rng):
    """Variance-keeping kernels, non-zero biases and BatchNorm statistics: every weight matters."""
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            c = weights[0].shape
            weights = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.5, c), rng.normal(0, 0.5, c), rng.uniform(0.5, 1.5, c)]
        elif weights:
            shape = weights[0].shape
            fan_in = np.prod(shape[:-1]) // (shape[2] if isinstance(layer, keras.layers.DepthwiseConv2D) else 1)
            weights = [rng.uniform(-1, 1, shape) * np.sqrt(3 / fan_in)] + [rng.normal(0, 0.5, w.shape) for w in weights[1:]]
        layer.set_weights([np.float32(w) for w in weights])


def run(interpreter, x):
    """Invokes on x; resizes the input and allocates again only when x's shape differs from the input's."""
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != x.shape:
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


def check(step, got, want, rtol={rtol}, floor={floor}):
    """Delegate vs stock, every output: |got - want| <= rtol * max|want| (docs/RELIABILITY.md)."""
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{{step}}: output {{i}} has shape {{g.shape}}, stock {{w.shape}}"
        err, scale = float(np.abs(g - w).max()), max(float(np.abs(w).max()), floor)
        errors.append(err / scale)
        assert err <= rtol * scale, f"{{step}}: output {{i}} differs from stock by {{err:.3g}} (scale {{scale:.3g}})"


def check_steps(step, got, want, steps={steps}):
    """Delegate vs stock, every int8 output: |got - want| <= steps quantization steps (issue 17)."""
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, f"{{step}}: output {{i}} is {{g.dtype}} {{g.shape}}"
        err = int(np.abs(g.astype(np.int32) - w.astype(np.int32)).max(initial=0))
        errors.append(err)
        assert err <= steps, f"{{step}}: int8 output {{i}} differs from stock by {{err}} steps"


def representative(shape, seed):
    """Calibration inputs for the int8 conversion: random, like the inputs the case runs."""
    r = np.random.default_rng(seed)
    for _ in range(8):
        yield [r.standard_normal(shape).astype("f4")]
'''


def helpers():
    """The script's helper functions (randomize, run, check) as source, with this module's tolerance."""
    return _HELPERS_TEMPLATE.format(rtol=RTOL, floor=SCALE_FLOOR, steps=INT8_STEPS)


def script(case):
    """The standalone Python script of a case: build, randomize, prune, convert, run both runtimes, compare."""
    full = (case.run_batch, *case.input_shape)
    chk = "check_steps" if case.int8 else "check"
    body = [
        f"# onexn fuzz case, seed {case.seed} ({case.category}, {case.keras}): "
        f"python tests/fuzz_models.py --seeds {case.seed}",
        "import numpy as np",
        "import onexn_tf",
        KERAS_IMPORT[case.keras],
        "from ai_edge_litert.interpreter import Interpreter",
        *(("import tensorflow as tf",) if case.int8 else ()),
        "",
        "",
        helpers(),
        *(("INT8 = dict(optimizations=[tf.lite.Optimize.DEFAULT], inference_input_type=tf.int8, "
           "inference_output_type=tf.int8,",
           "            target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]))",
           "") if case.int8 else ()),
        "",
        "errors = []",
        "keras.backend.clear_session()",
        f"x0 = keras.Input({case.input_shape}, batch_size={case.batch})",
        *case.lines,
        f"model = keras.Model(x0, [{', '.join(case.outputs)}])",
        f"rng = np.random.default_rng({case.seed})",
        "randomize(model, rng)",
        f"policy = onexn_tf.Prune1xNPolicy({case.n}, prune_stem={case.prune_stem}, allow_partial_blocks={case.partial})",
        f"pruned = onexn_tf.apply_1xn(model, n={case.n}, sparsity={case.sparsity}, pruning_policy=policy, "
        f"rearrange={case.rearrange})",
        *((f"tflite = onexn_tf.convert(pruned, compact={case.compact}, "
           f"representative_dataset=lambda: representative({(case.batch or 1, *case.input_shape)}, {case.seed}), "
           "**INT8)",) if case.int8 else (f"tflite = onexn_tf.convert(pruned, compact={case.compact})",)),
        f'delegate = onexn_tf.load_delegate(glue="{case.glue}", fuse={case.fuse}, kernel="{case.kernel}", '
        f'num_threads={case.num_threads}, dense="{case.dense}")',
        "stock = Interpreter(model_content=tflite)",
        "onexn = Interpreter(model_content=tflite, experimental_delegates=[delegate])",
        "stock.allocate_tensors()",
        "onexn.allocate_tensors()",
        _input(case, full),
        f'{chk}("invoke", run(onexn, x), run(stock, x))',
    ]
    if case.reinvoke is not None:
        scaled = f"np.float32({case.reinvoke}) * x"
        if case.int8:
            scaled = f"np.clip({scaled}, -128, 127).astype(np.int8)"
        body.append(f'{chk}("re-invoke, inputs x {case.reinvoke}", run(onexn, {scaled}), run(stock, {scaled}))')
    if case.resize is not None:
        body += [_input(case, case.resize), f'{chk}("resize to {case.resize}", run(onexn, x), run(stock, x))']
    if case.shared:
        negated = "np.maximum(-x.astype(np.int16), -128).astype(np.int8)" if case.int8 else "-x"
        body += ["second = Interpreter(model_content=tflite, experimental_delegates=[delegate])  # both live",
                 "second.allocate_tensors()",
                 f'{chk}("second interpreter on the same delegate", run(second, x), run(stock, x))',
                 f'{chk}("first interpreter again", run(onexn, {negated}), run(stock, {negated}))']
    body.append('print(f"seed %d: delegate == stock, worst difference {max(errors):.2g} of the output scale")'
                % case.seed)
    return "\n".join(body) + "\n"


def _input(case, shape):
    """The script line that draws the input x of ``shape``: float32 normal, or int8 uniform for an int8 case."""
    if case.int8:
        return f"x = rng.integers(-128, 128, {tuple(shape)}, dtype=np.int8)"
    return f'x = rng.standard_normal({tuple(shape)}).astype("f4")'


# ---------------------------------------------------------------------------------------------------------
# Claims: a check apart from the outputs (the lead is changing what is claimed; keep these few)


def _record_layers(tflite, records, model):
    """The Keras layer names (x1 -> "l1", shared "s1") of each record: from its weight tensor's name, or, when
    TensorFlow named the constant otherwise (a shared layer's "arith.constant"), the layers of that shape."""
    from ai_edge_litert.interpreter import Interpreter

    names = {d["index"]: d["name"] for d in Interpreter(model_content=tflite).get_tensor_details()}
    shapes = {}
    for layer in model.layers:  # by class name: the model is of either Keras
        if type(layer).__name__ in ("Dense", "Conv2D") and layer.name[:1] in "ls":
            kernel = layer.get_weights()[0].shape  # HWIO or IO
            key = (1, 1) + kernel if len(kernel) == 2 else kernel
            shapes.setdefault(key, set()).add(layer.name)
    found = []
    for r in records:
        layers = set(re.findall(r"(?<![\w])([ls]\d+)(?=/|;|$)", names.get(r.weight_tensor, "")))
        found.append(layers or shapes.get((r.kh, r.kw, r.cin, r.cout), set()))
    return found


def claim_problems(case, tflite, model, report):
    """What the delegate should have claimed (``report``: ``delegate_report`` with the case's options) and
    did not, and the records' N. Every record's node must be claimed, unless declined for a legitimate reason."""
    records = onexn_tf.read_metadata(tflite)
    declined = {d["node"]: d["reason"] for d in report["declined"]}
    claimed = set(report["claimed_nodes"])
    problems = []
    legitimate = LEGITIMATE_DECLINES
    if any(reason.startswith(TOO_LITTLE_TO_GAIN) for reason in declined.values()):
        if (case.dense, case.glue) != ("auto", "auto"):
            problems.append(f"the graph was left to the stock runtime with dense={case.dense}, glue={case.glue} "
                            "(only dense=auto with glue=auto may)")
        elif claimed or report["glue_nodes"]:
            problems.append(f"the graph was left to the stock runtime, yet nodes {sorted(claimed)} and glue nodes "
                            f"{sorted(report['glue_nodes'])} were taken")
        legitimate += (TOO_LITTLE_TO_GAIN,)
    for record, layers in zip(records, _record_layers(tflite, records, model)):
        node = record.operator
        label = f"record of {'/'.join(sorted(layers)) or '?'} (node {node}, N={record.n})"
        if node not in claimed:
            reason = declined.get(node)
            if reason is None:
                problems.append(f"{label}: neither claimed nor declined")
            elif not reason.startswith(legitimate):
                problems.append(f"{label}: declined: {reason}")
        # A larger N is right when the zeros happen to form larger blocks too (a whole input channel pruned).
        if record.n < case.n:
            problems.append(f"{label}: pruned with N={case.n}, recorded with the smaller N={record.n}")
    return problems


# ---------------------------------------------------------------------------------------------------------
# Running, shrinking


# Result kinds that are no finding: the model cannot be tested (see Result.kind).
NOT_COUNTED = ("unconvertible", "unrunnable")


@dataclass
class Result:
    case: Case
    kind: str               # "ok", "mismatch" (outputs differ), "error" (an exception), "claims", "crash" or
                            # "hang" (of a case's subprocess), "unconvertible": TensorFlow's converter fails
                            # on the model itself, or "unrunnable": the stock runtime cannot prepare the file
                            # TensorFlow's own converter makes of the pruned model either (both not counted)
    message: str = ""
    worst: float = 0.0      # largest |onexn - stock| / scale over the case's outputs and steps
    seconds: float = 0.0
    records: int = 0        # onexn records in the file
    taken: int = 0          # nodes the delegate ran (1xN and glue), per delegate_report with the case's options
    fused: int = 0          # fused expansion -> depthwise -> projection blocks
    sliced: int = 0         # of those, blocks cut by channels (more threads than their rows split evenly over)
    folded: int = 0         # PADs folded into the padding of the layer after them
    chained: int = 0        # fused blocks run in chains at two threads (report chains)

    @property
    def failed(self):
        return self.kind not in ("ok",) + NOT_COUNTED

    def line(self):
        return f"FAIL seed={self.case.seed} {self.case.category} {self.kind}: {self.message}"

    def record(self):
        """One JSON line of a campaign's results."""
        return {"seed": self.case.seed, "category": self.case.category, "kind": self.kind, "message": self.message,
                "worst": self.worst if math.isfinite(self.worst) else None, "seconds": round(self.seconds, 2),
                "records": self.records, "taken": self.taken, "fused": self.fused, "sliced": self.sliced,
                "folded": self.folded, "chained": self.chained, "tags": sorted(self.case.tags())}


def process_keras():
    """The Keras flavour of this process: tf_keras once tf_keras or tfmot is loaded or TF_USE_LEGACY_KERAS=1 asks
    for it (``tf.keras`` is tf_keras then), Keras 3 otherwise."""
    legacy = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
    return "tf_keras" if legacy or {"tf_keras", "tensorflow_model_optimization"} & set(sys.modules) else "keras3"


def run_case(case, claims=True, timeout=None):
    """Executes the case's script (and, if it passed, the claim checks): here if the case's Keras is this process's,
    otherwise in a subprocess of the case's Keras (stopped after ``timeout`` seconds)."""
    if case.keras != process_keras():
        return _run_in_subprocess(case, claims, timeout)
    namespace = {"__name__": f"fuzz_seed_{case.seed}"}
    start = time.monotonic()
    result = Result(case, "ok")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the script's own "delegate == stock" line
            exec(compile(script(case), f"<fuzz seed {case.seed}>", "exec"), namespace)
    except AssertionError as e:  # a check() of the script: the outputs differ
        result.kind, result.message, result.worst = "mismatch", str(e), math.inf
    except Exception as e:  # noqa: BLE001 (any exception from the library on a valid model is a finding)
        result.kind, result.message = "error", f"{type(e).__name__}: {e}".splitlines()[0]
        if "tflite" not in namespace and "model" in namespace and not _tf_converts(namespace, case):
            result.kind = "unconvertible"  # not a case: TensorFlow cannot convert the model before pruning
        elif ("tflite" in namespace and not _stock_runs(namespace["tflite"], case)
              and not _tf_file_runs(namespace, case)):
            result.kind = "unrunnable"  # not a case: the stock runtime rejects TensorFlow's own file too
    if result.kind == "ok":
        result.worst = max(namespace["errors"])
        tflite = namespace["tflite"]
        report = onexn_tf.delegate_report(tflite, glue=case.glue, fuse=case.fuse, kernel=case.kernel,
                                          num_threads=case.num_threads, dense=case.dense)
        result.records = len(onexn_tf.read_metadata(tflite))
        result.taken = len(report["claimed_nodes"]) + len(report["glue_nodes"])
        # Depthwise blocks and residual blocks (a depthwise block's ADD is in both lists: counted once).
        in_blocks = {node for block in report["fused"] for node in block}
        result.fused = len(report["fused"]) + sum(1 for _, add in report["residual"] if add not in in_blocks)
        result.sliced = len(report["channel_slices"])
        result.folded = len(report["folded_pads"])
        result.chained = sum(len(chain) for chain in report["chains"])
        problems = claim_problems(case, tflite, namespace["pruned"], report) if claims and not case.int8 else []
        if problems:
            result.kind, result.message = "claims", "; ".join(problems)
    if "keras" in namespace:
        namespace["keras"].backend.clear_session()
    result.seconds = time.monotonic() - start
    return result


_RESULT_FIELDS = ("kind", "message", "worst", "records", "taken", "fused", "sliced", "folded", "chained")


def _run_in_subprocess(case, claims, timeout):
    """run_case in a fresh process of the case's Keras (``--run-case``); a crash or a hang is a failure too."""
    env = dict(os.environ)
    if case.keras == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"
    else:
        env.pop("TF_USE_LEGACY_KERAS", None)
    command = [sys.executable, os.path.abspath(__file__), "--run-case", json.dumps(dataclasses.asdict(case))]
    if not claims:
        command.append("--no-claims")
    start = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result(case, "hang", f"no result after {timeout:.0f} s", seconds=time.monotonic() - start)
    fields = None
    if done.returncode == 0 and done.stdout.strip():
        fields = json.loads(done.stdout.strip().splitlines()[-1])
    if fields is None:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return Result(case, "crash", f"the {case.keras} process exited with status {done.returncode}: {tail}",
                      seconds=time.monotonic() - start)
    fields["worst"] = math.inf if fields["worst"] is None else fields["worst"]
    return Result(case, **fields, seconds=time.monotonic() - start)


def _case_of_json(text):
    """The Case of ``json.dumps(dataclasses.asdict(case))`` (JSON lists back to tuples)."""
    fields = json.loads(text)
    return Case(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def check_seed(seed):
    """For the test suites: AssertionError with the failure and its shrunk reproduction if the seed's case fails,
    or if it tests nothing (a model TensorFlow cannot convert)."""
    result = run_case(generate(seed))
    assert not result.failed, f"{result.line()}\nshrunk reproduction:\n{script(shrink(result))}"
    assert result.kind == "ok", f"seed {seed} tests nothing ({result.kind}: {result.message}): pick another seed"


def _tf_convert(keras_model, namespace, case):
    """TensorFlow's own converter on a Keras model of a case's script, with the case's int8 options (TensorFlow
    quantizes some models' operators to int8 only with float fallbacks): the .tflite bytes, or its exception."""
    import tensorflow as tf

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):  # Keras 3 export
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        if case.int8:
            for key, value in namespace["INT8"].items():
                setattr(converter, key, value)
            converter.representative_dataset = lambda: namespace["representative"](
                (case.batch or 1, *case.input_shape), case.seed)
        return converter.convert()


def _tf_converts(namespace, case):
    """Whether TensorFlow's own converter converts the (unpruned) Keras model of a case's script."""
    try:
        _tf_convert(namespace["model"], namespace, case)
        return True
    except Exception:  # noqa: BLE001 (ConverterError and whatever else the converter raises)
        return False


def _stock_runs(tflite, case):
    """Whether the stock runtime (XNNPACK) prepares a file and invokes it on zeros at the case's input shapes
    (XNNPACK with an unknown batch builds its runtime at the first invoke: seed 7900234 fails there)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=tflite)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        for shape in ((case.run_batch, *case.input_shape), case.resize):
            if shape is not None:
                interpreter.resize_tensor_input(detail["index"], shape)
                interpreter.allocate_tensors()
                interpreter.set_tensor(detail["index"], np.zeros(shape, detail["dtype"]))
                interpreter.invoke()
        return True
    except Exception:  # noqa: BLE001 (RuntimeError, ValueError: whatever the runtime raises)
        return False


def _tf_file_runs(namespace, case):
    """Whether the stock runtime prepares the file TensorFlow's own converter makes of the case's pruned model
    (e.g. seed 7800137: an int8 Dense pruned 99% has all-zero output channels, TensorFlow gives them scales near
    1e-9 and clamps their biases, and XNNPACK refuses a later layer's requantization scale above 256).
    True also when that conversion fails: then the case's own file is what there is to test."""
    try:
        tflite = _tf_convert(namespace["pruned"], namespace, case)
    except Exception:  # noqa: BLE001
        return True
    return _stock_runs(tflite, case)


def _prefixes(case):
    """The model cut after each of its tensors, shortest first."""
    for i, line in enumerate(case.lines):
        var = line.split(" = ")[0]
        if var.startswith("x") and (var,) != case.outputs:
            yield dataclasses.replace(case, lines=case.lines[:i + 1], outputs=(var,))


def shrink(result):
    """A smaller case failing the same way: fewer layers, then plainer options, one change at a time."""
    case = result.case

    def fails(candidate):
        """Fails the same way: the same kind, and for an exception the same one (numbers aside)."""
        again = run_case(candidate, claims=result.kind == "claims")
        if again.kind != result.kind:
            return False
        return result.kind != "error" or re.sub(r"\d+", "#", again.message) == re.sub(r"\d+", "#", result.message)

    for shorter in _prefixes(case):
        if fails(shorter):
            case = shorter
            break
    plainer = dict(shared=False, resize=None, reinvoke=None, num_threads=1, kernel="auto", glue="auto", fuse=1,
                   dense="never", compact=False, rearrange=False, partial=False, prune_stem=False)
    for field, value in plainer.items():
        if getattr(case, field) != value:
            candidate = dataclasses.replace(case, **{field: value})
            if fails(candidate):
                case = candidate
    return case


# ---------------------------------------------------------------------------------------------------------
# Command line


def _seed_range(text):
    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += range(int(low), int(high or low) + 1)
    return seeds


def _write(path, text, mode="a"):
    with open(path, mode) as f:
        f.write(text)


def campaign(seeds, args):
    """Runs seeds until the deadline: one line per failure on stdout, details in the --log and --results files."""
    deadline = time.monotonic() + 60 * args.minutes if args.minutes is not None else math.inf
    results, start, next_seed = [], time.monotonic(), None
    for seed in seeds:
        if time.monotonic() >= deadline:
            next_seed = seed
            break
        case = generate(seed)
        if args.progress:
            _write(args.progress, f"{seed} {case.category}\n", "w")
        faulthandler.dump_traceback_later(args.hang_seconds, exit=True)
        result = run_case(case, timeout=0.9 * args.hang_seconds)  # a subprocess's hang, before the watchdog's
        faulthandler.cancel_dump_traceback_later()
        results.append(result)
        if args.verbose:
            print(f"seed {seed} {result.case.category} {result.kind} {result.seconds:.1f} s, "
                  f"worst difference {result.worst:.2g}", flush=True)
        if result.failed:
            print(result.line(), flush=True)
            if args.log:
                _write(args.log, f"{result.line()}\n# shrunk reproduction:\n{script(shrink(result))}\n")
        if args.results:
            _write(args.results, json.dumps(result.record()) + "\n")
    if args.progress:
        _write(args.progress, f"done {next_seed if next_seed is not None else seeds[-1] + 1}\n", "w")
    print(summary([r.record() for r in results], time.monotonic() - start))
    return 1 if any(r.failed for r in results) else 0


def summary(records, seconds=None):
    """Cases, seeds, categories, failures, the worst passing delegate/stock difference; tag counts when asked."""
    if not records:
        return "fuzz_models: no case run"
    seeds = [r["seed"] for r in records]
    categories = ", ".join(f"{c} {sum(r['category'] == c for r in records)}" for c in CATEGORIES)
    categories += f" (Keras 3: {sum('keras keras3' in r['tags'] for r in records)})"
    failures = sum(r["kind"] not in ("ok",) + NOT_COUNTED for r in records)
    unconvertible = sum(r["kind"] == "unconvertible" for r in records)
    unrunnable = sum(r["kind"] == "unrunnable" for r in records)
    worst = max((r["worst"] for r in records if r["kind"] == "ok"), default=0.0)
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    return (f"fuzz_models: {len(records)} cases (seeds {min(seeds)}-{max(seeds)}){took}: {categories}; "
            f"{failures} failures; {unconvertible} models TensorFlow cannot convert, {unrunnable} the stock runtime "
            "cannot run as TensorFlow converts them (neither counted); "
            f"worst passing difference {worst:.2g} of the output scale (rtol {RTOL:g})")


def report(path):
    """The campaign summary of a --results file: the summary line, failures, differences, what was covered."""
    records = [json.loads(line) for line in open(path) if line.strip()]
    lines = [summary(records)]
    lines += [f"  {r['kind'] if r['kind'] in NOT_COUNTED else 'FAIL'} seed={r['seed']} {r['kind']}: "
              f"{r['message']}" for r in records if r["kind"] != "ok"]
    worst = np.array([r["worst"] for r in records if r["kind"] == "ok"])
    if worst.size:
        lines.append("  passing cases, |onexn - stock| / scale: median %.2g, 99th percentile %.2g, max %.2g; "
                     "exactly equal in %d of %d" % (np.median(worst), np.percentile(worst, 99), worst.max(),
                                                    int((worst == 0).sum()), worst.size))
    taken = [r for r in records if r.get("taken")]
    lines.append("  the delegate ran nodes in %d of %d cases (%d nodes, %d fused blocks, %d of them cut by channels, "
                 "%d in chains, %d PADs folded into the next layer); files with onexn records: %d"
                 % (len(taken), len(records), sum(r["taken"] for r in taken), sum(r["fused"] for r in taken),
                    sum(r.get("sliced", 0) for r in taken), sum(r.get("chained", 0) for r in taken),
                    sum(r.get("folded", 0) for r in taken),
                    sum(bool(r.get("records")) for r in records)))
    lines.append("  %.0f s of cases, %.1f s per case on average" % (sum(r["seconds"] for r in records),
                                                                   np.mean([r["seconds"] for r in records])))
    counts = {}
    for r in records:
        for tag in r["tags"]:
            counts[tag] = counts.get(tag, 0) + 1
    lines.append("  cases per feature: " + ", ".join(f"{t} {k}" for t, k in sorted(counts.items())))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--seeds", type=_seed_range, help="seeds to run: 0-99, or 1,5,9-12")
    what.add_argument("--minutes", type=float, help="run consecutive seeds from --start for this long")
    what.add_argument("--repro", type=int, metavar="SEED", help="run SEED; print its shrunk reproduction if it fails")
    what.add_argument("--script", type=int, metavar="SEED", help="print the script of SEED without running it")
    what.add_argument("--report", metavar="RESULTS", help="summarise a --results file")
    what.add_argument("--run-case", metavar="JSON", help=argparse.SUPPRESS)  # run_case of another Keras
    parser.add_argument("--start", type=int, default=0, help="first seed with --minutes (default 0)")
    parser.add_argument("--until", type=float, help="with --seeds: stop after this many minutes")
    parser.add_argument("--log", help="append every failure, with its shrunk reproduction, to this file")
    parser.add_argument("--results", help="append one JSON line per case to this file")
    parser.add_argument("--progress", help="write each seed here before running it (to name a crash's seed)")
    parser.add_argument("--hang-seconds", type=float, default=600, help="abort the process if a case hangs")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    parser.add_argument("--no-claims", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.getLogger("onexn_tf").setLevel(logging.ERROR)  # rearrange_filters' notes on unpermuted groups

    # This process's Keras, set before TensorFlow loads: the case's for one case, tf_keras (most cases) for a
    # campaign; cases of the other Keras run in subprocesses.
    if args.run_case is not None:
        case = _case_of_json(args.run_case)
        _set_process_keras(case.keras)
        result = run_case(case, claims=not args.no_claims)
        fields = {field: getattr(result, field) for field in _RESULT_FIELDS}
        fields["worst"] = fields["worst"] if math.isfinite(fields["worst"]) else None
        print(json.dumps(fields))
        return 0
    _set_process_keras(generate(args.repro).keras if args.repro is not None else "tf_keras")

    if args.report:
        print(report(args.report))
        return 0
    if args.script is not None:
        print(script(generate(args.script)), end="")
        return 0
    if args.repro is not None:
        result = run_case(generate(args.repro))
        if not result.failed:
            print(f"# seed {args.repro}: {result.kind}")
            return 0
        print(f"# {result.line()}\n{script(shrink(result))}", end="")
        return 1
    if args.minutes is not None:
        args.seeds = range(args.start, sys.maxsize)
    else:
        args.minutes = args.until
    return campaign(args.seeds, args)


def _set_process_keras(keras):
    """``tf.keras`` is ``keras``'s in this process and in the subprocesses it starts (read when TensorFlow loads)."""
    if keras == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    else:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)


if __name__ == "__main__":
    sys.exit(main())
