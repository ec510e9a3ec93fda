"""Read a .tflite model as TFLite's own object tree and find the weights onexn cares about.

Everything goes through ``tensorflow.lite.tools.flatbuffer_utils`` and the generated schema classes; this
module only adds the lookups onexn needs (which operator is CONV_2D, what its constant float32 weight is).
"""

from dataclasses import dataclass

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python.schema_util import get_builtin_code_from_operator_code
from tensorflow.lite.tools import flatbuffer_utils

CONV_2D = schema.BuiltinOperator.CONV_2D
FULLY_CONNECTED = schema.BuiltinOperator.FULLY_CONNECTED
DENSIFY = schema.BuiltinOperator.DENSIFY
WEIGHT_OPS = {CONV_2D: "CONV_2D", FULLY_CONNECTED: "FULLY_CONNECTED"}
FLOAT32 = schema.TensorType.FLOAT32


def as_bytes(data):
    """bytes / bytearray / memoryview / path of a .tflite file -> bytes (ValueError on anything else)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        with open(data, "rb") as f:
            return f.read()
    raise ValueError(f"expected the bytes of a .tflite model (or its path), got {type(data).__name__}")


def check_identifier(data):
    """Raises ValueError unless `data` starts like a TFLite flatbuffer (file identifier TFL3)."""
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise ValueError("not a TFLite model: the flatbuffer file identifier 'TFL3' is missing")


def read_model(data):
    """The model's ``schema.ModelT`` object tree; ValueError if the bytes are not a readable model."""
    data = as_bytes(data)
    check_identifier(data)
    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except Exception as e:  # a damaged flatbuffer fails anywhere inside the generated reader
        raise ValueError(f"not a readable TFLite model (truncated or damaged flatbuffer): {e}") from None
    if not model.subgraphs:
        raise ValueError("not a usable TFLite model: it has no subgraph")
    return model


def write_model(model):
    """The ``schema.ModelT`` object tree -> .tflite bytes."""
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def builtin_code(model, op):
    """The operator's builtin code (resolves the deprecated/extended code fields)."""
    return get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])


def buffer_bytes(model, tensor):
    """The raw bytes of a tensor's constant buffer, or None when it has no data (not a constant)."""
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers):
        return None
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    return np.asarray(data, dtype=np.uint8).tobytes()


def constant_float32(model, tensor):
    """A dense constant float32 tensor as a numpy array of its shape, else None."""
    if tensor.type != FLOAT32 or tensor.sparsity is not None or tensor.shape is None:
        return None
    data = buffer_bytes(model, tensor)
    shape = [int(d) for d in tensor.shape]
    if data is None or len(data) != 4 * int(np.prod(shape)):
        return None
    return np.frombuffer(data, dtype="<f4").reshape(shape)


def to_ohwi(weight):
    """A CONV_2D filter (OHWI) or FULLY_CONNECTED weight (cout, cin) as a 4-D OHWI array."""
    return weight[:, None, None, :] if weight.ndim == 2 else weight


def ohwi_to_hwio(ohwi):
    """OHWI -> the Keras kernel layout HWIO used by onexn_tf.blocks."""
    return np.transpose(ohwi, (1, 2, 3, 0))


def producers(subgraph):
    """tensor index -> index of the operator that outputs it."""
    found = {}
    for i, op in enumerate(subgraph.operators):
        for t in op.outputs if op.outputs is not None else []:
            found[int(t)] = i
    return found


def consumers(subgraph):
    """tensor index -> list of (operator index, input position) that read it."""
    users = {}
    for i, op in enumerate(subgraph.operators):
        for pos, t in enumerate(op.inputs if op.inputs is not None else []):
            if t >= 0:
                users.setdefault(int(t), []).append((i, pos))
    return users


@dataclass
class WeightOp:
    """A CONV_2D / FULLY_CONNECTED operator and where its weight (input 1) lives."""

    subgraph: int
    operator: int
    builtin_op: int
    weight_tensor: int
    op: object  # schema.OperatorT

    @property
    def op_name(self):
        return WEIGHT_OPS[self.builtin_op]

    def subgraph_position(self, model):
        """The operator's current index in its subgraph (it moves when operators are inserted before it)."""
        for i, op in enumerate(model.subgraphs[self.subgraph].operators):
            if op is self.op:
                return i
        raise ValueError(f"operator {self.operator} is no longer in subgraph {self.subgraph}")


def weight_ops(model):
    """Every CONV_2D and FULLY_CONNECTED operator of every subgraph, in (subgraph, operator) order."""
    found = []
    for s, subgraph in enumerate(model.subgraphs):
        for i, op in enumerate(subgraph.operators or []):
            code = builtin_code(model, op)
            if code in WEIGHT_OPS and op.inputs is not None and len(op.inputs) >= 2 and op.inputs[1] >= 0:
                found.append(WeightOp(s, i, code, int(op.inputs[1]), op))
    return found


def weight_shape_ok(builtin_op, shape):
    """True for a 4-D CONV_2D filter or a 2-D FULLY_CONNECTED weight."""
    return len(shape) == (4 if builtin_op == CONV_2D else 2)


def grouped_conv(subgraph, wop, weight):
    """True when a CONV_2D's input has more channels than its filter (a grouped convolution)."""
    if wop.builtin_op != CONV_2D:
        return False
    x = subgraph.tensors[wop.op.inputs[0]]
    return x.shape is not None and len(x.shape) == 4 and int(x.shape[3]) > 0 and int(x.shape[3]) != weight.shape[3]


def tensor_name(tensor):
    name = tensor.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else (name or "")
