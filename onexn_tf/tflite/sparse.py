"""1xN weights in TFLite's own block-sparse encoding (``SparsityParameters``) and the DENSIFY operator.

A CONV_2D filter is OHWI (cout, kh, kw, cin). With a block of N along O (``block_map = [0]``) TFLite orders
the dimensions as ``traversal_order = [0, 3, 1, 2, 4]``: O/N groups (dense), input channels (CSR: for each
group the kept input channels), kh and kw (dense), then the N channels inside the block (dense). A
FULLY_CONNECTED weight (cout, cin) uses ``[0, 1, 2]``: groups, input channels (CSR), N. The buffer holds the
kept blocks in that order, so a block is kh*kw*N contiguous floats. The CSR arrays (uint8, uint16 or int32,
whichever is the smallest that fits) hold exactly the onexn record's ``group_ptr`` and ``kept_cin``.
TFLite's DENSIFY operator turns such a constant back into a dense tensor once, on the first Invoke; every
runtime that knows DENSIFY (TFLite >= 2.2) runs the file.
"""

import numpy as np

from onexn_tf import blocks
from onexn_tf.tflite import graph
from onexn_tf.tflite.graph import schema

_DENSE = schema.DimensionType.DENSE
_CSR = schema.DimensionType.SPARSE_CSR


def traversal_order(rank):
    """[0, 3, 1, 2, 4] for a 4-D filter, [0, 1, 2] for a 2-D weight: groups, cin, (kh, kw,) N."""
    return [0, 3, 1, 2, 4] if rank == 4 else [0, 1, 2]


def encode(weight, n):
    """Dense float32 weight (OHWI or (cout, cin)) -> (values as little-endian bytes, SparsityParametersT).

    Requires cout % n == 0: TFLite blocks must tile the dimension exactly.
    """
    ohwi = blocks.to_ohwi(np.asarray(weight, dtype=np.float32))
    cout, kh, kw, cin = ohwi.shape
    if cout % n:
        raise ValueError(f"TFLite block sparsity needs cout % n == 0, got cout={cout}, n={n}")
    keep = blocks.kept_map(ohwi, n)
    # (G, n, kh, kw, cin) -> (G, cin, kh, kw, n): the traversal order, then keep the listed blocks.
    tiles = ohwi.reshape(cout // n, n, kh, kw, cin).transpose(0, 4, 2, 3, 1)
    values = np.ascontiguousarray(tiles[keep]).astype("<f4").tobytes()
    group_ptr, kept_cin = blocks.csr_index(keep)
    (segments_type, segments), (indices_type, indices) = _index_vector(group_ptr), _index_vector(kept_cin)
    dense = [cout // n] + ([kh, kw] if np.ndim(weight) == 4 else []) + [n]
    dims = [graph.new(schema.DimensionMetadataT, format=_DENSE, denseSize=size) for size in dense]
    dims.insert(1, graph.new(schema.DimensionMetadataT, format=_CSR, arraySegmentsType=segments_type,
                             arraySegments=segments, arrayIndicesType=indices_type, arrayIndices=indices))
    params = graph.new(schema.SparsityParametersT, traversalOrder=traversal_order(np.ndim(weight)), blockMap=[0],
                       dimMetadata=dims)
    return values, params


def encoded_bytes(weight, n):
    """Bytes the encoding stores: kept values plus the CSR arrays."""
    ohwi = blocks.to_ohwi(weight)
    cout, kh, kw, cin = ohwi.shape
    kept = int(blocks.kept_map(ohwi, n).sum())
    return 4 * (kept * kh * kw * n) + index_width(kept) * (cout // n + 1) + index_width(cin - 1) * kept


def index_width(largest):
    """Bytes per CSR entry: the smallest TFLite index vector (uint8, uint16, int32) that holds `largest`."""
    return 1 if largest < 2 ** 8 else 2 if largest < 2 ** 16 else 4


# The runtime copies any of the three into a TfLiteIntArray, so kernels and delegates see ints either way.
_VECTORS = {1: (schema.SparseIndexVector.Uint8Vector, schema.Uint8VectorT),
            2: (schema.SparseIndexVector.Uint16Vector, schema.Uint16VectorT),
            4: (schema.SparseIndexVector.Int32Vector, schema.Int32VectorT)}


def _index_vector(values):
    kind, cls = _VECTORS[index_width(int(values.max()) if values.size else 0)]
    vec = cls()
    vec.values = [int(v) for v in values]
    return kind, vec


def layout(params, shape):
    """Checks that SparsityParametersT is onexn's 1xN layout for a tensor of `shape`.

    Returns (n, group_ptr, kept_cin); raises ValueError saying what differs.
    """
    rank = len(shape)
    if rank not in (2, 4):
        raise ValueError(f"sparse weight has rank {rank}, expected 2 or 4")
    order = [int(v) for v in (params.traversalOrder if params.traversalOrder is not None else [])]
    if order != traversal_order(rank):
        raise ValueError(f"traversal_order {order} is not the 1xN order {traversal_order(rank)}")
    block_map = [int(v) for v in (params.blockMap if params.blockMap is not None else [])]
    if block_map != [0]:
        raise ValueError(f"block_map {block_map} is not [0]")
    dims = params.dimMetadata or []
    if len(dims) != rank + 1:
        raise ValueError(f"{len(dims)} dim_metadata entries, expected {rank + 1}")
    formats = [d.format for d in dims]
    if formats != [_DENSE, _CSR] + [_DENSE] * (rank - 1):
        raise ValueError(f"dimension formats {formats} are not DENSE, SPARSE_CSR, DENSE...")
    n = int(dims[-1].denseSize)
    cout, cin = int(shape[0]), int(shape[-1])
    inner = [int(d.denseSize) for d in dims[2:-1]]
    if n < 1 or cout % n or int(dims[0].denseSize) != cout // n or inner != [int(v) for v in shape[1:-1]]:
        raise ValueError(f"dense sizes {[int(d.denseSize) for d in dims]} do not tile shape {list(shape)}")
    csr = dims[1]
    if csr.arraySegments is None or csr.arrayIndices is None:
        raise ValueError("the SPARSE_CSR dimension has no segments or indices")
    group_ptr = np.asarray(csr.arraySegments.values if csr.arraySegments.values is not None else [], np.int64)
    kept_cin = np.asarray(csr.arrayIndices.values if csr.arrayIndices.values is not None else [], np.int64)
    groups = cout // n
    if (group_ptr.size != groups + 1 or group_ptr[0] != 0 or np.any(np.diff(group_ptr) < 0)
            or group_ptr[-1] != kept_cin.size):
        raise ValueError("CSR segments are not 0-based, non-decreasing and ending at the number of indices")
    for g in range(groups):
        row = kept_cin[group_ptr[g]:group_ptr[g + 1]]
        if row.size and (row[0] < 0 or row[-1] >= cin or np.any(np.diff(row) <= 0)):
            raise ValueError(f"CSR indices of group {g} are not strictly increasing input channels < {cin}")
    return n, group_ptr, kept_cin


def decode(values, params, shape):
    """Sparse 1xN values (bytes) + SparsityParametersT -> the dense float32 array of `shape`."""
    n, group_ptr, kept_cin = layout(params, shape)
    cout, cin = int(shape[0]), int(shape[-1])
    kh, kw = (int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1)
    block = kh * kw * n
    if len(values) != 4 * block * kept_cin.size:
        raise ValueError(f"sparse buffer has {len(values)} bytes, expected {4 * block * kept_cin.size}")
    tiles = np.zeros((cout // n, cin, kh, kw, n), np.float32)
    groups = np.repeat(np.arange(cout // n), np.diff(group_ptr))
    tiles[groups, kept_cin] = np.frombuffer(values, "<f4").reshape(-1, kh, kw, n)
    return tiles.transpose(0, 4, 2, 3, 1).reshape(shape)


def densify_opcode(model):
    """Index of the DENSIFY operator code, added to the model when missing."""
    for i, code in enumerate(model.operatorCodes):
        if graph.operator_code(code) == graph.DENSIFY and not code.customCode:
            return i
    model.operatorCodes.append(graph.new(schema.OperatorCodeT, deprecatedBuiltinCode=graph.DENSIFY,
                                         builtinCode=graph.DENSIFY, version=1))
    return len(model.operatorCodes) - 1


def store_sparse(model, subgraph_index, tensor_index, weight, n):
    """Re-encodes a constant weight tensor in place of itself; returns (DENSIFY operator, densified weight).

    The densified weight is what the runtime will see: the blocks not stored come back as +0.0 even where
    the original held -0.0 (a pruned negative weight), so its CRC can differ from the original's.

    The original tensor index becomes the DENSIFY output (no buffer), so every reader of the weight and
    every tensor index in the model stay the same; a new constant tensor holds the sparse values. The
    caller inserts the returned operator before the weight's first reader.
    """
    subgraph = model.subgraphs[subgraph_index]
    dense = subgraph.tensors[tensor_index]
    values, params = encode(weight, n)
    model.buffers.append(schema.BufferT())
    model.buffers[-1].data = np.frombuffer(values, np.uint8)
    sparse = schema.TensorT()
    sparse.shape = np.asarray(dense.shape, np.int32)
    sparse.type = graph.FLOAT32
    sparse.buffer = len(model.buffers) - 1
    sparse.name = graph.name_of(dense) + "/onexn_1xn_sparse"
    sparse.sparsity = params
    subgraph.tensors.append(sparse)
    if any(t is not dense and t.buffer == dense.buffer for s in model.subgraphs for t in s.tensors):
        model.buffers.append(schema.BufferT())  # the dense bytes are shared: leave them to the others
        dense.buffer = len(model.buffers) - 1
    else:
        model.buffers[dense.buffer].data = None  # nobody else reads them: drop the dense bytes
    op = schema.OperatorT()
    op.opcodeIndex = densify_opcode(model)
    op.inputs = np.asarray([len(subgraph.tensors) - 1], np.int32)
    op.outputs = np.asarray([tensor_index], np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.DensifyOptions
    op.builtinOptions = schema.DensifyOptionsT()
    return op, decode(values, params, list(np.shape(weight)))
