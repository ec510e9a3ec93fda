"""Which int8 CONV_2D / FULLY_CONNECTED operators an int8 record may describe (docs/FORMAT.md, version 2).

They are the operators of TensorFlow's full integer quantization: int8 input and output with one scale and
zero point each, a symmetric int8 weight (every zero point 0, so a pruned weight stays exactly 0) with one
scale per output channel or one for the whole tensor, an int32 bias. The onexn kernels run exactly those,
with XNNPACK's float requantization (``requantization_scales``), which XNNPACK refuses from a scale of 256.
The converter writes records only for them (``problems`` says why not); ``verify`` checks them again.
"""

import numpy as np

from onexn_tf.tflite import graph

# XNNPACK refuses a requantization scale from here on, and the stock runtime then runs its own kernel.
MAX_REQUANTIZATION_SCALE = 256.0


def requantization_scales(input_scale, weight_scales, output_scale):
    """Per output channel, input_scale * weight_scale / output_scale in float32, in that order: the value
    XNNPACK multiplies each int32 accumulator by (its qs8-qc8w convolution and fully connected operators)."""
    product = np.float32(input_scale) * np.asarray(weight_scales, np.float32)
    return (product / np.float32(output_scale)).astype(np.float32)


def problems(model, subgraph, op, cout):
    """Why an operator with an int8 weight (input 1, ``cout`` output channels) is outside what an int8 record
    describes: a list of reasons, empty when it is inside."""
    tensors = subgraph.tensors
    x, w = tensors[op.inputs[0]], tensors[op.inputs[1]]
    y = tensors[op.outputs[0]]
    if x.type == graph.FLOAT32:
        return ["float activations with int8 weights (dynamic-range quantization): onexn runs int8 operators "
                "with int8 activations only; convert with a representative_dataset for full integer quantization"]
    found = []
    for what, t in (("input", x), ("output", y)):
        if t.type != graph.INT8:
            found.append(f"the {what} is {graph.TYPE_NAMES.get(t.type, t.type)}, not int8")
            continue
        scales, zero_points, _ = graph.quantization(t)
        if scales.size != 1 or zero_points.size != 1 or not _positive_normal(scales):
            found.append(f"the {what} has no single positive scale and zero point")
    scales, zero_points, dim = graph.quantization(w)
    if scales.size not in (1, cout) or (scales.size > 1 and dim != 0) or not _positive_normal(scales):
        found.append(f"the weight has {scales.size} scales along dimension {dim}, not one positive scale per "
                     "output channel or one for the tensor")
    if np.any(zero_points != 0):
        found.append("the weight has a non-zero zero point (asymmetric): its pruned blocks are not 0")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = graph.constant(model, tensors[op.inputs[2]])
        if bias is None or bias.dtype != np.int32 or bias.size != cout:
            found.append(f"the bias is not a constant int32 tensor of {cout} values")
    if not found:
        sx, sy = graph.quantization(x)[0][0], graph.quantization(y)[0][0]
        largest = float(requantization_scales(sx, scales, sy).max())
        if not largest < MAX_REQUANTIZATION_SCALE:
            found.append(f"requantization scale {largest:.7g} >= {MAX_REQUANTIZATION_SCALE:g} (XNNPACK refuses it "
                         "and the stock runtime's own kernel rounds differently)")
    return found


def _positive_normal(values):
    return bool(values.size) and bool(np.all(np.isfinite(values) & (values >= np.finfo(np.float32).tiny)))
