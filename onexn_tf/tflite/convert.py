"""Keras -> .tflite with the ``onexn_1xn`` block-sparse metadata entry (docs/FORMAT.md).

TensorFlow's converter does the conversion; ``onexn_tf.tflite.annotate`` then adds what onexn knows. This
is the one module of the TFLite side that needs TensorFlow.
"""

import contextlib
import io

import numpy as np
import tensorflow as tf

from onexn_tf import blocks
from onexn_tf.keras import flavour
from onexn_tf.keras.layers import leaf_layers, pruned_n
from onexn_tf.tflite import graph
from onexn_tf.tflite.annotate import annotate, choose_n


def convert(model, *, compact=False, representative_dataset=None, n=None, **converter_options):
    """Converts a stripped 1xN-pruned model (tf_keras, or Keras 3 on TensorFlow) to .tflite bytes with onexn metadata.

    TensorFlow's own ``tf.lite.TFLiteConverter.from_keras_model`` does the conversion (float32 unless the
    options say otherwise; a Keras 3 model goes through Keras' ``ExportArchive`` inside it); the result is
    then post-processed: every CONV_2D and FULLY_CONNECTED operator whose weight is a constant float32 or int8
    tensor with all-zero 1xN blocks gets a record in one metadata entry named ``onexn_1xn``. The stock
    runtime ignores the entry; the onexn delegate uses it.

    Args:
      model: a tf_keras or Keras 3 model, pruning wrappers already stripped (``onexn_tf.strip_1xn``). The bytes
        of a float32 .tflite model are accepted too: they are annotated without converting again.
      compact: also store each recorded weight in TFLite's own block-sparse encoding, densified at load
        time by a DENSIFY operator, so the file shrinks by about the block sparsity. A weight stays dense
        (record encoding 0) when cout % n != 0 (TFLite blocks must tile the channels), when the encoding
        would not be smaller, when it is all zero (an empty buffer is not a constant to the runtime), or
        when something other than the recorded operators reads it.
      representative_dataset: passed to the TF converter. With ``optimizations=[tf.lite.Optimize.DEFAULT]``
        it gives an int8 model (full int8 I/O too, with ``target_spec``, ``inference_input_type`` and
        ``inference_output_type``): its int8 operators get int8 records (format version 2) when they have
        int8 activations and symmetric per-channel or per-tensor int8 weights (``onexn_tf.tflite.int8``);
        the others are left out, with a warning when their weight is 1xN-sparse (dynamic-range quantization,
        ``optimizations`` without a dataset, is one). N is found on the int8 weight, allowing for the zeros
        that rounding to int8 makes inside kept blocks (``blocks.quantized_rounding_zeros``). Int8 weights
        stay dense with ``compact``.
      n: block width. None (default) finds it per operator, on the TFLite weight itself (OHWI, block along
        O, after TensorFlow folded BatchNorm into it) with ``onexn_tf.blocks.detect_n``: the N whose all-zero
        blocks hold the zeros, allowing for dead output channels and a few stray zeros in kept blocks. The
        N a layer was pruned with, which ``strip_1xn`` and ``apply_1xn`` note on the layers they return
        (not kept by saving), is taken when it explains the zeros. An int uses
        that N for every operator (operators with no all-zero block at that N, or with cout < N, get no
        record). A dict ``{layer_name: n}`` fixes N for the named Keras layers and finds it for the others:
        a name matches an operator when it is a '/'-separated part of the operator's weight tensor name
        (TensorFlow names it like ``model/<layer>/Conv2D``; ``"outer/inner"`` paths match too). A name
        that matches no operator, or whose weight has no all-zero block at its N, raises ValueError. Keras 3
        names the converted tensors after its layers with suffixes that can collide with other layers'
        names (layer ``dense`` may become ``dense_1/MatMul``), so for a Keras 3 model a name is matched by
        weights instead: the operators whose weight is that layer's kernel (each output channel may be
        scaled, as by a folded BatchNorm).
      **converter_options: set as attributes of the TFLiteConverter (``optimizations=...``,
        ``target_spec=...``); an unknown name raises ValueError.

    Returns:
      The .tflite model as bytes. With nothing 1xN-sparse it is the converter's output unchanged (no entry).
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        if representative_dataset is not None or converter_options:
            raise ValueError("converter options and representative_dataset need a Keras model, not .tflite bytes")
        tflite = bytes(model)
    else:
        keras_flavour = flavour.of(model, "expected a Keras 3 Model, a tf_keras Model or .tflite bytes")
        if not isinstance(model, keras_flavour.keras.Model):
            raise ValueError(f"expected a {keras_flavour.NAME} Model or .tflite bytes, got {type(model).__name__}")
        tflite = _tf_convert(keras_flavour, model, representative_dataset, converter_options)
        hints = _pruned_n_by_tensor(model, tflite)
        if isinstance(n, dict) and keras_flavour.NAME == flavour.KERAS3:
            n = _tensor_names_by_kernel(model, tflite, n)
        return annotate(tflite, compact=compact, n=n, hints=hints)
    return annotate(tflite, compact=compact, n=n)


def _tf_convert(keras_flavour, model, representative_dataset, converter_options):
    wrapped = [layer.name for layer in leaf_layers(model) if keras_flavour.is_pruning_wrapper(layer)]
    if wrapped:
        raise ValueError(f"the model still has pruning wrappers ({', '.join(wrapped)}): "
                         "remove them with onexn_tf.strip_1xn(model) before converting")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    for key, value in converter_options.items():
        if key.startswith("_") or not hasattr(converter, key):
            raise ValueError(f"unknown TFLiteConverter option {key!r}")
        setattr(converter, key, value)
    if representative_dataset is not None:
        converter.representative_dataset = representative_dataset
    # For Keras 3 the converter exports the model to a temporary SavedModel first, and Keras prints that
    # export's endpoints and temporary path: nothing the caller can use.
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def _float_weights(tflite):
    """[(weight tensor name, numpy weight)] of the float32 CONV_2D / FULLY_CONNECTED operators."""
    converted = graph.read_model(tflite)
    weights = []
    for wop in graph.weight_ops(converted):
        tensor = converted.subgraphs[wop.subgraph].tensors[wop.weight_tensor]
        weight = graph.constant_float32(converted, tensor)
        if weight is not None:
            weights.append((graph.name_of(tensor), weight))
    return weights


def _kernel_matches(weights, kernel):
    """The (tensor name, weight) pairs that are `kernel` (HWIO), compared by value (OHWI vs HWIO, each output
    channel up to a scale a folded BatchNorm applies)."""
    return [(tensor, weight) for tensor, weight in weights
            if _same_up_to_channel_scale(blocks.ohwi_to_hwio(blocks.to_ohwi(weight)), kernel)]


def _pruned_n_by_tensor(model, tflite):
    """{weight tensor name: N} for the layers strip_1xn / apply_1xn noted an N on (a hint, not a demand)."""
    noted = [(layer, pruned_n(layer)) for layer in leaf_layers(model) if pruned_n(layer) is not None]
    if not noted:
        return {}
    weights = _float_weights(tflite)
    hints = {}
    for layer, value in noted:
        for tensor, _ in _kernel_matches(weights, blocks.as_hwio(np.asarray(layer.kernel.numpy()))):
            hints[tensor] = value
    return hints


def _tensor_names_by_kernel(model, tflite, n):
    """{layer name: n} -> {weight tensor name: n}: the CONV_2D / FULLY_CONNECTED weights that are the layer's
    kernel (``_kernel_matches``)."""
    weights = [(tensor.split(";")[0], weight) for tensor, weight in _float_weights(tflite)]
    by_tensor = {}
    for name, value in n.items():
        value = blocks.check_n(value, layer=name)
        kernel = _named_kernel(model, str(name).strip("/"))
        matches = _kernel_matches(weights, kernel)
        if not matches:
            raise ValueError(f"layer {name!r} matches no float32 CONV_2D / FULLY_CONNECTED weight of the converted model")
        for tensor, weight in matches:
            choose_n(weight, value, strict=True, what=name)  # the error names the layer, not the tensor
            by_tensor[tensor] = value
    return by_tensor


def _named_kernel(model, path):
    """The kernel (as HWIO numpy) of the layer at `path` ("layer" or "outer/inner" through nested models)."""
    layer = model
    for part in path.split("/"):
        try:
            layer = layer.get_layer(part)
        except (ValueError, AttributeError):
            raise ValueError(f"n names layer {path!r}, which model {model.name!r} does not have") from None
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        raise ValueError(f"n names layer {path!r}, which has no Conv2D / Dense kernel")
    return blocks.as_hwio(np.asarray(kernel.numpy()))


def _same_up_to_channel_scale(weight, kernel):
    if weight.shape != kernel.shape:
        return False
    a = weight.reshape(-1, weight.shape[-1]).astype(np.float64)
    b = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    norms = (b * b).sum(axis=0)
    scale = np.divide((a * b).sum(axis=0), norms, out=np.zeros_like(norms), where=norms > 0)
    return np.allclose(a, b * scale, rtol=1e-4, atol=1e-6 * max(float(np.abs(a).max()), 1e-30))
