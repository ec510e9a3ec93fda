"""Small .tflite models for the delegate tests, built directly with the TFLite schema, and ways to run them.

Building flatbuffers directly (instead of converting Keras models) is fast and gives exact control over
what the delegate must handle: padding, strides, dilation, fused activations, FULLY_CONNECTED with
keep_num_dims, odd shapes. The onexn metadata is added by the project's own converter
(``onexn_tf.tflite.annotate.annotate``) so the delegate is tested against what the converter really writes.

The tests at the bottom check the builders themselves against a numpy reference. Nothing here imports
TensorFlow (the schema is ai-edge-litert's, written by onexn_tf.tflite.graph), so the delegate's test files
also run in the aarch64 Python, where only the runtime side exists (tests/test_aarch64.py).
"""

import numpy as np
import pytest

from onexn_tf.tflite import graph, verify
from onexn_tf.tflite.graph import schema
from onexn_tf.tflite import metadata as onexn_metadata
from onexn_tf.tflite.annotate import annotate

ACTIVATIONS = {
    None: schema.ActivationFunctionType.NONE,
    "relu": schema.ActivationFunctionType.RELU,
    "relu_n1_to_1": schema.ActivationFunctionType.RELU_N1_TO_1,
    "relu6": schema.ActivationFunctionType.RELU6,
    "tanh": schema.ActivationFunctionType.TANH,
}
CLAMPS = {None: (-np.inf, np.inf), "relu": (0, np.inf), "relu_n1_to_1": (-1, 1), "relu6": (0, 6)}


def sparse_weight(rng, shape, n, keep=0.5):
    """Random OHWI (or (cout, cin)) float32 weight whose 1xN blocks are zero with probability 1 - keep.

    At least one block is zeroed and at least one kept, so the weight always gets a record at width n.
    """
    w = rng.standard_normal(shape).astype(np.float32)
    cout, cin = shape[0], shape[-1]
    groups = -(-cout // n)
    kept = rng.random((groups, cin)) < keep
    kept.flat[0], kept.flat[-1] = True, False
    mask = np.repeat(kept, n, axis=0)[:cout]  # (cout, cin)
    return w * mask.reshape((cout,) + (1,) * (len(shape) - 2) + (cin,))


def conv_output_size(size, k, stride, dilation, padding):
    eff = (k - 1) * dilation + 1
    return -(-size // stride) if padding == "same" else (size - eff + stride) // stride


class GraphBuilder:
    """Builds a one-subgraph float32 TFLite model operator by operator."""

    def __init__(self):
        self.tensors, self.operators, self.opcodes = [], [], []
        self.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
        self.inputs = []

    def _tensor(self, shape, name, data=None, dtype=schema.TensorType.FLOAT32):
        t = schema.TensorT()
        t.shape = np.array(shape, np.int32)
        t.type = dtype
        t.name = name
        t.buffer = 0
        if data is not None:
            b = schema.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def shape(self, index):
        return [int(d) for d in self.tensors[index].shape]

    def input(self, shape, name="input"):
        index = self._tensor(shape, name)
        self.inputs.append(index)
        return index

    def const(self, array, name):
        array = np.asarray(array)
        dtype = schema.TensorType.INT32 if array.dtype == np.int32 else schema.TensorType.FLOAT32
        return self._tensor(array.shape, name, array, dtype)

    def _op(self, code, inputs, outputs, options_type=0, options=None):
        if code not in self.opcodes:
            self.opcodes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex = self.opcodes.index(code)
        op.inputs = np.array(inputs, np.int32)
        op.outputs = np.array(outputs, np.int32)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        self.operators.append(op)
        return len(self.operators) - 1

    def conv(self, x, weight, bias=None, stride=(1, 1), dilation=(1, 1), padding="same", activation=None,
             name="conv"):
        """CONV_2D with an OHWI weight. The stock CONV_2D needs a bias: None writes zeros, as the TF
        converter does for a Keras Conv2D(use_bias=False)."""
        b, h, w, _ = self.shape(x)
        cout, kh, kw, _ = weight.shape
        oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
        ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        wt = self.const(weight.astype(np.float32), f"{name}/weights")
        bias = np.zeros(cout, np.float32) if bias is None else bias
        bt = self.const(np.asarray(bias, np.float32), f"{name}/bias")
        out = self._tensor([b, oh, ow, cout], f"{name}/out")
        opts = schema.Conv2DOptionsT(
            padding=schema.Padding.SAME if padding == "same" else schema.Padding.VALID,
            strideH=stride[0], strideW=stride[1], dilationHFactor=dilation[0], dilationWFactor=dilation[1],
            fusedActivationFunction=ACTIVATIONS[activation])
        self._op(schema.BuiltinOperator.CONV_2D, [x, wt, bt], [out], schema.BuiltinOptions.Conv2DOptions, opts)
        return out

    def depthwise(self, x, weight, bias, name="dw", stride=(1, 1), dilation=(1, 1), padding="same",
                  activation=None):
        """DEPTHWISE_CONV_2D with weight (1, kh, kw, c), depth multiplier c_out / c_in."""
        b, h, w, cin = self.shape(x)
        _, kh, kw, cout = weight.shape
        oh = conv_output_size(h, kh, stride[0], dilation[0], padding)
        ow = conv_output_size(w, kw, stride[1], dilation[1], padding)
        wt = self.const(weight.astype(np.float32), f"{name}/weights")
        bt = self.const(np.asarray(bias, np.float32), f"{name}/bias")
        out = self._tensor([b, oh, ow, cout], f"{name}/out")
        opts = schema.DepthwiseConv2DOptionsT(
            padding=schema.Padding.SAME if padding == "same" else schema.Padding.VALID, strideW=stride[1],
            strideH=stride[0], depthMultiplier=cout // cin, dilationWFactor=dilation[1],
            dilationHFactor=dilation[0], fusedActivationFunction=ACTIVATIONS[activation])
        self._op(schema.BuiltinOperator.DEPTHWISE_CONV_2D, [x, wt, bt], [out],
                 schema.BuiltinOptions.DepthwiseConv2DOptions, opts)
        return out

    def fully_connected(self, x, weight, bias=None, activation=None, keep_num_dims=False, name="fc"):
        shape = self.shape(x)
        cout, cin = weight.shape
        rows = int(np.prod(shape)) // cin
        out_shape = shape[:-1] + [cout] if keep_num_dims else [rows, cout]
        wt = self.const(weight.astype(np.float32), f"{name}/weights")
        bt = -1 if bias is None else self.const(np.asarray(bias, np.float32), f"{name}/bias")
        out = self._tensor(out_shape, f"{name}/out")
        opts = schema.FullyConnectedOptionsT(fusedActivationFunction=ACTIVATIONS[activation],
                                             keepNumDims=keep_num_dims)
        self._op(schema.BuiltinOperator.FULLY_CONNECTED, [x, wt, bt], [out],
                 schema.BuiltinOptions.FullyConnectedOptions, opts)
        return out

    def add(self, x, y, name="add", activation=None):
        """ADD; the output takes the larger shape (TFLite broadcasts)."""
        sx, sy = self.shape(x), self.shape(y)
        out = self._tensor(sx if int(np.prod(sx)) >= int(np.prod(sy)) else sy, f"{name}/out")
        opts = schema.AddOptionsT(fusedActivationFunction=ACTIVATIONS[activation])
        self._op(schema.BuiltinOperator.ADD, [x, y], [out], schema.BuiltinOptions.AddOptions, opts)
        return out

    def mean(self, x, axes=(1, 2), keep_dims=False, name="mean"):
        shape = self.shape(x)
        reduced = {a % len(shape) for a in axes}
        out_shape = [1 if i in reduced else d for i, d in enumerate(shape) if keep_dims or i not in reduced]
        at = self.const(np.array(axes, np.int32), f"{name}/axes")
        out = self._tensor(out_shape, f"{name}/out")
        self._op(schema.BuiltinOperator.MEAN, [x, at], [out], schema.BuiltinOptions.ReducerOptions,
                 schema.ReducerOptionsT(keepDims=keep_dims))
        return out

    def reshape(self, x, shape, name="reshape", shape_input=True, options=False):
        """RESHAPE to ``shape`` (one -1 allowed): from a constant shape input, from the node's options
        (``new_shape``, as older converters wrote it), or both."""
        size = int(np.prod(self.shape(x)))
        known = int(np.prod([d for d in shape if d != -1]))
        out = self._tensor([size // known if d == -1 else d for d in shape], f"{name}/out")
        inputs = [x, self.const(np.array(shape, np.int32), f"{name}/shape")] if shape_input else [x]
        opts = schema.ReshapeOptionsT(newShape=list(shape)) if options else None
        self._op(schema.BuiltinOperator.RESHAPE, inputs, [out], schema.BuiltinOptions.ReshapeOptions if options else 0,
                 opts)
        return out

    def pool(self, x, kind, filter=(2, 2), stride=(2, 2), padding="same", activation=None, name="pool"):
        """MAX_POOL_2D (kind "max") or AVERAGE_POOL_2D ("avg")."""
        b, h, w, c = self.shape(x)
        oh = conv_output_size(h, filter[0], stride[0], 1, padding)
        ow = conv_output_size(w, filter[1], stride[1], 1, padding)
        out = self._tensor([b, oh, ow, c], f"{name}/out")
        opts = schema.Pool2DOptionsT(
            padding=schema.Padding.SAME if padding == "same" else schema.Padding.VALID, strideW=stride[1],
            strideH=stride[0], filterWidth=filter[1], filterHeight=filter[0],
            fusedActivationFunction=ACTIVATIONS[activation])
        code = schema.BuiltinOperator.MAX_POOL_2D if kind == "max" else schema.BuiltinOperator.AVERAGE_POOL_2D
        self._op(code, [x], [out], schema.BuiltinOptions.Pool2DOptions, opts)
        return out

    def pad(self, x, paddings, value=None, dtype=np.int32, name="pad"):
        """PAD with zeros, or PADV2 with the constant ``value``; paddings [[before, after], ...]."""
        paddings = np.array(paddings, dtype)
        out = self._tensor([d + int(p.sum()) for d, p in zip(self.shape(x), paddings)], f"{name}/out")
        pt = self._tensor(paddings.shape, f"{name}/paddings", paddings,
                          schema.TensorType.INT32 if dtype == np.int32 else schema.TensorType.INT64)
        if value is None:
            self._op(schema.BuiltinOperator.PAD, [x, pt], [out], schema.BuiltinOptions.PadOptions,
                     schema.PadOptionsT())
        else:
            vt = self.const(np.array([value], np.float32), f"{name}/value")
            self._op(schema.BuiltinOperator.PADV2, [x, pt, vt], [out], schema.BuiltinOptions.PadV2Options,
                     schema.PadV2OptionsT())
        return out

    def concat(self, xs, axis, activation=None, name="concat"):
        shapes = [self.shape(x) for x in xs]
        out_shape = list(shapes[0])
        out_shape[axis] = sum(s[axis] for s in shapes)
        out = self._tensor(out_shape, f"{name}/out")
        opts = schema.ConcatenationOptionsT(axis=axis, fusedActivationFunction=ACTIVATIONS[activation])
        self._op(schema.BuiltinOperator.CONCATENATION, list(xs), [out], schema.BuiltinOptions.ConcatenationOptions,
                 opts)
        return out

    def softmax(self, x, beta=1.0, name="softmax"):
        out = self._tensor(self.shape(x), f"{name}/out")
        self._op(schema.BuiltinOperator.SOFTMAX, [x], [out], schema.BuiltinOptions.SoftmaxOptions,
                 schema.SoftmaxOptionsT(beta=beta))
        return out

    def finish(self, outputs):
        """The model as .tflite bytes (no onexn metadata)."""
        model = schema.ModelT()
        model.version = 3
        model.description = "onexn delegate test model"
        for code in self.opcodes:
            oc = schema.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            model.operatorCodes = (model.operatorCodes or []) + [oc]
        sg = schema.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.operators
        sg.inputs = np.array(self.inputs, np.int32)
        sg.outputs = np.array(outputs if isinstance(outputs, list) else [outputs], np.int32)
        sg.name = "main"
        model.subgraphs = [sg]
        model.buffers = self.buffers
        return graph.write_model(model)


def with_metadata(tflite, n):
    """Adds the onexn entry the way the converter does (every weight with an all-zero 1xN block)."""
    return annotate(tflite, n=n)


def replace_entry(tflite, data):
    """The model with its onexn_1xn entry's bytes replaced by ``data``."""
    model = graph.read_model(tflite)
    (entry,) = [m for m in model.metadata if graph.name_of(m) == onexn_metadata.ENTRY_NAME]
    model.buffers[entry.buffer].data = np.frombuffer(bytes(data), np.uint8)
    return bytes(graph.write_model(model))


def entry_of(tflite):
    return verify.entry_bytes(graph.read_model(tflite))


def conv_model(seed=0, *, size=(9, 9), batch=1, cin=16, cout=32, k=(3, 3), stride=(1, 1), dilation=(1, 1),
               padding="same", activation=None, bias=True, n=4, keep=0.5):
    """One pruned CONV_2D, with metadata at width n."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input([batch, size[0], size[1], cin])
    w = sparse_weight(rng, (cout, k[0], k[1], cin), n, keep)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    y = g.conv(x, w, b, stride=stride, dilation=dilation, padding=padding, activation=activation)
    return with_metadata(g.finish(y), n)


def fc_model(seed=0, *, input_shape=(1, 64), cout=24, n=4, activation=None, bias=True, keep_num_dims=False,
             keep=0.5):
    """One pruned FULLY_CONNECTED, with metadata at width n."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input(list(input_shape))
    w = sparse_weight(rng, (cout, input_shape[-1]), n, keep)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    y = g.fully_connected(x, w, b, activation=activation, keep_num_dims=keep_num_dims)
    return with_metadata(g.finish(y), n)


# ---------------------------------------------------------------------------------------------------------
# Running models


def interpreter_class(runtime):
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def random_inputs(tflite, seed=1, runtime="litert"):
    it = interpreter_class(runtime)(model_content=tflite)
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(d["shape"]).astype(np.float32) for d in it.get_input_details()]


def run(tflite, inputs, delegates=(), runtime="litert", num_threads=None, resize=None):
    """Outputs of one invoke. ``resize`` maps input position -> new shape."""
    it = interpreter_class(runtime)(model_content=tflite, experimental_delegates=list(delegates),
                                    num_threads=num_threads)
    for pos, shape in (resize or {}).items():
        it.resize_tensor_input(it.get_input_details()[pos]["index"], shape)
    it.allocate_tensors()
    for detail, value in zip(it.get_input_details(), inputs):
        it.set_tensor(detail["index"], value)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def assert_close(got, want):
    """Delegate vs stock: 1e-4 relative to the output's magnitude (summation order differs)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        scale = max(float(np.abs(w).max()), 1e-6)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * scale)


# ---------------------------------------------------------------------------------------------------------
# The builders themselves


def _numpy_conv(x, w, b, stride, dilation, padding, clamp):
    """NHWC x OHWI reference convolution with TFLite's padding rule."""
    _, h, wd, _ = x.shape
    cout, kh, kw, _ = w.shape
    oh, ow = (conv_output_size(h, kh, stride[0], dilation[0], padding),
              conv_output_size(wd, kw, stride[1], dilation[1], padding))
    pad_t = max((oh - 1) * stride[0] + (kh - 1) * dilation[0] + 1 - h, 0) // 2
    pad_l = max((ow - 1) * stride[1] + (kw - 1) * dilation[1] + 1 - wd, 0) // 2
    y = np.zeros((x.shape[0], oh, ow, cout), np.float64)
    for i in range(kh):
        for j in range(kw):
            for oy in range(oh):
                iy = oy * stride[0] + i * dilation[0] - pad_t
                if not 0 <= iy < h:
                    continue
                for ox in range(ow):
                    ix = ox * stride[1] + j * dilation[1] - pad_l
                    if 0 <= ix < wd:
                        y[:, oy, ox, :] += x[:, iy, ix, :] @ w[:, i, j, :].T
    if b is not None:
        y += b
    return np.clip(y, *clamp)


@pytest.mark.parametrize("padding,stride,dilation,activation", [
    ("same", (2, 2), (1, 1), "relu6"),
    ("valid", (1, 2), (2, 1), "relu_n1_to_1"),
])
def test_conv_builder_matches_numpy(padding, stride, dilation, activation):
    rng = np.random.default_rng(3)
    g = GraphBuilder()
    x = g.input([1, 7, 8, 3])
    w = sparse_weight(rng, (5, 3, 3, 3), 1)
    b = rng.standard_normal(5).astype(np.float32)
    g.conv(x, w, b, stride=stride, dilation=dilation, padding=padding, activation=activation)
    tflite = g.finish(len(g.tensors) - 1)
    inputs = random_inputs(tflite)
    (got,) = run(tflite, inputs)
    want = _numpy_conv(inputs[0].astype(np.float64), w, b, stride, dilation, padding, CLAMPS[activation])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_sparse_weight_has_zero_and_kept_blocks_and_gets_a_record():
    tflite = conv_model(n=8, cout=20)
    (record,) = verify.read_metadata(tflite)
    assert (record.n, record.cout, record.kh, record.cin) == (8, 20, 3, 16)
    assert 0 < record.num_kept < record.num_groups * record.cin
