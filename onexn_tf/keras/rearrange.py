"""Filter rearrangement (Lin et al. 2021, "1xN Pattern for Pruning CNNs", section 3.3).

Before 1xN pruning, the output channels of each prunable layer are reordered by importance (L1 norm of
each output channel's kernel) so that strong kernels fall into the same 1xN blocks and weak ones into
blocks that pruning can drop whole. Every reader of those channels is permuted to match, so the model
computes the same function. Which channels must move together is worked out by ``channel_graph``.
"""

import dataclasses
import logging

import numpy as np

from onexn_tf import blocks
from onexn_tf.keras import channel_graph as cg
from onexn_tf.keras import flavour
from onexn_tf.keras.policy import Prune1xNPolicy

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """One channel space: channels that share one permutation.

    producers: layers writing these channels (convs / dense; also model inputs and layers the analysis
      does not follow, which make a space unpermutable).
    joint: True when several tensors were tied into this space by an elementwise merge (Add, Multiply,
      ...) or a shared layer; merged_by names those layers.
    consumers: layers whose weights follow this space on their input side (next convs' input channels,
      BatchNorm / depthwise parameters).
    permutation: new channel i is old channel permutation[i]; None when the space is left as it is.
    reason: why the space was left as it is (None when permuted).
    """
    producers: tuple
    size: int
    joint: bool
    merged_by: tuple
    consumers: tuple
    permutation: tuple = None
    reason: str = None

    @property
    def moved(self):
        """Number of channels that changed position."""
        if self.permutation is None:
            return 0
        return int(np.count_nonzero(np.asarray(self.permutation) != np.arange(self.size)))


@dataclasses.dataclass(frozen=True)
class RearrangeReport:
    """What ``rearrange_filters`` permuted, and what it left alone and why."""
    n: int
    permuted: tuple
    unpermuted: tuple

    def __str__(self):
        lines = [f"rearrange_filters(n={self.n}): {len(self.permuted)} channel groups permuted, "
                 f"{len(self.unpermuted)} left as they are"]
        for g in self.permuted:
            joint = f" joint via {', '.join(g.merged_by)}" if g.joint else ""
            lines.append(f"  permuted   {g.size:5d} ch, {g.moved:5d} moved: {', '.join(g.producers)}{joint}")
        for g in self.unpermuted:
            lines.append(f"  unpermuted {g.size:5d} ch: {', '.join(g.producers)}: {g.reason}")
        return "\n".join(lines)


def rearrange_filters(model, n=4, *, policy=None, return_report=False):
    """Returns a copy of `model` whose filters are reordered for 1xN pruning; it computes the same function.

    Output channels of every channel group that holds at least one layer `policy` would prune are sorted
    by descending importance (L1 norm of each output channel's kernel; for a group tied by Add/Multiply/...
    the sum of each prunable member's normalized L1). Consumers follow: the next Conv/Dense input channels
    (segment-wise after Concatenate, per position after Flatten), BatchNorm/LayerNorm/PReLU parameters,
    depthwise convolutions (passed through), biases. Groups that reach a model output, come from a model
    input or meet a layer the analysis does not follow (Reshape, Lambda, TFOpLambda, nested models,
    depthwise multiplier > 1, ...) are left unpermuted, logged, and listed in the report. Groups without a
    prunable layer are left unpermuted too (moving them would not help the pruning).

    Args:
      model: a functional or Sequential model (built), tf_keras or Keras 3. It is not modified.
      n: the 1xN block size, used for the default policy.
      policy: which layers count as prunable (anything with ``allow_pruning(layer)``);
        defaults to ``Prune1xNPolicy(n)``.
      return_report: also return a ``RearrangeReport``.

    Returns:
      The new model (a clone; not compiled), or ``(model, report)``.
    """
    n = blocks.check_n(n)
    keras = _check_model(model)
    policy = Prune1xNPolicy(n) if policy is None else policy
    graph = cg.analyze(model)
    report, perms = _plan(model, graph, policy, n)
    for group in report.unpermuted:
        if group.reason and _prunable(model, group.producers, policy, graph):
            _log.warning("rearrange_filters: channels of %s left in place: %s", ", ".join(group.producers),
                         group.reason)
    new_model = keras.models.clone_model(model)
    new_model.set_weights(model.get_weights())
    _apply(new_model, graph, perms)
    return (new_model, report) if return_report else new_model


def _check_model(model):
    """The model's Keras module, or ValueError if rearrangement cannot follow the model's graph."""
    needs = "rearrangement permutes a layer's consumers, so it needs the whole graph"
    keras_flavour = flavour.of(model, f"rearrange_filters needs a tf_keras or Keras 3 Model ({needs})")
    keras = keras_flavour.keras
    if not isinstance(model, keras.Model):
        raise ValueError(f"rearrange_filters needs a {keras_flavour.NAME} Model, got {type(model).__name__}: {needs}")
    if not keras_flavour.has_graph(model):
        if isinstance(model, keras.Sequential):
            raise ValueError(f"Sequential model {model.name!r} is not built: give it an input shape first")
        raise ValueError(f"subclassed model {type(model).__name__!r} is not supported: rearrange_filters "
                         "needs the layer graph of a functional or Sequential model")
    return keras


def _prunable(model, names, policy, graph):
    return [name for name in names
            if graph.kinds.get(name) in (cg.PRODUCER, cg.SEPARABLE) and policy.allow_pruning(model.get_layer(name))]


def _channel_l1(layer):
    kernel = layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel
    kernel = np.asarray(kernel.numpy(), dtype=np.float64)
    return np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)


def joint_importance(layers):
    """Importance of each output channel shared by `layers`: the sum of their L1 norms, each normalized
    to sum 1.

    Each layer is pruned on its own block ranking, so each should get an equal say in which channels sit
    together: raw L1 would let a 3x3x512 convolution outvote a 1x1 shortcut only because it has more
    (or larger) weights. For a single layer this is its L1 order, as in the paper.
    """
    total = 0.0
    for layer in layers:
        l1 = _channel_l1(layer)
        total = total + (l1 / l1.sum() if l1.sum() > 0 else l1)
    return total


def _plan(model, graph, policy, n):
    spaces = graph.spaces
    consumers = {}
    for name, layout in graph.input_layouts.items():
        for space, _ in layout:
            root = spaces.find(space)
            if name not in consumers.setdefault(root, []):
                consumers[root].append(name)
    permuted, unpermuted, perms = [], [], {}
    for root in spaces.roots():
        info = spaces.info(root)
        group = dict(producers=tuple(info.sources), size=info.size, joint=bool(info.merged_by),
                     merged_by=tuple(info.merged_by), consumers=tuple(consumers.get(root, ())))
        prunable = _prunable(model, info.sources, policy, graph)
        if info.blocked:
            unpermuted.append(ChannelGroup(**group, reason="; ".join(info.blocked)))
        elif not prunable:
            unpermuted.append(ChannelGroup(**group, reason="no layer the policy prunes writes these channels"))
        else:
            importance = joint_importance([model.get_layer(name) for name in prunable])
            perm = np.argsort(-importance, kind="stable")  # ties keep their order
            perms[root] = perm
            permuted.append(ChannelGroup(**group, permutation=tuple(int(i) for i in perm)))
    return RearrangeReport(n, tuple(permuted), tuple(unpermuted)), perms


def _layout_index(graph, layout, perms):
    """Permutation of a whole layout (segment by segment), or None if nothing in it moves."""
    if not any(graph.spaces.find(space) in perms for space, _ in layout):
        return None
    parts, offset = [], 0
    for space, size in layout:
        perm = perms.get(graph.spaces.find(space))
        parts.append(offset + (perm if perm is not None else np.arange(size)))
        offset += size
    return np.concatenate(parts)


def _apply(new_model, graph, perms):
    for name, kind in graph.kinds.items():
        if kind not in (cg.PRODUCER, cg.SEPARABLE, cg.DEPTHWISE, cg.CHANNEL_PARAMS):
            continue  # no weights to move (and a Sequential's InputLayer is not in .layers)
        layer = new_model.get_layer(name)
        index = {"in": None, "out": None}
        if name in graph.input_layouts:
            index["in"] = _layout_index(graph, graph.input_layouts[name], perms)
        if name in graph.output_space:
            index["out"] = perms.get(graph.spaces.find(graph.output_space[name]))
        if index["in"] is not None and kind == cg.SEPARABLE:
            m = layer.depth_multiplier
            index["in_expanded"] = (index["in"][:, None] * m + np.arange(m)).ravel()
        values = {}  # a kernel may move on two axes: keep both moves
        for var, role, axis in cg.weight_axes(layer, kind):
            idx = index.get(role)
            if idx is None or (var.shape[axis] == 1 and len(idx) > 1):  # e.g. PReLU alpha shared over channels
                continue
            _, value = values.get(id(var), (var, None))
            value = var.numpy() if value is None else value
            values[id(var)] = (var, np.take(value, idx, axis=axis))
        for var, value in values.values():
            var.assign(value)
