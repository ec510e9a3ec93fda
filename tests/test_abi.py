"""Proves the hand-written TFLite ABI (tflite_delegate/include/onexn_tflite_abi.h) against both runtimes.

These tests load the testing variant of the library (tests/testing_library.py), whose ``abi_probe``
option records everything the delegate reads through the ABI: the context, every tensor and node, the
conv / fully-connected parameters, the metadata entry, and, after it replaced nodes, the registration
the runtime stored for each delegate kernel. Here that record is compared with
what the Python interpreter and the model file say, field by field. Each struct the delegate relies on
is covered:

- TfLiteContext: tensors_size, tensors, GetExecutionPlan, GetNodeAndRegistration, recommended_num_threads,
  GetModelMetadata, ReplaceNodeSubsetsWithDelegateKernels (the replacement happens), ResizeTensor
  (resizing a claimed node's input works), ReportError (abi_probe=2 makes Prepare fail with a formatted
  message, which must reach Python).
- TfLiteTensor (and its array stride): name, type, dims (TfLiteIntArray), allocation_type, bytes, data.
- TfLiteNode: inputs, outputs, builtin_data, delegate; TfLiteDelegateParams of delegate nodes.
- TfLiteConvParams, TfLiteFullyConnectedParams against the model's options, and the parameters of the
  other operators the delegate runs (pooling, concatenation, reshape, softmax).
- TfLiteRegistration: builtin_code, version, custom_name and inplace_operator of builtin nodes; the
  runtime's own sizeof(TfLiteNode) and sizeof(TfLiteRegistration), measured in its node array; and a
  round trip of the registration passed by value.
- TfLiteDelegate: the runtime calls Prepare, reads flags and opaque_delegate_builder (NULL) correctly,
  or nothing would be claimed.
"""

import platform
import zlib
from importlib.metadata import version

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report
from onexn_tf.tflite import graph
from onexn_tf.tflite.graph import schema

from test_delegate_models import (GraphBuilder, assert_close, conv_model, fc_model, interpreter_class,
                                  random_inputs, run, sparse_weight, with_metadata)
import testing_library

RUNTIMES = ["litert", "tf"]
# The runtimes these tests have passed against, by machine (also in docs/ARM.md). The aarch64 one is
# proven under qemu: tests/test_aarch64.py runs this file in the aarch64 Python.
PROVEN = {
    ("litert", "x86_64"): ["2.3.0"],
    ("litert", "aarch64"): ["2.3.0"],
    ("tf", "x86_64"): ["2.21.0"],
}
TFLITE_TYPES = {np.float32: 1, np.int32: 2, np.uint8: 3, np.int64: 4, np.int8: 9}
PADDING = {schema.Padding.SAME: 1, schema.Padding.VALID: 2}
SIZEOF = {"TfLiteTensor": 112, "TfLiteNode": 80, "TfLiteRegistration": 88, "TfLiteDelegate": 56}
DELEGATE_CODE = 51
INPLACE_INPUT0_SHARED = 4


def _model():
    rng = np.random.default_rng(4)
    g = GraphBuilder()
    x = g.input([1, 7, 6, 8], signature=[-1, 7, 6, 8])
    a = g.conv(x, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), stride=(2, 1),
               dilation=(1, 2), padding="valid", activation="relu6", name="c0")
    b = g.depthwise(a, rng.standard_normal((1, 3, 3, 16)), rng.standard_normal(16), stride=(1, 1),
                    dilation=(2, 1), activation="relu")
    c = g.add(b, a, activation="relu6")
    d = g.reshape(c, [1, 3, 32])
    y = g.fully_connected(d, sparse_weight(rng, (12, 32), 2), None, activation="relu_n1_to_1",
                          keep_num_dims=True, name="fc4")
    return with_metadata(g.finish(y), 2)


MODEL = _model()


@pytest.fixture(scope="module", autouse=True)
def testing_delegate():
    """Every test here runs on the testing library (skipped when it was not built)."""
    if testing_library.path() is None:
        pytest.skip(f"no testing library of the delegate: {testing_library.BUILD_HINT}")
    with testing_library.in_use() as library:
        yield library


@pytest.fixture(scope="module", params=RUNTIMES)
def probed(request):
    """(runtime, model object, interpreter, report) with the probe on, interpreter num_threads=3."""
    # glue=off: one delegate node per 1xN node, so each can be checked against its operator.
    delegate = load_delegate(dense="never", abi_probe=1, glue="off")
    interpreter = interpreter_class(request.param)(model_content=MODEL, experimental_delegates=[delegate],
                                                   num_threads=3)
    interpreter.allocate_tensors()
    report = read_report(delegate)
    yield request.param, graph.read_model(MODEL), interpreter, report
    del interpreter


def test_probe_sees_the_layout_the_header_declares(probed):
    _, _, _, report = probed
    assert report["probe"]["before"]["sizeof"] == SIZEOF


def test_context_fields(probed):
    _, model, interpreter, report = probed
    before = report["probe"]["before"]
    operators = model.subgraphs[0].operators
    assert before["execution_plan"] == list(range(len(operators)))
    assert before["recommended_num_threads"] == 3
    assert before["tensors_size"] >= len(model.subgraphs[0].tensors)
    assert before["tensors_size"] == len(before["tensors"])


def test_tensors_match_the_interpreter_and_the_model(probed):
    _, model, interpreter, report = probed
    tensors = report["probe"]["before"]["tensors"]
    details = interpreter.get_tensor_details()
    assert len(details) >= len(model.subgraphs[0].tensors) - 1
    for detail in details:
        t = tensors[detail["index"]]
        assert (t["name"] or "") == detail["name"]  # runtime-added temporaries have no name
        assert t["type"] == TFLITE_TYPES[detail["dtype"]]
        assert t["dims"] == [int(d) for d in detail["shape"]]
        assert t["bytes"] == int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
        assert t["is_variable"] is False and t["has_sparsity"] is False
    for index, tensor in enumerate(model.subgraphs[0].tensors):
        # A tensor the model gives no shape signature has none at run time either (NULL or empty).
        if tensor.shapeSignature is None:
            assert tensors[index]["dims_signature"] in (None, [])
        else:
            assert tensors[index]["dims_signature"] == [int(d) for d in tensor.shapeSignature]
    assert tensors[model.subgraphs[0].inputs[0]]["dims_signature"] == [-1, 7, 6, 8]
    for index, tensor in enumerate(model.subgraphs[0].tensors):
        data = graph.buffer_bytes(model, tensor)
        t = tensors[index]
        if data:  # constant: memory-mapped from the model, the delegate reads the very same bytes
            assert t["allocation_type"] == 1
            assert t["crc32"] == zlib.crc32(data) & 0xFFFFFFFF
        else:
            assert t["allocation_type"] == 2 and "crc32" not in t


def test_nodes_and_params_match_the_model(probed):
    _, model, _, report = probed
    nodes = report["probe"]["before"]["nodes"]
    for index, op in enumerate(model.subgraphs[0].operators):
        node = nodes[index]
        code = model.operatorCodes[op.opcodeIndex]
        assert node["index"] == index
        assert node["builtin_code"] == graph.builtin_code(model, op)
        assert node["version"] == code.version
        assert node["custom_name"] is None and node["invoke_set"] is True
        assert node["inputs"] == [int(i) for i in op.inputs]
        assert node["outputs"] == [int(i) for i in op.outputs]
        assert node["delegate_is_null"] is True
        options = op.builtinOptions
        if node["builtin_code"] == schema.BuiltinOperator.CONV_2D:
            assert node["conv"] == {
                "padding": PADDING[options.padding], "stride_width": options.strideW,
                "stride_height": options.strideH, "activation": options.fusedActivationFunction,
                "dilation_width_factor": options.dilationWFactor,
                "dilation_height_factor": options.dilationHFactor}
            assert node["conv"]["stride_height"] == 2 and node["conv"]["dilation_width_factor"] == 2
        if node["builtin_code"] == schema.BuiltinOperator.FULLY_CONNECTED:
            assert node["fully_connected"] == {
                "activation": options.fusedActivationFunction, "weights_format": options.weightsFormat,
                "keep_num_dims": bool(options.keepNumDims),
                "asymmetric_quantize_inputs": bool(options.asymmetricQuantizeInputs)}
            assert node["fully_connected"]["keep_num_dims"] is True
        if node["builtin_code"] == schema.BuiltinOperator.DEPTHWISE_CONV_2D:
            assert node["depthwise"] == {
                "padding": PADDING[options.padding], "stride_width": options.strideW,
                "stride_height": options.strideH, "depth_multiplier": options.depthMultiplier,
                "activation": options.fusedActivationFunction, "dilation_width_factor": options.dilationWFactor,
                "dilation_height_factor": options.dilationHFactor}
            assert node["depthwise"]["dilation_height_factor"] == 2 and node["depthwise"]["activation"] == 1
        if node["builtin_code"] == schema.BuiltinOperator.ADD:
            assert node["add"] == {"activation": options.fusedActivationFunction}
            assert node["add"]["activation"] == 3


def test_runtime_node_array_has_our_struct_sizes(probed):
    # vector<pair<TfLiteNode, TfLiteRegistration>>: node -> its registration = the runtime's
    # sizeof(TfLiteNode); node -> next node = sizeof(TfLiteNode) + sizeof(TfLiteRegistration).
    _, _, _, report = probed
    nodes = report["probe"]["before"]["nodes"]
    assert all(n["registration_minus_node"] == SIZEOF["TfLiteNode"] for n in nodes)
    strides = [n["node_stride"] for n in nodes if "node_stride" in n]
    assert len(strides) == len(nodes) - 1
    assert set(strides) == {SIZEOF["TfLiteNode"] + SIZEOF["TfLiteRegistration"]}


def test_inplace_operator_is_the_last_registration_field(probed):
    # ADD and RESHAPE declare that input 0 may share the output's memory; convolutions do not.
    _, _, _, report = probed
    by_code = {n["builtin_code"]: n["inplace_operator"] for n in report["probe"]["before"]["nodes"]}
    assert by_code[schema.BuiltinOperator.ADD] & INPLACE_INPUT0_SHARED
    assert by_code[schema.BuiltinOperator.RESHAPE] & INPLACE_INPUT0_SHARED
    assert by_code[schema.BuiltinOperator.CONV_2D] == 0
    assert by_code[schema.BuiltinOperator.FULLY_CONNECTED] == 0
    assert all(0 <= v < 64 for v in by_code.values())


def test_registration_round_trip_and_delegate_nodes(probed):
    _, model, _, report = probed
    after = report["probe"]["after"]
    count = len(model.subgraphs[0].operators)
    assert report["claimed_nodes"] == [0, 4]
    delegate_nodes = after["delegate_nodes"]
    assert [d["nodes_to_replace"] for d in delegate_nodes] == [[0], [4]]
    assert all(d["index"] >= count for d in delegate_nodes)
    assert after["execution_plan"] == [delegate_nodes[0]["index"], 1, 2, 3, delegate_nodes[1]["index"]]
    ops = model.subgraphs[0].operators
    for d, op in zip(delegate_nodes, (ops[0], ops[4])):
        assert d["builtin_code"] == DELEGATE_CODE and d["version"] == 1
        for field in ("custom_name_same", "init_same", "free_same", "prepare_same", "invoke_same",
                      "profiling_string_same", "registration_external_null", "async_kernel_null",
                      "user_data_set", "params_delegate_same"):
            assert d[field] is True, field
        assert d["inplace_operator"] == 0
        real_inputs = [int(i) for i in op.inputs if i >= 0]
        assert sorted(d["input_tensors"]) == sorted(real_inputs)
        assert d["output_tensors"] == [int(op.outputs[0])]
        assert d["node_inputs"] == d["input_tensors"] and d["node_outputs"] == d["output_tensors"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_glue_joins_nodes_into_one_delegate_node(runtime):
    # With glue (the default), conv 0 -> depthwise 1 -> add 2 -> reshape 3 -> fc 4 form one delegate node;
    # the FC's output is the only tensor leaving it, and the tensors between them stay inside (the kernel's
    # own arena).
    delegate = load_delegate(dense="never", abi_probe=1)
    interpreter = interpreter_class(runtime)(model_content=MODEL, experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    after = read_report(delegate)["probe"]["after"]
    model = graph.read_model(MODEL)
    ops = model.subgraphs[0].operators
    (node,) = after["delegate_nodes"]
    assert node["nodes_to_replace"] == [0, 1, 2, 3, 4]
    assert node["output_tensors"] == [int(ops[4].outputs[0])]
    inside = {int(ops[i].outputs[0]) for i in range(4)}
    assert not inside & set(node["input_tensors"])
    del interpreter


def _glue_model():
    """The other operators the delegate runs, with options the probe reads back: pools, PAD, CONCATENATION,
    RESHAPE (options and shape input), SOFTMAX."""
    g = GraphBuilder()
    x = g.input([2, 7, 6, 8])
    a = g.pool(x, "max", (3, 2), (2, 1), "same", "relu6", name="max")
    b = g.pool(x, "avg", (2, 3), (1, 2), "valid", "relu", name="avg")
    p = g.pad(b, [[0, 0], [1, 0], [0, 4], [0, 0]])
    c = g.concat([a, p], -3)
    r = g.reshape(c, [2, -1, 8], options=True)
    return g.finish(g.softmax(r, beta=0.625))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_glue_params_match_the_model(runtime):
    import struct

    tflite = _glue_model()
    delegate = load_delegate(dense="never", abi_probe=1, glue="all")
    interpreter = interpreter_class(runtime)(model_content=tflite, experimental_delegates=[delegate])
    report = read_report(delegate)
    assert report["glue_nodes"] == [0, 1, 2, 3, 4, 5]
    model = graph.read_model(tflite)
    nodes = report["probe"]["before"]["nodes"]
    for node, op in zip(nodes, model.subgraphs[0].operators):
        options = op.builtinOptions
        if node["builtin_code"] in (schema.BuiltinOperator.MAX_POOL_2D, schema.BuiltinOperator.AVERAGE_POOL_2D):
            assert node["pool"] == {
                "padding": PADDING[options.padding], "stride_width": options.strideW,
                "stride_height": options.strideH, "filter_width": options.filterWidth,
                "filter_height": options.filterHeight, "activation": options.fusedActivationFunction}
        elif node["builtin_code"] == schema.BuiltinOperator.CONCATENATION:
            assert node["concatenation"] == {"axis": -3, "activation": 0}
        elif node["builtin_code"] == schema.BuiltinOperator.RESHAPE:
            assert node["reshape"] == {"num_dimensions": 3, "shape": [2, -1, 8]}
        elif node["builtin_code"] == schema.BuiltinOperator.SOFTMAX:
            assert node["softmax"] == {"beta_bits": struct.unpack("<I", struct.pack("<f", 0.625))[0]}
    assert {n["builtin_code"] for n in nodes} == {schema.BuiltinOperator.MAX_POOL_2D,
                                                   schema.BuiltinOperator.AVERAGE_POOL_2D, schema.BuiltinOperator.PAD,
                                                   schema.BuiltinOperator.CONCATENATION,
                                                   schema.BuiltinOperator.RESHAPE, schema.BuiltinOperator.SOFTMAX}
    assert nodes[0]["pool"]["filter_height"] == 3 and nodes[1]["pool"]["stride_width"] == 2
    inputs = random_inputs(tflite, runtime=runtime)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs[0])
    interpreter.invoke()
    got = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    np.testing.assert_allclose(got[0], run(tflite, inputs, runtime=runtime)[0], rtol=0, atol=1e-6)


def test_metadata_entry_is_read_byte_for_byte(probed):
    _, model, _, report = probed
    from onexn_tf.tflite import verify

    entry = verify.entry_bytes(model)
    found = report["probe"]["before"]["metadata"]
    assert found == {"found": True, "bytes": len(entry), "crc32": zlib.crc32(entry) & 0xFFFFFFFF}


def test_probed_delegate_still_matches_stock(probed):
    runtime, _, interpreter, _ = probed
    inputs = random_inputs(MODEL, runtime=runtime)
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    got = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    assert_close(got, run(MODEL, inputs, runtime=runtime))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_resize_tensor_resizes_the_claimed_output(runtime):
    for tflite, shape in ((conv_model(n=4, size=(9, 9)), [2, 7, 12, 16]),
                          (fc_model(input_shape=(1, 3, 64), n=4, keep_num_dims=True), [2, 5, 64])):
        inputs = [np.random.default_rng(0).standard_normal(shape).astype(np.float32)]
        delegate = load_delegate(dense="never")
        got = run(tflite, inputs, [delegate], runtime=runtime, resize={0: shape})
        assert read_report(delegate)["claimed"] == 1
        assert_close(got, run(tflite, inputs, runtime=runtime, resize={0: shape}))


def test_bad_abi_probe_value_is_a_clear_value_error():
    with pytest.raises(ValueError, match="onexn delegate: .*abi_probe='3'"):
        load_delegate(dense="never", abi_probe=3)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_report_error_reaches_python(runtime):
    with pytest.raises(RuntimeError, match=r"onexn abi probe: ReportError works \(varargs, 12345\)"):
        interpreter_class(runtime)(model_content=MODEL, experimental_delegates=[load_delegate(dense="never", abi_probe=2)])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sparsity_of_a_compact_weight_matches_the_model(runtime):
    from onexn_tf.tflite.annotate import annotate

    rng = np.random.default_rng(8)
    g = GraphBuilder()
    x = g.input([1, 5, 5, 8])
    g.conv(x, sparse_weight(rng, (16, 3, 3, 8), 4), rng.standard_normal(16), name="c0")
    tflite = annotate(g.finish(len(g.tensors) - 1), n=4, compact=True)
    model = graph.read_model(tflite)
    delegate = load_delegate(dense="never", abi_probe=1)
    interpreter_class(runtime)(model_content=tflite, experimental_delegates=[delegate])
    report = read_report(delegate)
    assert report["claimed_nodes"] == [1] and report["kernels"][0]["densify_node"] == 0
    tensors = report["probe"]["before"]["tensors"]
    sparse = [(i, t) for i, t in enumerate(model.subgraphs[0].tensors) if t.sparsity is not None]
    assert len(sparse) == 1
    index, tensor = sparse[0]
    probe = tensors[index]["sparsity"]
    params = tensor.sparsity
    assert probe["traversal_order"] == [int(v) for v in params.traversalOrder]
    assert probe["block_map"] == [int(v) for v in params.blockMap]
    assert len(probe["dim_metadata"]) == len(params.dimMetadata)
    for got, want in zip(probe["dim_metadata"], params.dimMetadata):
        assert got["format"] == want.format
        if want.format == schema.DimensionType.DENSE:
            assert got["dense_size"] == want.denseSize
            assert got["segments"] is None and got["indices"] is None
        else:
            assert got["segments"] == [int(v) for v in want.arraySegments.values]
            assert got["indices"] == [int(v) for v in want.arrayIndices.values]
    assert tensors[index]["allocation_type"] == 1
    assert tensors[index]["crc32"] == zlib.crc32(graph.buffer_bytes(model, tensor)) & 0xFFFFFFFF
    # The partition is DENSIFY + CONV_2D and reads the sparse constant, not the dense weight.
    (node,) = report["probe"]["after"]["delegate_nodes"]
    assert node["nodes_to_replace"] == [0, 1]
    assert index in node["input_tensors"]
    assert int(model.subgraphs[0].operators[1].inputs[1]) not in node["input_tensors"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runtime_version_is_one_the_abi_is_written_down_for(runtime):
    if runtime == "litert":
        installed = version("ai-edge-litert")
    else:
        import tensorflow as tf

        installed = tf.__version__
    proven = PROVEN.get((runtime, platform.machine()), [])
    assert installed in proven, (
        f"{runtime} {installed} on {platform.machine()} is not in PROVEN ({proven}): when the tests of this "
        "file pass with it, add it there and to docs/ARM.md's table")
