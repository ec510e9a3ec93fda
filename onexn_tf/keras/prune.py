"""prune_1xn / strip_1xn / apply_1xn: the tfmot-style entry points of 1xN pruning."""

import warnings

import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from onexn_tf import blocks
from onexn_tf.keras.compat import check_is_tf_keras, keras
from onexn_tf.keras.layers import leaf_layers
from onexn_tf.keras.policy import Prune1xNPolicy, structural_reason
from onexn_tf.keras.rearrange import rearrange_filters
from onexn_tf.keras.wrapper import PruneLowMagnitude1xN

_schedules = tfmot.sparsity.keras


def prune_scope():
    """Custom-object scope to load models saved with 1xN (or tfmot) pruning wrappers.

    ```python
    with onexn_tf.prune_scope():
        model = tf_keras.models.load_model("pruned.keras")
    ```
    """
    return keras.utils.custom_object_scope({
        "PruneLowMagnitude1xN": PruneLowMagnitude1xN,
        "PruneLowMagnitude": pruning_wrapper.PruneLowMagnitude,
        "ConstantSparsity": _schedules.ConstantSparsity,
        "PolynomialDecay": _schedules.PolynomialDecay,
    })


def _resolve_policy(n, pruning_policy):
    if pruning_policy is None:
        return Prune1xNPolicy(n)
    if not isinstance(pruning_policy, _schedules.PruningPolicy):
        raise ValueError(f"pruning_policy must be a tfmot.sparsity.keras.PruningPolicy, got {pruning_policy!r}")
    if isinstance(pruning_policy, Prune1xNPolicy) and pruning_policy.n != n:
        raise ValueError(f"pruning_policy is for N={pruning_policy.n} but n={n}")
    return pruning_policy


def _rejection(policy, layer, n):
    """Why `layer` is not pruned: the 1xN structural limits first, then the policy's own choice."""
    if isinstance(policy, Prune1xNPolicy):
        return policy.reason(layer)
    why = structural_reason(layer, n)
    if why:
        return why
    return None if policy.allow_pruning(layer) else f"rejected by {type(policy).__name__}"


def _is_graph_model(model):
    return isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)


def _check_model(model, what="to_prune"):
    check_is_tf_keras(model, what)
    if isinstance(model, keras.Model) and not _is_graph_model(model):
        raise ValueError(f"{what}: subclassed models are not supported; build it with the Sequential or "
                         "functional API (tfmot has the same limit)")


def prune_1xn(to_prune, n=4, pruning_schedule=None, pruning_policy=None, rearrange=False, **kwargs):
    """Wraps layers for 1xN block pruning during training, like tfmot's ``prune_low_magnitude``.

    Args:
      to_prune: a tf_keras layer, a list of layers, or a Sequential / functional model.
      n: block width (consecutive output channels sharing one input channel).
      pruning_schedule: any ``tfmot.sparsity.keras.PruningSchedule`` (default ``ConstantSparsity(0.5, 0)``).
      pruning_policy: a tfmot ``PruningPolicy`` choosing the layers; default ``Prune1xNPolicy(n)``. Layers
        a policy accepts but that cannot carry a 1xN mask (depthwise, ...) are left as they are.
      rearrange: first reorder output channels by importance (``rearrange_filters``, models only) so
        that strong kernels share blocks; the model computes the same function before pruning.
      **kwargs: passed to the wrapper when `to_prune` is a single layer.

    Returns:
      The layer(s) or a new model with ``PruneLowMagnitude1xN`` wrappers. Train with tfmot's
      ``UpdatePruningStep`` callback, then call ``strip_1xn``. As in tfmot, a model's unwrapped layers are
      shared with the input model, and the optimizer is not carried over.

    Raises:
      ValueError: bad n or schedule, an unsupported object, or a layer named for pruning that cannot be
        1xN-pruned (nothing is wrapped then).
    """
    n = blocks.check_n(n)
    if pruning_schedule is None:
        pruning_schedule = _schedules.ConstantSparsity(0.5, 0)
    if not isinstance(pruning_schedule, _schedules.PruningSchedule):
        raise ValueError(f"pruning_schedule must be a tfmot.sparsity.keras.PruningSchedule, got {pruning_schedule!r}")
    policy = _resolve_policy(n, pruning_policy)
    params = {"n": n, "pruning_schedule": pruning_schedule}

    def wrap_named(layer):
        check_is_tf_keras(layer, "layer")
        if isinstance(layer, PruneLowMagnitude1xN):
            return layer
        if isinstance(layer, keras.layers.InputLayer):
            return layer.__class__.from_config(layer.get_config())
        why = _rejection(policy, layer, n)
        if why:
            raise ValueError(f"layer {layer.name!r} cannot be 1x{n}-pruned: {why}")
        return PruneLowMagnitude1xN(layer, **params, **kwargs)

    if isinstance(to_prune, (list, tuple)):
        for layer in to_prune:  # check everything before wrapping anything: nothing half-wrapped
            check_is_tf_keras(layer, "layer")
            if not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.Model):
                raise ValueError(f"expected tf_keras layers in the list, got {type(layer).__name__}")
            if not isinstance(layer, (PruneLowMagnitude1xN, keras.layers.InputLayer)):
                why = _rejection(policy, layer, n)
                if why:
                    raise ValueError(f"layer {layer.name!r} cannot be 1x{n}-pruned: {why}")
        return [wrap_named(layer) for layer in to_prune]

    _check_model(to_prune)
    if isinstance(to_prune, keras.Model):
        policy.ensure_model_supports_pruning(to_prune)
        if rearrange:
            to_prune = rearrange_filters(to_prune, n, policy=policy if isinstance(policy, Prune1xNPolicy) else None)

        def clone_fn(layer):
            if isinstance(layer, keras.Model):
                _check_model(layer, f"nested model {layer.name!r}")
                return keras.models.clone_model(layer, clone_function=clone_fn)
            if isinstance(layer, pruning_wrapper.PruneLowMagnitude) or _rejection(policy, layer, n):
                return layer
            return PruneLowMagnitude1xN(layer, **params)

        return keras.models.clone_model(to_prune, clone_function=clone_fn)

    if isinstance(to_prune, keras.layers.Layer):
        if rearrange:
            raise ValueError("rearrange=True needs a model: rearrangement permutes a layer's consumers too")
        return wrap_named(to_prune)
    raise ValueError("prune_1xn accepts a tf_keras layer, a list of layers, or a Sequential/functional model; "
                     f"got {type(to_prune).__name__}")


def strip_1xn(model):
    """Removes pruning wrappers; the returned plain model carries the masked (1xN-sparse) weights.

    The masks are applied once more before stripping, so weights updated by the optimizer after the last
    mask update do not leak non-zeros into pruned blocks.
    """
    if not isinstance(model, keras.Model):
        check_is_tf_keras(model, "model")
        raise ValueError(f"strip_1xn expects a tf_keras Model, got {type(model).__name__}")
    _check_model(model, "model")
    never_pruned = []
    for layer in leaf_layers(model):
        if isinstance(layer, pruning_wrapper.PruneLowMagnitude) and layer.built:
            for weight, mask, _ in layer.pruning_vars:
                weight.assign(weight * mask)
                if bool(tf.reduce_all(mask == 1)):
                    never_pruned.append(layer.name)
    if never_pruned:
        warnings.warn(f"strip_1xn: the masks of {never_pruned} were never updated, so those layers stay dense. "
                      "Train with tfmot's UpdatePruningStep callback past the schedule's first pruning step "
                      "(ConstantSparsity prunes every `frequency` steps, 100 by default).", stacklevel=2)
    return tfmot.sparsity.keras.strip_pruning(model)


def apply_1xn(model, n=4, sparsity=0.5, pruning_policy=None, rearrange=False):
    """One-shot (post-training) 1xN pruning: a new plain model with the weakest blocks zeroed.

    Args:
      model: a Sequential or functional tf_keras model (not modified).
      n: block width.
      sparsity: fraction of blocks zeroed in every pruned layer, in [0, 1); or a dict mapping layer
        names to sparsities (layers not in the dict are left dense).
      pruning_policy: which layers to prune (default ``Prune1xNPolicy(n)``).
      rearrange: reorder filters by importance first (``rearrange_filters``).
    """
    n = blocks.check_n(n)
    per_layer = {k: blocks.check_sparsity(v) for k, v in sparsity.items()} if isinstance(sparsity, dict) else None
    default = None if per_layer is not None else blocks.check_sparsity(sparsity)
    _check_model(model, "model")
    if not isinstance(model, keras.Model):
        raise ValueError(f"apply_1xn expects a Sequential or functional tf_keras model, got {type(model).__name__}")
    policy = _resolve_policy(n, pruning_policy)
    policy.ensure_model_supports_pruning(model)
    if per_layer is not None:
        names = {layer.name for layer in leaf_layers(model)}
        unknown = sorted(set(per_layer) - names)
        if unknown:
            raise ValueError(f"sparsity names layers the model does not have: {unknown}")
    if rearrange:
        pruned = rearrange_filters(model, n, policy=policy if isinstance(policy, Prune1xNPolicy) else None)
    else:
        pruned = keras.models.clone_model(model)
        pruned.set_weights(model.get_weights())
    for layer in leaf_layers(pruned):
        target = per_layer.get(layer.name) if per_layer is not None else default
        if target is None:
            continue
        why = _rejection(policy, layer, n)
        if why:
            if per_layer is not None:
                raise ValueError(f"layer {layer.name!r} cannot be 1x{n}-pruned: {why}")
            continue
        kernel = layer.kernel.numpy()
        layer.kernel.assign(kernel * blocks.block_mask(kernel, n, target))
    return pruned

