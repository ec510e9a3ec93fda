"""prune_1xn / strip_1xn / apply_1xn: the tfmot-style entry points of 1xN pruning, for tf_keras and Keras 3.

The object handed in decides the flavour (``onexn_tf.keras.flavour``); what differs between the two (the
wrapper, stripping, the model graph) is asked of the flavour module.
"""

import warnings

from onexn_tf import blocks
from onexn_tf.keras import flavour, schedules
from onexn_tf.keras.layers import leaf_layers
from onexn_tf.keras.policy import Prune1xNPolicy, structural_reason
from onexn_tf.keras.rearrange import rearrange_filters

_WHAT = "prune_1xn accepts a tf_keras layer or a Keras 3 layer, a list of layers, or a Sequential/functional model"


def prune_scope():
    """Custom-object scope to load tf_keras models saved with 1xN (or tfmot) pruning wrappers.

    ```python
    with onexn_tf.prune_scope():
        model = tf_keras.models.load_model("pruned.keras")
    ```

    Keras 3 needs no scope: ``import onexn_tf.keras3`` registers onexn's Keras 3 classes with Keras.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_schedule, pruning_wrapper

    tf_keras_flavour = flavour.load(flavour.TF_KERAS)
    return tf_keras_flavour.keras.utils.custom_object_scope({
        "PruneLowMagnitude1xN": tf_keras_flavour.Wrapper,
        "PruneLowMagnitude": pruning_wrapper.PruneLowMagnitude,
        "ConstantSparsity": pruning_schedule.ConstantSparsity,
        "PolynomialDecay": pruning_schedule.PolynomialDecay,
    })


def _resolve_policy(n, pruning_policy):
    if pruning_policy is None:
        return Prune1xNPolicy(n)
    if not all(callable(getattr(pruning_policy, m, None)) for m in ("allow_pruning", "ensure_model_supports_pruning")):
        raise ValueError("pruning_policy must be a PruningPolicy (onexn_tf.Prune1xNPolicy, a tfmot one, or an object "
                         f"with allow_pruning(layer) and ensure_model_supports_pruning(model)), got {pruning_policy!r}")
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


def _check_model(keras_flavour, model, what="to_prune"):
    if isinstance(model, keras_flavour.keras.Model) and not keras_flavour.is_graph_model(model):
        raise ValueError(f"{what}: subclassed models are not supported; build it with the Sequential or "
                         "functional API (tfmot has the same limit)")


def prune_1xn(to_prune, n=4, pruning_schedule=None, pruning_policy=None, rearrange=False, **kwargs):
    """Wraps layers for 1xN block pruning during training, like tfmot's ``prune_low_magnitude``.

    Args:
      to_prune: a layer, a list of layers, or a Sequential / functional model, of tf_keras or of Keras 3
        (TensorFlow backend); the result is of the same flavour.
      n: block width (consecutive output channels sharing one input channel).
      pruning_schedule: ``onexn_tf.ConstantSparsity`` / ``onexn_tf.PolynomialDecay``, tfmot's, or any object
        called as ``schedule(step) -> (should_prune, sparsity)`` (default ``ConstantSparsity(0.5, 0)``).
      pruning_policy: which layers to wrap; default ``Prune1xNPolicy(n)``. Layers a policy accepts but that
        cannot carry a 1xN mask (depthwise, ...) are left as they are.
      rearrange: first reorder output channels by importance (``rearrange_filters``, models only) so
        that strong kernels share blocks; the model computes the same function before pruning.
      **kwargs: passed to the wrapper when `to_prune` is a single layer.

    Returns:
      The layer(s) or a new model with ``PruneLowMagnitude1xN`` wrappers (tf_keras: ``onexn_tf.keras.wrapper``;
      Keras 3: ``onexn_tf.keras3.wrapper``). Train with the ``onexn_tf.UpdatePruningStep`` callback (tfmot's
      works too for tf_keras), then call ``strip_1xn``. As in tfmot, a model's unwrapped layers are shared
      with the input model, and the optimizer is not carried over.

    Raises:
      ValueError: bad n or schedule, an unsupported object, a list mixing tf_keras and Keras 3 layers, Keras 3
        on a backend other than TensorFlow, or a layer named for pruning that cannot be 1xN-pruned (nothing
        is wrapped then).
    """
    n = blocks.check_n(n)
    pruning_schedule = schedules.check(schedules.ConstantSparsity(0.5, 0) if pruning_schedule is None
                                       else pruning_schedule)
    policy = _resolve_policy(n, pruning_policy)

    if isinstance(to_prune, (list, tuple)):
        keras_flavour = flavour.of_all(to_prune, _WHAT)
        for layer in to_prune:  # check everything before wrapping anything: nothing half-wrapped
            if isinstance(layer, keras_flavour.keras.Model):
                raise ValueError(f"expected {keras_flavour.NAME} layers in the list, got {type(layer).__name__}")
            if not isinstance(layer, (keras_flavour.Wrapper, keras_flavour.keras.layers.InputLayer)):
                why = _rejection(policy, layer, n)
                if why:
                    raise ValueError(f"layer {layer.name!r} cannot be 1x{n}-pruned: {why}")
        return [_wrap_named(keras_flavour, layer, policy, n, pruning_schedule, kwargs) for layer in to_prune]

    keras_flavour = flavour.of(to_prune, _WHAT)
    _check_model(keras_flavour, to_prune)
    if isinstance(to_prune, keras_flavour.keras.Model):
        policy.ensure_model_supports_pruning(to_prune)
        if rearrange:
            to_prune = rearrange_filters(to_prune, n, policy=policy if isinstance(policy, Prune1xNPolicy) else None)

        def clone_fn(layer):
            if isinstance(layer, keras_flavour.keras.Model):
                _check_model(keras_flavour, layer, f"nested model {layer.name!r}")
                return keras_flavour.keras.models.clone_model(layer, clone_function=clone_fn)
            if keras_flavour.is_pruning_wrapper(layer) or _rejection(policy, layer, n):
                return layer
            return keras_flavour.wrap(layer, n, pruning_schedule)

        return keras_flavour.keras.models.clone_model(to_prune, clone_function=clone_fn)

    if rearrange:
        raise ValueError("rearrange=True needs a model: rearrangement permutes a layer's consumers too")
    return _wrap_named(keras_flavour, to_prune, policy, n, pruning_schedule, kwargs)


def _wrap_named(keras_flavour, layer, policy, n, schedule, kwargs):
    """Wraps a layer the caller named for pruning; ValueError if it cannot be 1xN-pruned."""
    if isinstance(layer, keras_flavour.Wrapper):
        return layer
    if isinstance(layer, keras_flavour.keras.layers.InputLayer):
        return layer.__class__.from_config(layer.get_config())
    why = _rejection(policy, layer, n)
    if why:
        raise ValueError(f"layer {layer.name!r} cannot be 1x{n}-pruned: {why}")
    return keras_flavour.wrap(layer, n, schedule, **kwargs)


def _model_flavour(model, function):
    keras_flavour = flavour.of(model, f"{function} expects a tf_keras or Keras 3 Model")
    if not isinstance(model, keras_flavour.keras.Model):
        raise ValueError(f"{function} expects a {keras_flavour.NAME} Model, got {type(model).__name__}")
    _check_model(keras_flavour, model, "model")
    return keras_flavour


def strip_1xn(model):
    """Removes pruning wrappers; the returned plain model carries the masked (1xN-sparse) weights.

    The masks are applied once more before stripping, so weights updated by the optimizer after the last
    mask update do not leak non-zeros into pruned blocks.
    """
    keras_flavour = _model_flavour(model, "strip_1xn")
    never_pruned = []
    for layer in leaf_layers(model):
        if keras_flavour.is_pruning_wrapper(layer) and layer.built:
            for weight, mask in keras_flavour.masks(layer):
                weight.assign(weight * mask)
                if (mask.numpy() == 1).all():
                    never_pruned.append(layer.name)
    if never_pruned:
        warnings.warn(f"strip_1xn: the masks of {never_pruned} were never updated, so those layers stay dense. "
                      "Train with the onexn_tf.UpdatePruningStep callback past the schedule's first pruning step "
                      "(ConstantSparsity prunes every `frequency` steps, 100 by default).", stacklevel=2)
    return keras_flavour.strip(model)


def apply_1xn(model, n=4, sparsity=0.5, pruning_policy=None, rearrange=False):
    """One-shot (post-training) 1xN pruning: a new plain model with the weakest blocks zeroed.

    Args:
      model: a Sequential or functional model, tf_keras or Keras 3 (not modified).
      n: block width.
      sparsity: fraction of blocks zeroed in every pruned layer, in [0, 1); or a dict mapping layer
        names to sparsities (layers not in the dict are left dense).
      pruning_policy: which layers to prune (default ``Prune1xNPolicy(n)``).
      rearrange: reorder filters by importance first (``rearrange_filters``).
    """
    n = blocks.check_n(n)
    per_layer = {k: blocks.check_sparsity(v) for k, v in sparsity.items()} if isinstance(sparsity, dict) else None
    default = None if per_layer is not None else blocks.check_sparsity(sparsity)
    keras_flavour = _model_flavour(model, "apply_1xn")
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
        pruned = keras_flavour.keras.models.clone_model(model)
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
