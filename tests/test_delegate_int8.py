"""The delegate on int8 models (TensorFlow's full integer quantization): int8 1xN CONV_2D / FULLY_CONNECTED
nodes with an int8 record run on onexn_qconv, by default the int8 glue next to them (depthwise convolution,
ADD, MEAN, MAX_POOL_2D, PAD, RESHAPE), with glue=all every int8 operator between them (also layers without a
record) on onexn's int8 glue, so that the network is one partition; outputs are within 1
quantization step of the stock runtime (which runs them through XNNPACK; onexn computes XNNPACK's
arithmetic, so they come out equal), on every kernel family and thread count; lying or damaged int8 metadata
is declined."""

import dataclasses

import numpy as np
import pytest

from onexn_tf import Prune1xNPolicy, apply_1xn, convert
from onexn_tf.runtime.delegate import load_delegate, read_report
from onexn_tf.tflite import graph
from onexn_tf.tflite import metadata as onexn_metadata

from test_delegate import AVAILABLE_KERNELS
from test_delegate_models import entry_of, replace_entry, run

INT8_KERNELS = "qs8-qc8w-spconv-"


def _mobilenet_like(seed=0):
    """Stem 3x3/2, two inverted residual blocks (1x1 expand ReLU6, depthwise 3x3 ReLU6, 1x1 project, one
    with the residual ADD), 1x1 head, global average pool, dense classifier: MobileNetV2's shapes, small."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6", name="stem")(inputs)
    for i, (expand, out, skip) in enumerate([(48, 16, True), (64, 24, False)]):
        y = layers.Conv2D(expand, 1, activation="relu6", name=f"expand{i}")(x)
        y = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name=f"dw{i}")(y)
        y = layers.Conv2D(out, 1, name=f"project{i}")(y)
        x = layers.Add(name=f"add{i}")([x, y]) if skip else y
    x = layers.Conv2D(64, 1, activation="relu6", name="head")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


def _resnet_like(seed=0):
    """Stem 3x3 then zero padding and a 3x3/2 max pool, a bottleneck block with a projection shortcut (1x1,
    3x3, 1x1 + ADD, ReLU), a second bottleneck with the identity shortcut, global average pool, dense
    classifier: ResNet-50's shapes, small."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((12, 12, 8))
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layers.MaxPooling2D(3, strides=2, name="pool")(layers.ZeroPadding2D(1, name="pad")(x))
    for i, (mid, out) in enumerate([(16, 64), (16, 64)]):
        y = layers.Conv2D(mid, 1, activation="relu", name=f"reduce{i}")(x)
        y = layers.Conv2D(mid, 3, padding="same", activation="relu", name=f"conv{i}")(y)
        y = layers.Conv2D(out, 1, name=f"expand{i}")(y)
        shortcut = layers.Conv2D(out, 1, name=f"shortcut{i}")(x) if x.shape[-1] != out else x
        x = layers.ReLU(name=f"relu{i}")(layers.Add(name=f"add{i}")([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


MODELS = {"mobilenet": _mobilenet_like, "resnet": _resnet_like}
INT8_GLUE_OPS = {"mobilenet": {"DEPTHWISE_CONV_2D", "ADD", "MEAN"}, "resnet": {"PAD", "MAX_POOL_2D", "ADD", "MEAN"}}
# Taken by default (glue=auto): the same, all next to the claimed nodes.
INT8_DEFAULT_GLUE_OPS = INT8_GLUE_OPS


def _int8(model, int8_io=True):
    """onexn_tf.convert with full integer quantization (a representative dataset of 16 random inputs)."""
    import tensorflow as tf

    shape = tuple(model.input_shape[1:])

    def dataset():
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield [rng.standard_normal((1,) + shape).astype(np.float32)]

    options = {}
    if int8_io:
        options = dict(target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                       inference_input_type=tf.int8, inference_output_type=tf.int8)
    return convert(model, optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=dataset, **options)


def _inputs(tflite, seed=1):
    from ai_edge_litert.interpreter import Interpreter

    (detail,) = Interpreter(model_content=tflite).get_input_details()
    rng = np.random.default_rng(seed)
    if detail["dtype"] == np.int8:
        return [rng.integers(-128, 128, detail["shape"], dtype=np.int8)]
    return [rng.standard_normal(detail["shape"]).astype(np.float32)]


def _steps(got, want, tflite):
    """|got - want| in quantization steps of the model's output (a float output: of the int8 tensor its
    DEQUANTIZE reads)."""
    scale = 1.0
    if got.dtype == np.float32:
        subgraph = graph.read_model(tflite).subgraphs[0]
        (last,) = [op for op in subgraph.operators if subgraph.outputs[0] in list(op.outputs)]
        scale = float(subgraph.tensors[last.inputs[0]].quantization.scale[0])
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / scale


def check_claims_and_outputs(tflite, **options):
    """Every int8 record's node runs on an int8 kernel (the kept blocks, dense=never: the do-no-harm rule
    would leave some to the stock runtime) and the outputs are within 1 step of stock; the report."""
    inputs = _inputs(tflite)
    want = run(tflite, inputs)
    delegate = load_delegate(**{"dense": "never", **options})
    got = run(tflite, inputs, [delegate])
    report = read_report(delegate)
    records = onexn_metadata.parse_entry(entry_of(tflite))
    assert records and all(r.weight_type == onexn_metadata.WEIGHT_INT8 for r in records)
    assert report["claimed_nodes"] == [r.operator for r in records], report
    assert all(k["kernel"].startswith(INT8_KERNELS) for k in report["kernels"]), report
    assert _steps(got[0], want[0], tflite).max() <= 1.0
    return report, got[0], want[0]


@pytest.fixture(scope="module")
def converted():
    """{(model, n, sparsity, int8 I/O): .tflite bytes}, made on first use."""
    cache = {}

    def get(name, n, sparsity, int8_io=True):
        key = (name, n, sparsity, int8_io)
        if key not in cache:
            cache[key] = _int8(apply_1xn(MODELS[name](), n=n, sparsity=sparsity), int8_io)
        return cache[key]
    return get


@pytest.mark.parametrize("name,n,sparsity", [
    ("mobilenet", 16, 0.5), ("mobilenet", 16, 0.75), ("mobilenet", 4, 0.5), ("mobilenet", 1, 0.6),
    ("resnet", 16, 0.5), ("resnet", 8, 0.75), ("resnet", 2, 0.5)])
def test_int8_models_match_the_stock_runtime(converted, name, n, sparsity):
    tflite = converted(name, n, sparsity)
    report, got, want = check_claims_and_outputs(tflite)
    assert {r.n for r in onexn_metadata.parse_entry(entry_of(tflite))} >= {n}
    # XNNPACK's arithmetic, bit for bit: not one output off.
    np.testing.assert_array_equal(got, want)
    # By default the int8 glue that touches the claimed nodes runs on onexn; the rest stays with the stock
    # runtime, each node saying why and that glue=all takes it: layers without a record (on a CPU with AMX
    # those the estimate finds faster than XNNPACK on the tiles are taken).
    assert {k["op"] for k in report["glue_kernels"]} == INT8_DEFAULT_GLUE_OPS[name], report["glue_kernels"]
    reasons = {d["op"]: d["reason"] for d in report["declined"]}
    assert all("glue=all" in why for why in reasons.values()), reasons
    assert report["dense_nodes"] == [], report  # dense=never: no estimates, the mobilenet's stem is opt-in
    if name == "mobilenet":
        assert "without a record" in reasons["CONV_2D"], reasons
    if _cpu_has("amx_int8") and name == "mobilenet":
        # With dense=auto (the default) a CPU with AMX estimates the layers without a record too: where the
        # graph's 1xN nodes are taken (N = 16; N <= 4 is declined), so is the stem (3 input channels, 5 ns a
        # pixel against 13 for XNNPACK on the tiles).
        delegate = load_delegate()
        got = run(tflite, _inputs(tflite), [delegate])[0]
        np.testing.assert_array_equal(got, want)
        dense = [k["op"] for k in read_report(delegate)["dense_kernels"]]
        assert dense == (["CONV_2D"] if n == 16 else []), read_report(delegate)
    if name == "resnet":  # on the s8-maxpool microkernel of the CPU's ISA
        kernels = {k["op"]: k["kernel"] for k in report["glue_kernels"]}
        assert kernels["MAX_POOL_2D"].startswith("s8-maxpool-minmax-"), kernels
    # With glue=all, one partition: every other node runs on the int8 glue or as a dense int8 layer.
    report, got, want = check_claims_and_outputs(tflite, glue="all")
    np.testing.assert_array_equal(got, want)
    assert report["partitions"] == 1 and report["declined"] == [], report["declined"]
    assert {k["op"] for k in report["glue_kernels"]} == INT8_GLUE_OPS[name], report["glue_kernels"]
    assert all(k["kernel"].startswith(INT8_KERNELS) for k in report["dense_kernels"]), report["dense_kernels"]


def test_int8_glue_apart_from_the_claimed_nodes_stays_with_the_stock_runtime():
    """By default an int8 depthwise convolution that neither reads a delegate node's output nor feeds a
    claimed node (here between the input and a layer left dense) would only add hand-offs: declined with the
    reason; glue=all takes it. Except at 1 thread with dense=auto on a CPU with AVX512-VNNI and VBMI, where
    onexn runs a 3x3 depthwise on its complete-window kernel at twice XNNPACK's speed: taken there, not at 2
    threads (the hand-offs cost more). The outputs are the stock runtime's in every case."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((8, 8, 16))
    x = layers.DepthwiseConv2D(3, padding="same", name="apart")(inputs)
    x = layers.Conv2D(24, 1, activation="relu", name="left_dense")(x)  # no record: left to the stock runtime
    x = layers.Conv2D(32, 1, name="pruned")(x)
    policy = Prune1xNPolicy(16, exclude=("left_dense",))
    tflite = _int8(apply_1xn(keras.Model(inputs, x), n=16, sparsity=0.5, pruning_policy=policy))
    report, got, want = check_claims_and_outputs(tflite)
    np.testing.assert_array_equal(got, want)
    reasons = {d["op"]: d["reason"] for d in report["declined"]}
    assert report["glue_nodes"] == [] and "neither reads" in reasons["DEPTHWISE_CONV_2D"], report
    report, got, want = check_claims_and_outputs(tflite, glue="all")
    np.testing.assert_array_equal(got, want)
    assert {k["op"] for k in report["glue_kernels"]} == {"DEPTHWISE_CONV_2D"} and report["partitions"] == 1, report
    complete_window_kernel = _cpu_has("avx512_vnni") and _cpu_has("avx512vbmi")
    for threads in (1, 2):
        delegate = load_delegate()  # dense=auto
        np.testing.assert_array_equal(run(tflite, _inputs(tflite), [delegate], num_threads=threads)[0], want)
        report = read_report(delegate)
        taken = [k["kernel"] for k in report["glue_kernels"] if k["op"] == "DEPTHWISE_CONV_2D"]
        if complete_window_kernel and threads == 1:
            assert taken == ["qs8-qc8w-dwconv-minmax-fp32-3x3-16c-avx512vnnivbmi"], report
        else:
            assert taken == [], report
            assert any(d["op"] == "DEPTHWISE_CONV_2D" and "neither reads" in d["reason"] for d in report["declined"])


def test_float_io_int8_model(converted):
    """Float input and output: the QUANTIZE / DEQUANTIZE at the edges are left to the stock runtime (they do
    not split the int8 graph)."""
    tflite = converted("mobilenet", 8, 0.5, int8_io=False)
    report, got, want = check_claims_and_outputs(tflite, glue="all")
    np.testing.assert_array_equal(got, want)
    assert report["partitions"] == 1 and report["declined"] == [], report["declined"]


def test_int8_operator_without_an_int8_kernel_is_declined_with_a_reason():
    """An int8 SOFTMAX head: onexn has no int8 softmax (XNNPACK's and TFLite's differ), the stock runtime
    runs it after onexn's partition."""
    from onexn_tf.keras.compat import keras

    base = _mobilenet_like()
    model = keras.Model(base.input, keras.layers.Softmax()(base.output))
    tflite = _int8(apply_1xn(model, n=16, sparsity=0.5))
    report, got, want = check_claims_and_outputs(tflite, glue="all")
    np.testing.assert_array_equal(got, want)
    (declined,) = report["declined"]
    assert declined["op"] == "SOFTMAX" and "no int8 kernel" in declined["reason"], declined
    assert report["partitions"] == 1


@pytest.mark.parametrize("k", [7, 3, 2])
def test_int8_stem_of_9_taps_or_more_runs_by_default(k):
    """An int8 stem without a record, of at most 4 input channels and 9 taps or more (3x3 to 7x7), runs from
    rows on AVX512-VNNI with dense=auto: a dense node, taken by default, the stock runtime's outputs bit for
    bit. A 2x2 stem (not measured) stays with the stock runtime (opt-in with glue=all), saying so. On a CPU
    with AMX the estimate against the tiles decides."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(k)
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(16, k, strides=2, padding="same", activation="relu", name="stem")(inputs)
    x = layers.Conv2D(32, 1, activation="relu", name="pw")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="pw2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    tflite = _int8(apply_1xn(keras.Model(inputs, layers.Dense(10, name="classifier")(x)), 16, 0.5))
    inputs = _inputs(tflite)
    want = run(tflite, inputs)
    for threads in (1, 2):
        delegate = load_delegate(num_threads=threads)
        got = run(tflite, inputs, [delegate])
        np.testing.assert_array_equal(got[0], want[0])
        report = read_report(delegate)
        stem_taken = [d["op"] for d in report["dense_kernels"]] == ["CONV_2D"]
        if not _cpu_has("amx_int8"):
            assert stem_taken == (k >= 3 and _cpu_has("avx512_vnni") and _cpu_has("avx512f")), report
            if not stem_taken:
                reasons = [d["reason"] for d in report["declined"] if d["op"] == "CONV_2D"]
                assert reasons and "without a record" in reasons[0], report["declined"]


@pytest.mark.parametrize("threads", [1, 2])
def test_int8_depthwise_blocks_run_fused_bit_for_bit(converted, threads):
    """Option fuse (on by default) runs an int8 1x1 expansion -> depthwise -> 1x1 projection as one step through
    band buffers (onexn_qdwblock), as it does float blocks: the unfused delegate's outputs and the stock
    runtime's, bit for bit. At 2 threads the expansions of these 8-row images run apart (their runs of rows
    would recompute over 20% of them): the depthwise and its projection still fuse. The first block's residual
    ADD runs inside it (onexn_qdwblock_run_add), each task adding the rows it projected."""
    tflite = converted("mobilenet", 16, 0.5)
    fused_report, fused, want = check_claims_and_outputs(tflite, num_threads=threads)
    apart_report, apart, _ = check_claims_and_outputs(tflite, num_threads=threads, fuse="0")
    assert [len(block) for block in fused_report["fused"]] == ([4, 3] if threads == 1 else [3, 2]), fused_report
    [[project, add]] = fused_report["residual"]
    assert fused_report["fused"][0][-2:] == [project, add]
    assert apart_report["fused"] == apart_report["residual"] == []
    np.testing.assert_array_equal(fused, apart)
    np.testing.assert_array_equal(fused, want)


def _int8_chain_model(seed=0):
    """MobileNetV2's first blocks on a 48x48 image: a stem 3x3/2, a block without expansion, a strided block,
    a residual block: consecutive int8 blocks, each reading the one before's output."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((48, 48, 3))
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu6", name="stem")(inputs)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw0")(x)
    x = layers.Conv2D(16, 1, name="project0")(y)
    for i, (stride, skip) in enumerate([(2, False), (1, True)], start=1):
        y = layers.Conv2D(96, 1, activation="relu6", name=f"expand{i}")(x)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6", name=f"dw{i}")(y)
        y = layers.Conv2D(32, 1, name=f"project{i}")(y)
        x = layers.Add(name=f"add{i}")([x, y]) if skip else y
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(64, 1, activation="relu6", name="head")(x))
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_int8_consecutive_blocks_run_as_one_chain_at_two_threads(threads):
    """Option pipeline (on by default): at two threads, consecutive int8 blocks run as one parallel job, one
    thread from the top down, the other from the bottom up (onexn_dwblock_chain), the residual ADD inside
    its block. The report lists the chain; outputs are the blocks' one job each (pipeline=0) bit for bit,
    and within a step of the stock runtime's."""
    tflite = _int8(apply_1xn(_int8_chain_model(), n=16, sparsity=0.5))
    report, got, _ = check_claims_and_outputs(tflite, num_threads=threads)
    starts = [nodes[0] for nodes in sorted(report["fused"])]
    assert len(starts) == 3 and len(report["residual"]) == 1, report
    assert report["chains"] == ([starts] if threads == 2 else []), report
    apart_report, apart, _ = check_claims_and_outputs(tflite, num_threads=threads, pipeline="0")
    assert apart_report["chains"] == [] and apart_report["fused"] == report["fused"], apart_report
    np.testing.assert_array_equal(got, apart)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_int8_residual_adds_run_with_their_convolution(converted, threads):
    """Option fuse: an int8 1x1 whose output only the ADD after it reads runs that ADD as its pixels finish
    (onexn_qconv_run_add, with XNNPACK's qs8 vadd arithmetic): both bottlenecks' expansions and ADDs, the
    unfused delegate's outputs bit for bit."""
    tflite = converted("resnet", 16, 0.5)
    report, fused, want = check_claims_and_outputs(tflite, num_threads=threads)
    apart_report, apart, _ = check_claims_and_outputs(tflite, num_threads=threads, fuse="0")
    assert len(report["residual"]) == 2 and apart_report["residual"] == [], report["residual"]
    ops = {k["node"]: k["op"] for k in report["glue_kernels"]}
    assert all(ops[add] == "ADD" and conv in report["claimed_nodes"] for conv, add in report["residual"])
    np.testing.assert_array_equal(fused, apart)


@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50"])
def test_int8_network_is_one_partition(name):
    """keras.applications networks pruned as a user prunes them (16, 0.5, the default policy), fully int8
    (int8 I/O), at 64x64 (the graph of the 224x224 one) without the softmax, with glue=all: one partition,
    nothing declined, the stock runtime's outputs."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classifier_activation=None)
    tflite = _int8(apply_1xn(model, 16, 0.5))
    for threads in (1, 2):
        report, got, want = check_claims_and_outputs(tflite, num_threads=threads, glue="all")
        np.testing.assert_array_equal(got, want)
        assert report["partitions"] == 1 and report["declined"] == [], report["declined"]
        assert report["claimed"] > 10 and report["dense_nodes"], report


def _cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith(("flags", "Features")) and flag in line.split() for line in f)
    except OSError:
        return False


def _int8_family(kernel):
    """The suffixes of the int8 microkernels an ISA option runs: AVX512 and NEON take their dot-product
    extension when the CPU has it, AVX512 also VBMI's twin of the 16-channel kernel on layers it suits
    (kernels/README.md, int8 dispatch)."""
    if kernel == "avx512":
        if not _cpu_has("avx512_vnni"):
            return ("-avx2",)
        return ("-avx512vnni", "-avx512vnnivbmi") if _cpu_has("avx512vbmi") else ("-avx512vnni",)
    if kernel == "neon":
        return ("-neondot",) if _cpu_has("asimddp") else ("-neon",)
    return ("-" + kernel,)


@pytest.mark.parametrize("kernel", AVAILABLE_KERNELS)
@pytest.mark.parametrize("threads", [1, 2])
def test_every_kernel_family_and_thread_count(converted, kernel, threads):
    tflite = converted("resnet", 16, 0.5)
    report, got, want = check_claims_and_outputs(tflite, kernel=kernel, num_threads=threads)
    assert all(k["kernel"].endswith(_int8_family(kernel)) for k in report["kernels"]), report
    np.testing.assert_array_equal(got, want)
    # The int8 glue on the same ISA: its depthwise and add microkernels (qs8-vadd has no NEON row: scalar;
    # the AVX512 depthwise takes its VNNI row where the CPU has it, and with VBMI too its row for complete
    # 3x3 windows, on these 3x3 layers).
    vnni = kernel == "avx512" and _cpu_has("avx512_vnni")
    dw = ("3x3-16c-avx512vnnivbmi" if _cpu_has("avx512vbmi") else "-avx512vnni") if vnni else "-" + kernel
    suffix = {"DEPTHWISE_CONV_2D": dw, "ADD": "-scalar" if kernel == "neon" else "-" + kernel}
    for name in ("mobilenet", "resnet"):
        tflite = converted(name, 16, 0.5)
        report, got, want = check_claims_and_outputs(tflite, kernel=kernel, num_threads=threads, glue="all")
        np.testing.assert_array_equal(got, want)
        simd = [k for k in report["glue_kernels"] if k["op"] in suffix]
        assert simd and all(k["kernel"].endswith(suffix[k["op"]]) for k in simd), report["glue_kernels"]


def test_do_no_harm_leaves_slow_int8_nodes_to_the_stock_runtime(converted):
    """By default (dense=auto) the int8 nodes the kernels would run slower than XNNPACK's dense int8 ones are
    declined with the reason: 4-channel panels (N <= 4), outputs of fewer than 16 pixels (the classifier);
    the other recorded nodes are claimed, and the outputs stay XNNPACK's, bit for bit."""
    for n, rule in ((4, "are too narrow"), (8, "pixels: the 16-pixel tiles")):  # at 8 the 10-class head is 1xN
        tflite = converted("mobilenet", n, 0.5)
        recorded = {r.operator for r in onexn_metadata.parse_entry(entry_of(tflite))}
        inputs = _inputs(tflite)
        delegate = load_delegate()
        got = run(tflite, inputs, [delegate])
        report = read_report(delegate)
        slow = {d["node"] for d in report["declined"] if rule in d["reason"]}
        assert slow and slow <= recorded, report["declined"]
        assert set(report["claimed_nodes"]) == recorded - slow, report
        np.testing.assert_array_equal(got[0], run(tflite, inputs)[0])


def test_with_amx_a_layer_xnnpack_runs_faster_on_tiles_is_left_to_it():
    """On a CPU with AMX-INT8 (the stock runtime's XNNPACK runs dense int8 on the tiles) a large int8 layer at
    50% is declined with the estimate; a small-cin one at 75% is taken. Without AMX both are taken. The
    outputs are the stock ones either way."""
    from onexn_tf.keras.compat import keras

    amx = _cpu_has("amx_int8") and _cpu_has("amx_tile")
    for shape, cout, sparsity, slow_with_amx in (((14, 14, 1024), 256, 0.5, True), ((28, 28, 32), 192, 0.75, False)):
        keras.utils.set_random_seed(3)
        inputs = keras.Input(shape)
        model = keras.Model(inputs, keras.layers.Conv2D(cout, 1, name="conv")(inputs))
        tflite = _int8(apply_1xn(model, n=16, sparsity=sparsity))
        x = _inputs(tflite)
        delegate = load_delegate()
        got = run(tflite, x, [delegate])
        report = read_report(delegate)
        np.testing.assert_array_equal(got[0], run(tflite, x)[0])
        if amx and slow_with_amx:
            (declined,) = report["declined"]
            assert "AMX" in declined["reason"] and "ns" in declined["reason"], declined
            assert report["claimed"] == 0, report
        else:
            assert report["claimed"] == 1, report


def test_with_amx_a_graph_whose_int8_nodes_save_too_little_is_left_to_the_stock_runtime():
    """On a CPU with AMX-INT8: a small layer that gains (28x28x32->16) next to a large one declined as slower
    than XNNPACK on the tiles saves too little of the graph's int8 time to pay for the hand-offs, so the graph
    is left to the stock runtime, with the reason; dense=never still takes all three. Without AMX all three
    are taken by default. Outputs are the stock ones."""
    from onexn_tf.keras.compat import keras

    amx = _cpu_has("amx_int8") and _cpu_has("amx_tile")
    keras.utils.set_random_seed(4)
    inputs = keras.Input((28, 28, 32))
    x = keras.layers.Conv2D(16, 1, name="small")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(1024, 1, name="large")(keras.layers.Conv2D(1024, 1)(x)))
    tflite = _int8(apply_1xn(model, n=16, sparsity=0.5))
    x = _inputs(tflite)
    want = run(tflite, x)[0]
    delegate = load_delegate()
    np.testing.assert_array_equal(run(tflite, x, [delegate])[0], want)
    report = read_report(delegate)
    if not amx:  # no estimates: each node by the N and pixel rules, all three taken
        assert report["claimed"] == 3, report
        return
    assert report["claimed"] == 0 and report["partitions"] == 0, report
    reasons = [d["reason"] for d in report["declined"]]
    assert any("gain too little (int8 against XNNPACK on AMX tiles)" in r for r in reasons), reasons
    assert any("AMX" in r and "ns" in r and "gain too little" not in r for r in reasons), reasons
    forced = load_delegate(dense="never")
    np.testing.assert_array_equal(run(tflite, x, [forced])[0], want)
    assert read_report(forced)["claimed"] == 3, read_report(forced)


def test_resized_batch_repacks_and_matches(converted):
    tflite = converted("resnet", 8, 0.75)
    x = [np.random.default_rng(5).integers(-128, 128, (3, 12, 12, 8), dtype=np.int8)]
    delegate = load_delegate(num_threads=2, dense="never")
    got = run(tflite, x, [delegate], resize={0: [3, 12, 12, 8]})
    assert read_report(delegate)["claimed"] == len(onexn_metadata.parse_entry(entry_of(tflite)))
    np.testing.assert_array_equal(got[0], run(tflite, x, resize={0: [3, 12, 12, 8]})[0])


# ---------------------------------------------------------------------------------------------------------
# Lying or damaged int8 metadata: the node (or the whole entry) is declined, the outputs stay the stock ones.


def _base(converted):
    return converted("mobilenet", 16, 0.5)


def _records(tflite):
    return onexn_metadata.parse_entry(entry_of(tflite), keep_unknown=True)


def _weight_of(model, record):
    tensor = model.subgraphs[0].tensors[record.weight_tensor]
    return tensor, np.frombuffer(bytes(model.buffers[tensor.buffer].data), np.int8).reshape(tensor.shape).copy()


def _with_weight(tflite, record, weight):
    model = graph.read_model(tflite)
    tensor, _ = _weight_of(model, record)
    model.buffers[tensor.buffer].data = np.frombuffer(weight.tobytes(), np.uint8)
    return bytes(graph.write_model(model))


def _lying_block(tflite):
    """A pruned block of the first record made non-zero, with a record whose CRC matches the new weight."""
    records = _records(tflite)
    _, weight = _weight_of(graph.read_model(tflite), records[0])
    c, g = np.argwhere(~records[0].kept_blocks())[0]
    weight.reshape(weight.shape[0], -1, weight.shape[-1])[g * records[0].n, 0, c] = 3
    records[0].weight_crc32 = onexn_metadata.weight_crc32(weight)
    return replace_entry(_with_weight(tflite, records[0], weight), onexn_metadata.encode_entry(records))


def _changed_weight(tflite):
    """A kept int8 weight of the first record changed after conversion (record untouched)."""
    records = _records(tflite)
    _, weight = _weight_of(graph.read_model(tflite), records[0])
    flat = weight.reshape(-1)
    i = int(np.flatnonzero(flat)[0])
    flat[i] = 1 if flat[i] != 1 else 2
    return _with_weight(tflite, records[0], weight)


def _edited(**fields):
    def edit(tflite):
        records = _records(tflite)
        records[0] = dataclasses.replace(records[0], **fields)
        return replace_entry(tflite, onexn_metadata.encode_entry(records))
    return edit


LIES = {
    "nonzero_weight_in_pruned_block": (_lying_block, "metadata lies"),
    "weight_changed_after_conversion": (_changed_weight, "CRC-32 mismatch"),
    "says_float32": (_edited(weight_type=onexn_metadata.WEIGHT_FLOAT32), "input is not float32"),
    "wrong_weight_tensor": (_edited(weight_tensor=0), "not the node's input 1"),
    "unknown_weight_type": (_edited(weight_type=7), "unknown weight type 7"),
    "int8_in_compact_encoding": (_edited(encoding=onexn_metadata.ENCODING_SPARSE), "compact encoding"),
}


@pytest.mark.parametrize("case", LIES)
def test_lying_int8_record_declines_only_its_node(converted, case):
    make, why = LIES[case]
    tflite = make(_base(converted))
    inputs = _inputs(tflite)
    delegate = load_delegate()
    got = run(tflite, inputs, [delegate])
    report = read_report(delegate)
    first = _records(tflite)[0].operator
    declined = {d["node"]: d["reason"] for d in report["declined"]}
    assert why in declined[first], declined
    assert report["claimed_nodes"] == [r.operator for r in _records(tflite)[1:]], report
    np.testing.assert_array_equal(got[0], run(tflite, inputs)[0])


def test_int8_record_on_a_float_node_is_declined():
    """An int8 record whose CRC matches the bytes of a float32 weight: the node's tensors are not int8."""
    model = apply_1xn(_mobilenet_like(), n=8, sparsity=0.5)
    tflite = convert(model)
    records = _records(tflite)
    records[0] = dataclasses.replace(records[0], weight_type=onexn_metadata.WEIGHT_INT8)
    lie = replace_entry(tflite, onexn_metadata.encode_entry(records))
    delegate = load_delegate()
    inputs = _inputs(lie)
    got = run(lie, inputs, [delegate])
    declined = {d["node"]: d["reason"] for d in read_report(delegate)["declined"]}
    assert "input is not int8" in declined[records[0].operator], declined
    np.testing.assert_allclose(got[0], run(lie, inputs)[0], rtol=1e-4, atol=1e-4)


def test_damaged_int8_entry_claims_nothing(converted):
    tflite = _base(converted)
    entry = bytearray(entry_of(tflite))
    entry[-1] ^= 0x40  # a kept_cin byte: the header CRC no longer matches
    damaged = replace_entry(tflite, bytes(entry))
    inputs = _inputs(damaged)
    delegate = load_delegate()
    got = run(damaged, inputs, [delegate])
    report = read_report(delegate)
    assert report["claimed"] == 0 and "CRC" in report["metadata"], report
    np.testing.assert_array_equal(got[0], run(damaged, inputs)[0])


# ---------------------------------------------------------------------------------------------------------
# The ABI of quantized tensors (TfLiteQuantization -> TfLiteAffineQuantization), proven like tests/test_abi.py
# proves the rest (that file runs in the aarch64 Python too, which has no TensorFlow to make an int8 model).


@pytest.mark.parametrize("runtime", ["litert", "tf"])
def test_abi_probe_reads_every_tensors_quantization(converted, runtime):
    import testing_library
    from test_delegate_models import interpreter_class

    if testing_library.path() is None:
        pytest.skip(f"no testing library of the delegate: {testing_library.BUILD_HINT}")
    tflite = converted("mobilenet", 16, 0.5)
    with testing_library.in_use():
        delegate = load_delegate(abi_probe=1)
        interpreter = interpreter_class(runtime)(model_content=tflite, experimental_delegates=[delegate])
        report = read_report(delegate)
    tensors = report["probe"]["before"]["tensors"]
    checked = 0
    for detail in interpreter.get_tensor_details():
        want = detail["quantization_parameters"]
        got = tensors[detail["index"]].get("quantization")
        if len(want["scales"]) == 0:
            assert got is None or got["scale_bits"] == [], got
            continue
        assert got["scale_bits"] == [int(b) for b in np.asarray(want["scales"], np.float32).view(np.uint32)]
        assert got["zero_point"] == [int(z) for z in want["zero_points"]]
        assert got["quantized_dimension"] == want["quantized_dimension"]
        checked += 1
    per_channel = [t for t in tensors if len(t.get("quantization", {}).get("scale_bits", [])) > 1]
    assert checked > 20 and per_channel  # activations, biases and per-channel weights
    assert report["claimed"] == len(onexn_metadata.parse_entry(entry_of(tflite)))


def test_amx_runs_the_16_channel_layers_on_tiles_where_the_cpu_has_them():
    """amx=1 on a CPU with AMX-INT8: the int8 layers of 16-channel blocks run on the tiles
    (qs8-qc8w-spconv-16x16-avx512amx; the stem keeps its rows), outputs equal to the stock runtime's. Elsewhere
    the option is refused with the reason; qconv_test checks the kernel on a C model of the tiles there."""
    tflite = _int8(apply_1xn(_resnet_like(), n=16, sparsity=0.5))
    x = _inputs(tflite)
    if not all(_cpu_has(flag) for flag in ("amx_int8", "amx_tile", "avx512_vnni", "avx512vbmi")):
        with pytest.raises(ValueError, match="amx=1 needs AMX-INT8 tiles that Linux lets this process use"):
            load_delegate(amx=1)
        return
    with pytest.raises(ValueError, match="kernel=avx2 excludes it"):
        load_delegate(amx=1, kernel="avx2")
    delegate = load_delegate(amx=1, dense="never")
    got = run(tflite, x, [delegate])
    kernels = {k["kernel"] for k in read_report(delegate)["kernels"]}
    assert "qs8-qc8w-spconv-16x16-avx512amx" in kernels, kernels
    np.testing.assert_array_equal(got[0], run(tflite, x)[0])
