"""Keras -> .tflite with the ``onexn_1xn`` block-sparse metadata entry (docs/FORMAT.md).

TensorFlow's converter does the conversion; ``onexn_tf.tflite.annotate`` then adds what onexn knows. This
is the one module of the TFLite side that needs TensorFlow.
"""

import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from onexn_tf.keras.compat import check_is_tf_keras, keras
from onexn_tf.tflite.annotate import annotate


def convert(model, *, compact=False, representative_dataset=None, n=None, **converter_options):
    """Converts a stripped 1xN-pruned tf_keras model to .tflite bytes with onexn metadata.

    TensorFlow's own ``tf.lite.TFLiteConverter.from_keras_model`` does the conversion (float32 unless the
    options say otherwise); the result is then post-processed: every CONV_2D and FULLY_CONNECTED operator
    whose weight is a constant float32 or int8 tensor with all-zero 1xN blocks gets a record in one metadata
    entry named ``onexn_1xn``. The stock runtime ignores the entry; the onexn delegate uses it.

    Args:
      model: a tf_keras model, pruning wrappers already stripped (``onexn_tf.strip_1xn``). The bytes of a
        float32 .tflite model are accepted too: they are annotated without converting again.
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
        O, after TensorFlow folded BatchNorm into it): the largest N in 64, 32, ..., 1, N <= cout, such
        that every zero weight lies in an all-zero 1xN block and at least one block is zero. An int uses
        that N for every operator (operators with no all-zero block at that N, or with cout < N, get no
        record). A dict ``{layer_name: n}`` fixes N for the named Keras layers and finds it for the others:
        a name matches an operator when it is a '/'-separated part of the operator's weight tensor name
        (TensorFlow names it like ``model/<layer>/Conv2D``; ``"outer/inner"`` paths match too). A name
        that matches no operator, or whose weight has no all-zero block at its N, raises ValueError.
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
        tflite = _tf_convert(model, representative_dataset, converter_options)
    return annotate(tflite, compact=compact, n=n)


def _tf_convert(model, representative_dataset, converter_options):
    check_is_tf_keras(model, "model")
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a tf_keras Model or .tflite bytes, got {type(model).__name__}")
    wrapped = [layer.name for layer in model.submodules if isinstance(layer, pruning_wrapper.PruneLowMagnitude)]
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
    return bytes(converter.convert())
