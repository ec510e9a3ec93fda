"""Channel spaces of a functional or Sequential model: which channels must be permuted together.

A *space* is a run of channels that one permutation acts on. A Conv/Dense layer starts a new space (its
output channels); layers that act channel by channel (BatchNormalization, activations, pooling, a
depthwise convolution with multiplier 1, ...) pass the space on; an elementwise merge (Add, Multiply, ...)
ties the spaces of its inputs into one (union-find), because all tensors meeting there must share one
channel order. A tensor's last axis is described by its *layout*: a tuple of ``(space, size)`` segments.
Most layouts have one segment; a channel Concatenate joins its inputs' segments; a Flatten of an
``(h, w, c)`` tensor repeats the segments h*w times, since the flat index is ``(i*w + j)*c + k``.

A space is *blocked* (never permuted) when permuting it would change the model's function or cannot be
followed: it reaches a model output, comes from a model input, is read by a layer this module does not
understand (Reshape, Lambda, TFOpLambda, a nested model, ...), or is merged elementwise with a tensor of
another layout. The reasons are kept for the report.

Works on tf_keras and Keras 3 models alike: the layer classes and the graph's nodes come from the model's
flavour module (``onexn_tf.keras.flavour``).
"""

import dataclasses
import functools
import math

from onexn_tf.keras import flavour

# Layer kinds. Each says what the layer does to the channel axis.
INPUT = "input"                # a model input: its channel order is fixed by the caller
PRODUCER = "producer"          # Conv/Dense: reads its input's channels (kernel axis -2), writes a new space
SEPARABLE = "separable"        # SeparableConv: like a producer, through depthwise + pointwise kernels
DEPTHWISE = "depthwise"        # DepthwiseConv, multiplier 1: channel c in -> channel c out, own params
CHANNEL_PARAMS = "params"      # BatchNorm / LayerNorm(channels) / PReLU: per-channel params, layout kept
PASSTHROUGH = "passthrough"    # no per-channel params, acts on each channel alike
FLATTEN = "flatten"
CONCAT = "concat"              # Concatenate on the channel axis
ELEMENTWISE = "elementwise"    # Add, Subtract, Multiply, Average, Maximum, Minimum; Concatenate on another axis
OPAQUE = "opaque"              # anything else: its inputs and outputs are blocked

_PASSTHROUGH_NAMES = (
    "Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Softmax", "Identity",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")


@dataclasses.dataclass(frozen=True)
class LayerTypes:
    """The layer classes of one Keras flavour that the analysis tells apart."""
    L: object  # the flavour's keras.layers
    passthrough: tuple
    elementwise: tuple
    transposed: tuple
    depthwise: tuple
    separable: tuple
    conv: tuple


@functools.cache
def layer_types(layers):
    """LayerTypes of a flavour's ``keras.layers`` module (names a flavour lacks are skipped)."""
    def present(*names):
        return tuple(t for t in (getattr(layers, name, None) for name in names) if t is not None)

    return LayerTypes(layers, present(*_PASSTHROUGH_NAMES),
                      present("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"),
                      present("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
                      present("DepthwiseConv1D", "DepthwiseConv2D"), present("SeparableConv1D", "SeparableConv2D"),
                      present("Conv1D", "Conv2D", "Conv3D"))


@dataclasses.dataclass
class Space:
    """What is known about one union-find root."""
    size: int
    sources: list = dataclasses.field(default_factory=list)    # layer names writing these channels
    merged_by: list = dataclasses.field(default_factory=list)  # layers that tied spaces into this one
    blocked: list = dataclasses.field(default_factory=list)    # reasons not to permute


class ChannelSpaces:
    """Union-find over channel spaces."""

    def __init__(self):
        self._parent = []
        self._info = []

    def new(self, size, source, blocked=None):
        self._parent.append(len(self._parent))
        self._info.append(Space(size, [source], [], [blocked] if blocked else []))
        return len(self._parent) - 1

    def find(self, space):
        while self._parent[space] != space:
            self._parent[space] = self._parent[self._parent[space]]
            space = self._parent[space]
        return space

    def info(self, space):
        return self._info[self.find(space)]

    def block(self, space, reason):
        blocked = self.info(space).blocked
        if reason not in blocked:
            blocked.append(reason)

    def union(self, a, b, via):
        a, b = self.find(a), self.find(b)
        if a == b:
            if via not in self._info[a].merged_by:
                self._info[a].merged_by.append(via)
            return
        if self._info[a].size != self._info[b].size:  # cannot happen for a model Keras built; be safe
            self.block(a, f"{via} merges {self._info[a].size} with {self._info[b].size} channels")
            self.block(b, f"{via} merges {self._info[b].size} with {self._info[a].size} channels")
            return
        self._parent[b] = a
        keep, gone = self._info[a], self._info[b]
        keep.sources += [s for s in gone.sources if s not in keep.sources]
        keep.merged_by += [m for m in gone.merged_by + [via] if m not in keep.merged_by]
        keep.blocked += [r for r in gone.blocked if r not in keep.blocked]

    def roots(self):
        return [s for s in range(len(self._parent)) if self._parent[s] == s]


@dataclasses.dataclass
class ChannelGraph:
    """Result of ``analyze``: spaces, and the layouts each weighted layer's permutation comes from."""
    spaces: ChannelSpaces
    kinds: dict            # layer name -> kind (for layers that take part)
    input_layouts: dict    # layer name -> layout of its input (layers whose weights depend on it)
    output_space: dict     # layer name -> the space a PRODUCER / SEPARABLE layer writes


def _data_format_reason(layer):
    fmt = getattr(layer, "data_format", "channels_last")
    return None if fmt in (None, "channels_last") else f"data_format={fmt!r}"


def _rank(tensor):
    return len(tensor.shape)


def _axes(layer):
    """A normalization layer's axis as a list (tf_keras keeps a list, Keras 3 an int or a list)."""
    return [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)


def classify(layer, inputs, types, model_class):
    """(kind, reason): what `layer` does to the channel axis of `inputs` (its KerasTensors at one node).

    `types` are the flavour's ``LayerTypes``, `model_class` its ``keras.Model``."""
    name = type(layer).__name__
    L = types.L
    if isinstance(layer, model_class):
        return OPAQUE, "nested models are not followed"
    if isinstance(layer, L.InputLayer):
        return INPUT, None
    why = _data_format_reason(layer)
    if why:
        return OPAQUE, why
    if isinstance(layer, types.transposed):
        return OPAQUE, "transposed convolutions are not followed"
    if isinstance(layer, types.depthwise):
        if layer.depth_multiplier != 1:
            return OPAQUE, f"depthwise multiplier {layer.depth_multiplier} > 1"
        return DEPTHWISE, None
    if isinstance(layer, types.separable):
        return SEPARABLE, None
    if isinstance(layer, types.conv):
        if layer.groups != 1:
            return OPAQUE, f"grouped convolution (groups={layer.groups})"
        return PRODUCER, None
    if type(layer) is L.Dense:  # subclasses may compute something else with the kernel
        return PRODUCER, None
    if isinstance(layer, (L.BatchNormalization, L.LayerNormalization)):
        axis = _axes(layer)
        return (CHANNEL_PARAMS, None) if axis in ([-1], [_rank(inputs[0]) - 1]) else (OPAQUE, f"axis={axis}")
    if isinstance(layer, L.PReLU):
        return CHANNEL_PARAMS, None
    if isinstance(layer, types.passthrough):
        return (PASSTHROUGH, None) if not layer.weights else (OPAQUE, f"{name} has weights")
    if isinstance(layer, L.Flatten):
        return FLATTEN, None
    if isinstance(layer, L.Concatenate):
        rank = _rank(inputs[0])
        return (CONCAT, None) if layer.axis in (-1, rank - 1) else (ELEMENTWISE, None)
    if isinstance(layer, types.elementwise):
        return ELEMENTWISE, None
    return OPAQUE, "not followed by the channel analysis"


def _depthwise_kernel(layer):
    """A depthwise layer's kernel: ``depthwise_kernel`` in tf_keras, ``kernel`` in Keras 3."""
    return layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel


def weight_axes(layer, kind):
    """[(variable, role, axis)]: which axis of which weight follows the input ('in'), the input expanded by
    a depth multiplier ('in_expanded') or the output ('out') channel permutation."""
    if kind == PRODUCER:
        axes = [(layer.kernel, "in", -2), (layer.kernel, "out", -1)]
        return axes + ([(layer.bias, "out", 0)] if layer.use_bias else [])
    if kind == SEPARABLE:
        axes = [(layer.depthwise_kernel, "in", -2), (layer.pointwise_kernel, "in_expanded", -2),
                (layer.pointwise_kernel, "out", -1)]
        return axes + ([(layer.bias, "out", 0)] if layer.use_bias else [])
    if kind == DEPTHWISE:
        return [(_depthwise_kernel(layer), "in", -2)] + ([(layer.bias, "in", 0)] if layer.use_bias else [])
    if kind == CHANNEL_PARAMS:
        return [(w, "in", -1) for w in layer.weights]
    return []


def _channels(layout):
    return sum(size for _, size in layout)


class _Analysis:
    def __init__(self, types, model_class):
        self.types = types
        self.model_class = model_class
        self.spaces = ChannelSpaces()
        self.kinds = {}
        self.input_layouts = {}
        self.output_space = {}
        self.layouts = {}  # tensor id -> layout

    def fresh(self, tensor, source, blocked):
        size = tensor.shape[-1] if len(tensor.shape) else None
        return ((self.spaces.new(size or 0, source, blocked), size or 0),)

    def block(self, layout, reason):
        for space, _ in layout:
            self.spaces.block(space, reason)

    def tie(self, a, b, via):
        """Unions two layouts segment by segment; blocks both when their segments differ."""
        if [size for _, size in a] == [size for _, size in b]:
            for (sa, _), (sb, _) in zip(a, b):
                self.spaces.union(sa, sb, via)
            return True
        reason = f"{via} merges tensors whose channel layouts differ (a Concatenate or Flatten output)"
        self.block(a, reason)
        self.block(b, reason)
        return False

    def record_input(self, layer, layout):
        """A weighted layer applies one permutation to its input at every node it is called at."""
        if layer.name in self.input_layouts:
            self.tie(self.input_layouts[layer.name], layout, f"shared layer '{layer.name}'")
        else:
            self.input_layouts[layer.name] = layout

    def visit(self, layer, inputs, outputs, input_ids, output_ids):
        """One call of `layer` in the graph: its input and output KerasTensors and their ids."""
        kind, reason = classify(layer, inputs, self.types, self.model_class)
        if kind in (PRODUCER, SEPARABLE, DEPTHWISE, CHANNEL_PARAMS):
            covered = {id(v) for v, _, _ in weight_axes(layer, kind)}
            unknown = [w.name for w in layer.weights if id(w) not in covered]
            if unknown:
                kind, reason = OPAQUE, f"weights onexn cannot permute: {unknown}"
        self.kinds.setdefault(layer.name, kind)
        ins = [self.layouts[i] for i in input_ids]
        if kind == INPUT:
            out = self.fresh(outputs[0], layer.name, f"comes from model input '{layer.name}'")
        elif kind in (PRODUCER, SEPARABLE):
            self.record_input(layer, ins[0])
            if layer.name not in self.output_space:
                self.output_space[layer.name] = self.fresh(outputs[0], layer.name, None)[0][0]
            out = ((self.output_space[layer.name], outputs[0].shape[-1]),)
        elif kind in (DEPTHWISE, CHANNEL_PARAMS):
            self.record_input(layer, ins[0])
            out = ins[0]
        elif kind == PASSTHROUGH:
            out = ins[0]
        elif kind == FLATTEN:
            out = self.flatten(layer, inputs[0], ins[0], outputs[0])
        elif kind == CONCAT:
            out = tuple(seg for layout in ins for seg in layout)
        elif kind == ELEMENTWISE:
            out = self.merge(layer, ins)
        else:
            for layout in ins:
                self.block(layout, f"read by {type(layer).__name__} '{layer.name}' ({reason})")
            for tensor, tid in zip(outputs, output_ids):
                self.layouts[tid] = self.fresh(tensor, layer.name, f"written by {type(layer).__name__} "
                                                                   f"'{layer.name}' ({reason})")
            return
        self.layouts[output_ids[0]] = out

    def flatten(self, layer, tensor, layout, output):
        spatial = tensor.shape[1:-1]
        if len(spatial) == 0:
            return layout
        if any(d is None for d in spatial):
            reason = f"Flatten '{layer.name}' of a tensor with unknown spatial size {tensor.shape}"
            self.block(layout, reason)
            return self.fresh(output, layer.name, reason)
        return layout * math.prod(spatial)

    def merge(self, layer, ins):
        via = f"{type(layer).__name__} '{layer.name}'"
        width = max(_channels(layout) for layout in ins)
        tied = [layout for layout in ins if _channels(layout) == width or width == 1]
        # An input with one channel broadcasts over the others' channels (e.g. a gate): nothing to tie.
        for other in tied[1:]:
            self.tie(tied[0], other, via)
        return tied[0]


def analyze(model):
    """Channel spaces of a built functional or Sequential model, tf_keras or Keras 3 (see the module docstring)."""
    keras_flavour = flavour.of(model, "expected a Keras model")
    analysis = _Analysis(layer_types(keras_flavour.keras.layers), keras_flavour.keras.Model)
    for layer, inputs, outputs, input_ids, output_ids in keras_flavour.graph_nodes(model):
        if all(i in analysis.layouts for i in input_ids):
            analysis.visit(layer, inputs, outputs, input_ids, output_ids)
    for tensor_id, layer in keras_flavour.graph_outputs(model):
        analysis.block(analysis.layouts[tensor_id], f"reaches model output '{layer.name}'")
    return ChannelGraph(analysis.spaces, analysis.kinds, analysis.input_layouts, analysis.output_space)
