"""convert(compact=True): TFLite's own block-sparse encoding + DENSIFY; same outputs, smaller file."""

import numpy as np
import pytest
from conftest import prune_layers, run_tflite

from onexn_tf import convert, read_metadata
from onexn_tf.keras.compat import keras
from onexn_tf.tflite import graph, metadata, verify


@pytest.mark.parametrize("delegates", [True, False], ids=["xnnpack", "builtin"])
def test_compact_outputs_equal_keras(varied, delegates):
    out = run_tflite(varied["compact"], varied["x"], delegates=delegates)
    np.testing.assert_allclose(out, varied["expected"], atol=1e-4, rtol=1e-4)


def test_compact_records_and_densify_wiring(varied):
    plain = read_metadata(varied["plain"])
    compact = read_metadata(varied["compact"])
    model = graph.read_model(varied["compact"])
    subgraph = model.subgraphs[0]
    densify = [i for i, op in enumerate(subgraph.operators) if graph.builtin_code(model, op) == graph.DENSIFY]
    # c4 (cout 12, n 8) cannot be tiled by TFLite blocks: it stays dense.
    assert [r.encoding for r in compact] == [1, 1, 1, 0, 1, 1]
    assert densify == list(range(5))  # inserted first, one per compact weight
    plain_model = graph.read_model(varied["plain"])
    for p, c in zip(plain, compact):
        assert c.operator == p.operator + len(densify)
        assert (c.weight_tensor, c.n, c.num_kept, c.cout, c.cin) == (p.weight_tensor, p.n, p.num_kept, p.cout, p.cin)
        np.testing.assert_array_equal(c.kept_blocks(), p.kept_blocks())
        dense = graph.constant_float32(plain_model, plain_model.subgraphs[0].tensors[p.weight_tensor])
        if c.encoding == metadata.ENCODING_DENSE:
            assert c.weight_crc32 == p.weight_crc32
            continue
        weight_tensor = subgraph.tensors[c.weight_tensor]
        assert weight_tensor.buffer == 0 or model.buffers[weight_tensor.buffer].data is None
        (producer,) = [i for i in densify if int(subgraph.operators[i].outputs[0]) == c.weight_tensor]
        source = subgraph.tensors[int(subgraph.operators[producer].inputs[0])]
        sp = source.sparsity
        assert list(sp.blockMap) == [0]
        assert list(sp.traversalOrder) == ([0, 3, 1, 2, 4] if c.builtin_op == metadata.CONV_2D else [0, 1, 2])
        np.testing.assert_array_equal(sp.dimMetadata[1].arraySegments.values, c.group_ptr)
        np.testing.assert_array_equal(sp.dimMetadata[1].arrayIndices.values, np.concatenate(c.kept_cin))
        # The CRC covers the weight as DENSIFY outputs it: pruned -0.0 come back as +0.0.
        assert c.weight_crc32 == metadata.weight_crc32(dense + np.float32(0.0))
    assert all(check.ok for check in verify.verify(varied["compact"]))
    assert _min_runtime(model) == "2.2.0" and _min_runtime(plain_model) < "2.2.0"  # DENSIFY came with 2.2


def _min_runtime(model):
    (entry,) = [m for m in model.metadata if graph.name_of(m) == "min_runtime_version"]
    return bytes(model.buffers[entry.buffer].data).rstrip(b"\0").decode()


def test_encoding_equals_tflite_format_converter(varied):
    """Our buffer and CSR arrays equal what TFLite's own FormatConverter makes from the dense weight."""
    from tensorflow.lite.python import format_converter_wrapper_pybind11 as fc

    plain_model = graph.read_model(varied["plain"])
    model = graph.read_model(varied["compact"])
    subgraph = model.subgraphs[0]
    sources = {int(op.outputs[0]): int(op.inputs[0]) for op in subgraph.operators
               if graph.builtin_code(model, op) == graph.DENSIFY}
    dense_t, csr_t = fc.TfLiteDimensionType.TF_LITE_DIM_DENSE, fc.TfLiteDimensionType.TF_LITE_DIM_SPARSE_CSR
    checked = 0
    for r in read_metadata(varied["compact"]):
        if r.encoding != metadata.ENCODING_SPARSE:
            continue
        dense = graph.constant_float32(plain_model, plain_model.subgraphs[0].tensors[r.weight_tensor])
        rank = dense.ndim
        order = [0, 3, 1, 2, 4] if rank == 4 else [0, 1, 2]
        converter = fc.FormatConverterFp32(list(dense.shape), order, [dense_t] * (rank - 1) + [csr_t], [r.n], [0])
        assert converter.DenseToSparse(np.ascontiguousarray(dense).ravel()) == fc.TfLiteStatus.TF_LITE_OK
        source = subgraph.tensors[sources[r.weight_tensor]]
        ours = np.frombuffer(graph.buffer_bytes(model, source), "<f4")
        np.testing.assert_array_equal(ours, np.asarray(converter.GetData(), np.float32))
        segments, indices = converter.GetDimMetadata()[2:4]
        np.testing.assert_array_equal(segments, r.group_ptr)
        np.testing.assert_array_equal(indices, np.concatenate(r.kept_cin))
        checked += 1
    assert checked == 5


def _removed_value_bytes(tflite):
    """Bytes of float32 values the compact encoding leaves out: 4 x pruned weights of the sparse records."""
    return sum(4 * (r.num_groups * r.cin - r.num_kept) * r.n * r.kh * r.kw
               for r in read_metadata(tflite) if r.encoding == metadata.ENCODING_SPARSE)


def _width(largest):
    return 1 if largest <= 255 else 2 if largest <= 65535 else 4


def test_compact_is_smaller_by_the_removed_values_less_the_index(varied):
    sparse = [r for r in read_metadata(varied["compact"]) if r.encoding == metadata.ENCODING_SPARSE]
    removed = _removed_value_bytes(varied["compact"])
    # CSR segments and indices, each in the narrowest of uint8 / uint16 / int32.
    index = sum(_width(r.num_kept) * (r.num_groups + 1) + _width(r.cin - 1) * r.num_kept for r in sparse)
    shrink = len(varied["plain"]) - len(varied["compact"])
    assert removed > 0.3 * len(varied["plain"])
    # Each compact weight also adds a DENSIFY operator, a tensor and its SparsityParameters tables.
    assert removed - index - 400 * len(sparse) < shrink <= removed - index + 64


def test_large_layer_shrinks_to_about_one_minus_sparsity():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 128))
    model = keras.Model(inputs, keras.layers.Conv2D(128, 1, use_bias=False, name="pw")(inputs))
    prune_layers(model, {"pw": (16, 0.75)})
    plain, compact = convert(model), convert(model, compact=True)
    weight_bytes = 128 * 128 * 4
    assert len(plain) > weight_bytes
    assert len(compact) < len(plain) - 0.72 * weight_bytes  # 75 % of the blocks gone, index and header aside
    assert len(compact) > len(plain) - 0.75 * weight_bytes - 64
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 128)).astype("f4")
    np.testing.assert_allclose(run_tflite(compact, x), model(x).numpy(), atol=1e-4, rtol=1e-4)


def test_all_zero_weight_is_recorded_dense_and_runs():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 5, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", name="zero")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(8, 1, name="next")(x))
    layer = model.get_layer("zero")
    layer.set_weights([np.zeros_like(layer.get_weights()[0]), np.ones(8, "f4")])
    tflite = convert(model, compact=True)
    (r,) = read_metadata(tflite)
    # No kept block means an empty sparse buffer, which TFLite would not treat as a constant: stays dense.
    assert (r.n, r.num_kept, r.encoding) == (8, 0, metadata.ENCODING_DENSE)
    assert all(check.ok for check in verify.verify(tflite))
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 4)).astype("f4")
    np.testing.assert_allclose(run_tflite(tflite, x, delegates=False), model(x).numpy(), atol=1e-4, rtol=1e-4)


def test_weight_stays_dense_when_the_sparse_form_would_not_be_smaller():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((20,))
    model = keras.Model(inputs, keras.layers.Dense(16, name="fc")(inputs))
    prune_layers(model, {"fc": (1, 0.1)})  # 1x1 blocks: 4 value bytes + 1 index byte per kept weight
    tflite = convert(model, compact=True)
    (r,) = read_metadata(tflite)
    assert (r.n, r.encoding) == (1, metadata.ENCODING_DENSE)
    assert tflite == convert(model)
