"""Which layers 1xN pruning can wrap, and why not (both Keras flavours: the classes are the layer's own)."""

import sys

from onexn_tf import blocks
from onexn_tf.keras import flavour
from onexn_tf.keras.layers import leaf_layers


def structural_reason(layer, n):
    """Why a layer can never carry a 1xN mask (None if it can). Independent of any policy choice."""
    L = flavour.of(layer, "expected a Keras layer").keras.layers
    if isinstance(layer, (L.DepthwiseConv2D, L.SeparableConv2D)):
        return f"{type(layer).__name__}: each output channel reads one input channel, there is no 1xN block to share"
    if isinstance(layer, L.Conv2DTranspose):
        return "Conv2DTranspose is not supported by the 1xN kernels"
    if isinstance(layer, L.Conv2D):
        if getattr(layer, "groups", 1) != 1:
            return f"grouped convolution (groups={layer.groups}): blocks would span groups"
        if layer.data_format != "channels_last":
            return f"data_format={layer.data_format!r}: only channels_last (NHWC, what TFLite runs) is supported"
    elif not isinstance(layer, L.Dense):
        return f"{type(layer).__name__} has no Conv2D/Dense kernel"
    cout = output_channels(layer)
    if cout < n:
        return f"{cout} output channels is fewer than N={n}"
    return None


def output_channels(layer):
    """Output channels of a Conv2D (filters) or Dense (units) layer."""
    return layer.filters if hasattr(layer, "filters") else layer.units


def input_channels(layer):
    """The layer's input channel count if it is known (built layer or known input spec), else None."""
    kernel = getattr(layer, "kernel", None)
    if kernel is not None:
        return int(kernel.shape[-2])
    try:
        return int(layer.input_spec.axes[-1])  # set by Keras once the input shape is known
    except (AttributeError, TypeError, KeyError, IndexError):
        return None


class Prune1xNPolicy:
    """A pruning policy for the 1xN pattern, for tf_keras and Keras 3 models alike.

    It has tfmot's ``PruningPolicy`` interface (``allow_pruning``, ``ensure_model_supports_pruning``) and is
    registered as one once tfmot is loaded, so tfmot's own functions take it too.

    Wraps Conv2D (groups=1, channels_last) and Dense layers. It declines, with a reason you can read
    through ``reason(layer)``:
      - depthwise / separable / transposed / grouped convolutions and layers without a kernel;
      - layers whose output channels are not a multiple of N (unless ``allow_partial_blocks=True``:
        the last block of such a layer is then shorter than N);
      - the stem: a convolution reading <= 3 input channels (RGB / grayscale), left dense as in the
        paper unless ``prune_stem=True``;
      - layers named in ``exclude``.
    """

    def __init__(self, n=4, prune_stem=False, allow_partial_blocks=False, exclude=()):
        self.n = blocks.check_n(n)
        self.prune_stem = bool(prune_stem)
        self.allow_partial_blocks = bool(allow_partial_blocks)
        self.exclude = frozenset(exclude)

    def reason(self, layer):
        """Why this policy does not prune `layer`, or None if it does."""
        if layer.name in self.exclude:
            return "excluded by name"
        why = structural_reason(layer, self.n)
        if why:
            return why
        cout = output_channels(layer)
        if cout % self.n and not self.allow_partial_blocks:
            return (f"{cout} output channels is not a multiple of N={self.n} "
                    f"(Prune1xNPolicy(allow_partial_blocks=True) prunes it with a shorter last block)")
        cin = input_channels(layer)
        if hasattr(layer, "filters") and cin is not None and cin <= 3 and not self.prune_stem:
            return f"stem convolution (cin={cin}) is kept dense as in the paper; use prune_stem=True to prune it"
        return None

    def allow_pruning(self, layer):
        return self.reason(layer) is None

    def ensure_model_supports_pruning(self, model):
        keras_flavour = flavour.of(model, "expected a tf_keras or Keras 3 Model")
        if not isinstance(model, keras_flavour.keras.Model):
            raise ValueError(f"expected a {keras_flavour.NAME} Model, got {type(model).__name__}")
        if not keras_flavour.is_graph_model(model):
            raise ValueError("subclassed models are not supported: build the model with the Sequential or "
                             "functional API (tfmot has the same limit)")
        if not any(self.allow_pruning(layer) for layer in leaf_layers(model)):
            reasons = "; ".join(f"{l.name}: {self.reason(l)}" for l in leaf_layers(model)[:8])
            raise ValueError(f"no layer of model {model.name!r} can be 1x{self.n}-pruned under this policy ({reasons})")

    def get_config(self):
        return {"n": self.n, "prune_stem": self.prune_stem,
                "allow_partial_blocks": self.allow_partial_blocks, "exclude": sorted(self.exclude)}

    def __repr__(self):
        return f"Prune1xNPolicy({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def register_with_tfmot():
    """Registers Prune1xNPolicy as a virtual subclass of tfmot's PruningPolicy (an abc) if tfmot is loaded.

    Called here and by the tf_keras flavour, which loads tfmot: this module never imports tfmot itself."""
    tfmot_policy = sys.modules.get("tensorflow_model_optimization.python.core.sparsity.keras.pruning_policy")
    if tfmot_policy is not None:
        tfmot_policy.PruningPolicy.register(Prune1xNPolicy)


register_with_tfmot()
