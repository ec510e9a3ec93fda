"""The onexn TFLite delegate from Python: find the library, load it, read what it claimed.

The delegate is the shared library ``libonexn_delegate.so`` built by ``pip install`` (setup.py) into the
``onexn_tf`` package folder, or by Bazel (``bazel build //tflite_delegate:libonexn_delegate.so``; point ``ONEXN_DELEGATE_PATH`` at
the result). It is an external delegate: any TFLite runtime loads it with ``load_delegate(path, options)``.

Options (all optional):
  num_threads: threads of the delegate's kernels. 1, 2, ...; -1 or 0 (the default) follow the
    interpreter's ``num_threads`` and use 1 thread when the interpreter leaves it unset.
  kernel: "auto" (default: best ISA of this CPU), "scalar", "avx2", "avx512" or "neon". An ISA this CPU
    (or this build) lacks is an error, not a silent fallback.
  verbose: True/1 prints each claimed/declined node to stderr.
  glue: "auto" (default): in a graph in which it claimed a 1xN node, also run the rest of the float graph
    it can: CONV_2D / FULLY_CONNECTED nodes without a record as dense layers (every block kept), and
    DEPTHWISE_CONV_2D (depth multiplier 1), same-shape ADD, MEAN over height and width, MAX_POOL_2D,
    AVERAGE_POOL_2D, PAD / PADV2 with zeros, CONCATENATION, RESHAPE and SOFTMAX, so that the graph is one
    partition instead of one hand-off to the stock runtime per node. A model without onexn records is
    left to the stock runtime. In an int8 graph with claimed int8 1xN nodes it runs the int8
    DEPTHWISE_CONV_2D, ADD, MEAN, PAD and RESHAPE nodes that read what a delegate node writes or write what
    a claimed node reads (apart from them they would only add hand-offs; with dense="auto" at 1 thread a
    3x3 depthwise is taken apart too where AVX512-VNNI and VBMI run it at twice XNNPACK's speed), and on a
    CPU with AMX the int8 layers without a record its estimate finds faster than XNNPACK on the tiles. "off" takes only the 1xN
    nodes; "all" takes the others in any graph (to time them alone), in int8 graphs also int8 MAX_POOL_2D
    and every int8 layer without a record (so an int8 MobileNetV2 or ResNet-50 is one partition; not by
    default: those int8 kernels are still slower than the stock runtime's).
  fuse: 1 (default) runs a depthwise convolution as one step with the 1x1 convolutions around it, a
    convolution with the residual ADD after it, and a float PAD of zeros as the padding of the CONV_2D (or
    the MAX_POOL_2D of ReLU outputs) after it; 0 runs them apart.
  channel_slices: 1 (default) lets a fused float block whose rows split unevenly over several threads (7x7
    images at 2 threads) run cut by channels instead: each thread expands, filters and projects its share
    of the expanded channels, and the partial sums add up, in another order than at one thread (results
    differ from one thread's by float rounding). 0 keeps every thread count's results equal to one
    thread's, bit for bit.
  pipeline: 1 (default) runs consecutive fused float blocks at two threads as one parallel job, one thread
    walking them from the top of the image down and the other from the bottom up (no block waits for its
    slower thread; the same results); 0 runs one job per block (and ONEXN_PROFILE=1 then times each).
  dense: "auto" (default) lets a 1xN node run every block instead of its kept ones (the zeros multiplied)
    where the kernel library's cost model estimates that faster: N = 1 and 2 at moderate sparsity, layers
    with few channels; the report's kernel entry then says ``"blocks": "all"`` and why. "never" always runs
    the kept blocks, "always" every block (for A/B measurements).
The testing build of the library (``libonexn_delegate_testing.so``, tests/test_abi.py) also takes
``abi_probe``; the production library rejects it as an unknown option.

One delegate object may serve several interpreters, created one after another, also while the earlier ones
are alive; invokes from different threads take turns on its thread pool. Create and prepare interpreters on
a shared delegate from one thread (docs/RELIABILITY.md). The delegate must outlive its interpreters, which
the runtime's Interpreter(experimental_delegates=[...]) takes care of.
"""

import ctypes
import json
import os
from pathlib import Path

LIBRARY_NAME = "libonexn_delegate.so"
PATH_ENV = "ONEXN_DELEGATE_PATH"
KERNELS = ("auto", "scalar", "avx2", "avx512", "neon")

_BUILD_HINT = ("build it with `pip install -e .` (or `pip install .`) from the onexn source tree, or with "
               "`bazel build //tflite_delegate:libonexn_delegate.so` and set ONEXN_DELEGATE_PATH to the "
               "result")


def delegate_path():
    """Path (str) of the delegate library: ``$ONEXN_DELEGATE_PATH`` if set, else the one installed here.

    Raises FileNotFoundError with build instructions when the library does not exist.
    """
    override = os.environ.get(PATH_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"{PATH_ENV}={override!r} does not name a file; {_BUILD_HINT}")
        return str(path.resolve())
    path = Path(__file__).resolve().parent.parent / LIBRARY_NAME  # onexn_tf/, where setup.py builds it
    if not path.is_file():
        raise FileNotFoundError(f"the onexn delegate library {path} is not built; {_BUILD_HINT}")
    return str(path)


def _option_strings(options):
    strings = {}
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        strings[key] = str(value)
    return strings


def load_delegate(**options):
    """Loads the onexn delegate with ``options`` (see the module docstring) for an Interpreter.

    Returns the runtime's Delegate object; pass it as
    ``ai_edge_litert.interpreter.Interpreter(..., experimental_delegates=[delegate])`` (``tf.lite.Interpreter``
    accepts it too). Options whose value is None are left out. A bad option raises ValueError with the
    delegate's message.
    """
    from ai_edge_litert.interpreter import load_delegate as runtime_load_delegate

    return runtime_load_delegate(delegate_path(), _option_strings(options))


def read_report(delegate):
    """The report (dict) of a loaded onexn delegate, as of the last graph it prepared.

    Keys: ``claimed`` (number of 1xN CONV_2D / FULLY_CONNECTED nodes, those with a verified record, run by
    onexn kernels), ``claimed_nodes``, ``kernels`` (list of ``{"node", "kernel"}`` for those, plus
    ``"densify_node"`` when the node's compact weight's DENSIFY runs inside the onexn kernel too,
    ``"blocks": "all"`` and ``"why"`` when it runs every block, and ``"estimated_ms"``: the cost model's
    one-thread estimates ``{"chosen", "kept", "all", "stock"}`` where it has coefficients for the kernels:
    ``"all"`` every block on the fastest dense kernel, ``"stock"`` every block at the dense block width,
    about the stock runtime's time and the whole-graph margin's yardstick),
    ``dense_nodes`` / ``dense_kernels`` (the CONV_2D / FULLY_CONNECTED nodes without a record it runs as
    dense layers, see ``glue``), ``glue_nodes`` / ``glue_kernels`` (the other operators it runs, see
    ``glue``); each entry of ``dense_kernels`` and ``glue_kernels`` is ``{"node", "op", "kernel"}`` with the
    operator's name ("MAX_POOL_2D", ...). ``partitions`` (delegate kernels all those nodes formed),
    ``fused`` (the depthwise blocks run as one step: lists of their nodes) and ``residual`` (``[conv, add]``
    node pairs: a CONV_2D, alone or a depthwise block's projection, float or int8, that adds the ADD after
    it as its pixels finish; both with option fuse), ``channel_slices`` (``[first node, slices]`` of the
    blocks run cut by channels at this thread count, option channel_slices), ``chains`` (the first nodes of
    the fused blocks of each chain run as one job at two threads, option pipeline), ``folded_pads`` (``[PAD node,
    CONV_2D or MAX_POOL_2D node]``: a PAD folded into the padding of the layer after it, option fuse),
    ``declined`` (list of ``{"node", "op", "reason"}`` for the nodes it looked at and left to the stock
    runtime, and for records that match no node),
    ``metadata`` ("ok", "absent" or why the entry was rejected), ``isa``, ``num_threads``, ``version``,
    ``metadata_version``, ``prepared`` (False until an interpreter used the delegate) and
    ``other_subgraphs`` (the same keys for further graphs the runtime offered: other subgraphs of the model,
    or the graphs of further interpreters that share this delegate; usually empty). Each graph's
    ``subgraph`` is the metadata subgraph whose records it used.
    """
    pointer = delegate._get_native_delegate_pointer()
    if not pointer:
        raise ValueError("the delegate object holds no native delegate")
    library = ctypes.CDLL(delegate_path())
    library.onexn_delegate_report_json.argtypes = [ctypes.c_void_p]
    library.onexn_delegate_report_json.restype = ctypes.c_char_p
    return json.loads(library.onexn_delegate_report_json(pointer).decode("utf-8", "replace"))


def delegate_report(tflite_bytes, **options):
    """What the delegate does with a model: builds an interpreter with it, allocates tensors, reports.

    Args:
      tflite_bytes: the .tflite model (bytes).
      **options: delegate options (see the module docstring).

    Returns:
      The report dict (see ``read_report``).
    """
    from ai_edge_litert.interpreter import Interpreter

    if not isinstance(tflite_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"tflite_bytes must be bytes, got {type(tflite_bytes).__name__}")
    delegate = load_delegate(**options)
    interpreter = Interpreter(model_content=bytes(tflite_bytes), experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    report = read_report(delegate)
    del interpreter
    return report
