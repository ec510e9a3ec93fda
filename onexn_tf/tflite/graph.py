"""Read and write a .tflite model as TFLite's own object tree, and find the weights onexn cares about.

The object tree is the ``ModelT`` of the generated schema that ships with ai-edge-litert
(``ai_edge_litert.schema_py_generated``, the same code as TensorFlow's copy), packed and unpacked with the
``flatbuffers`` package as ``flatbuffer_utils`` does. No TensorFlow: ``onexn inspect``, the benchmark and
the profile run where only ai-edge-litert and numpy are installed. (ai-edge-litert's own
``tools.flatbuffer_utils`` is not in every release, e.g. not in the aarch64 wheel 1.4.)
"""

from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

CONV_2D = schema.BuiltinOperator.CONV_2D
DEPTHWISE_CONV_2D = schema.BuiltinOperator.DEPTHWISE_CONV_2D
FULLY_CONNECTED = schema.BuiltinOperator.FULLY_CONNECTED
DENSIFY = schema.BuiltinOperator.DENSIFY
DEQUANTIZE = schema.BuiltinOperator.DEQUANTIZE
WEIGHT_OPS = {CONV_2D: "CONV_2D", FULLY_CONNECTED: "FULLY_CONNECTED"}
FLOAT32 = schema.TensorType.FLOAT32
INT8 = schema.TensorType.INT8
INT32 = schema.TensorType.INT32
_NUMPY_TYPES = {FLOAT32: "<f4", INT8: "i1", INT32: "<i4"}
FILE_IDENTIFIER = b"TFL3"


def _enum_names(enum):
    return {value: name for name, value in vars(enum).items() if not name.startswith("_")}


OPERATOR_NAMES = _enum_names(schema.BuiltinOperator)  # builtin code -> "CONV_2D", ...
TYPE_NAMES = _enum_names(schema.TensorType)  # tensor type -> "FLOAT32", ...


def as_bytes(data):
    """bytes / bytearray / memoryview / path of a .tflite model -> bytes.

    ValueError when the file cannot be read, for any other type, and when the data lacks the TFLite
    flatbuffer file identifier ("TFL3" at offset 4). Nothing else is parsed here: a runtime rejects a
    damaged model with its own error, ``read_model`` with a ValueError.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
    elif isinstance(data, str) or hasattr(data, "__fspath__"):
        try:
            with open(data, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ValueError(f"cannot read model {data!s}: {e.strerror or e}") from None
    else:
        raise ValueError(f"expected the bytes of a .tflite model (or its path), got {type(data).__name__}")
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ValueError("not a TFLite model: the flatbuffer file identifier 'TFL3' is missing")
    return data


def read_model(data):
    """The model's ``schema.ModelT`` object tree; ValueError if the bytes are not a readable model."""
    data = bytearray(as_bytes(data))  # writable, as flatbuffer_utils reads it: buffers are numpy views of it
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # a damaged flatbuffer fails anywhere inside the generated reader
        raise ValueError(f"not a readable TFLite model (truncated or damaged flatbuffer): {e}") from None
    if not model.subgraphs:
        raise ValueError("not a usable TFLite model: it has no subgraph")
    # Models over 2 GB keep buffers and large custom options after the flatbuffer, by offset: bring them
    # in, so that writing the tree back gives one self-contained flatbuffer (as flatbuffer_utils does).
    for buffer in model.buffers or []:
        if buffer.offset:
            buffer.data = data[buffer.offset:buffer.offset + buffer.size]
            buffer.offset = buffer.size = 0
    for subgraph in model.subgraphs:
        for op in subgraph.operators or []:
            if op.largeCustomOptionsOffset:
                start = op.largeCustomOptionsOffset
                op.customOptions = data[start:start + op.largeCustomOptionsSize]
                op.largeCustomOptionsOffset = op.largeCustomOptionsSize = 0
    return model


def write_model(model):
    """The ``schema.ModelT`` object tree -> .tflite bytes."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def new(cls, **fields):
    """A schema object (``schema.TensorT``, ...) with `fields` set. The constructors of older generated
    schemas (ai-edge-litert 1.4, the aarch64 wheel) take no arguments."""
    obj = cls()
    for key, value in fields.items():
        if not hasattr(obj, key):
            raise AttributeError(f"{cls.__name__} has no field {key!r}")
        setattr(obj, key, value)
    return obj


def name_of(item):
    """The ``name`` of a tensor, subgraph or metadata entry as str (the tree holds bytes or None)."""
    name = item.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else (name or "")


def builtin_code(model, op):
    """The operator's builtin code (resolves the deprecated/extended code fields)."""
    return operator_code(model.operatorCodes[op.opcodeIndex])


def operator_code(code):
    """The builtin code of an ``OperatorCodeT``: codes past 127 live in ``builtinCode``, older files use
    ``deprecatedBuiltinCode`` (as TensorFlow's ``schema_util`` reads them)."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def buffer_bytes(model, tensor):
    """The raw bytes of a tensor's constant buffer, or None when it has no data (not a constant)."""
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers):
        return None
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    return np.asarray(data, dtype=np.uint8).tobytes()


def constant(model, tensor):
    """A dense constant float32, int8 or int32 tensor as a numpy array of its shape, else None."""
    dtype = _NUMPY_TYPES.get(tensor.type)
    if dtype is None or tensor.sparsity is not None or tensor.shape is None:
        return None
    data = buffer_bytes(model, tensor)
    shape = [int(d) for d in tensor.shape]
    if data is None or len(data) != np.dtype(dtype).itemsize * int(np.prod(shape)):
        return None
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def constant_float32(model, tensor):
    """A dense constant float32 tensor as a numpy array of its shape, else None."""
    return constant(model, tensor) if tensor.type == FLOAT32 else None


def quantization(tensor):
    """(scales, zero points, quantized dimension) of a tensor as float32 / int64 arrays and an int; empty
    arrays when it has none."""
    q = tensor.quantization
    scales = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
    zero_points = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64)
    return scales, zero_points, int(q.quantizedDimension) if q is not None else 0


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

