"""sparsity_report: per-layer N, block sparsity, kept blocks and MACs before/after."""

import dataclasses

import numpy as np

from onexn_tf import blocks
from onexn_tf.keras import flavour
from onexn_tf.keras.layers import layer_kernel, leaf_layers


@dataclasses.dataclass
class LayerSparsity:
    name: str
    kind: str                 # "Conv2D" or "Dense"
    kernel_shape: tuple       # HWIO or (cin, cout)
    n: int | None             # None: no 1xN zero blocks (dense)
    blocks: int               # cin * ceil(cout / n) (0 when dense)
    kept_blocks: int
    block_sparsity: float     # fraction of blocks that are all zero
    weight_sparsity: float    # fraction of kernel weights that are zero
    macs: int                 # multiply-accumulates per example, dense
    macs_after: int           # with the zero blocks skipped


@dataclasses.dataclass
class SparsityReport:
    layers: list

    @property
    def macs(self):
        return sum(layer.macs for layer in self.layers)

    @property
    def macs_after(self):
        return sum(layer.macs_after for layer in self.layers)

    def as_dicts(self):
        return [dataclasses.asdict(layer) for layer in self.layers]

    def __str__(self):
        head = f"{'layer':32} {'kind':6} {'kernel':>18} {'N':>3} {'blocks':>8} {'kept':>8} {'block sp':>8} {'MACs':>12} {'MACs after':>12}"
        rows = [head, "-" * len(head)]
        for r in self.layers:
            rows.append(f"{r.name[:32]:32} {r.kind:6} {'x'.join(map(str, r.kernel_shape)):>18} "
                        f"{r.n or '-':>3} {r.blocks:>8} {r.kept_blocks:>8} {r.block_sparsity:>8.1%} "
                        f"{r.macs:>12,} {r.macs_after:>12,}")
        ratio = self.macs_after / self.macs if self.macs else 1.0
        rows.append(f"total MACs {self.macs:,} -> {self.macs_after:,} ({ratio:.1%} of dense)")
        return "\n".join(rows)


def _spatial_positions(keras_flavour, layer):
    """Output positions per example (out_h * out_w for a conv, leading dims for a Dense)."""
    shape = keras_flavour.output_shape(layer)
    if shape is None:
        return None
    dims = [d for d in shape[1:-1]]
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims)) if dims else 1


def sparsity_report(model, n=None):
    """Per-layer 1xN sparsity of every Conv2D / Dense layer of a (pruned, stripped or plain) model, tf_keras or
    Keras 3.

    N is read from the pruning wrapper, else taken from `n`, else detected from the zero pattern
    (``blocks.detect_n``). MACs need known spatial shapes; with unknown ones they are reported as 0.
    """
    keras_flavour = flavour.of(model, "sparsity_report expects a tf_keras or Keras 3 Model")
    if not isinstance(model, keras_flavour.keras.Model):
        raise ValueError(f"sparsity_report expects a {keras_flavour.NAME} Model, got {type(model).__name__}")
    rows = []
    for layer in leaf_layers(model):
        kernel = layer_kernel(layer)
        if kernel is None:
            continue
        inner = getattr(layer, "layer", layer)
        hwio = kernel if kernel.ndim == 4 else kernel[None, None]
        kh, kw, cin, cout = hwio.shape
        block_n = layer.n if isinstance(layer, keras_flavour.Wrapper) else (n or blocks.detect_n(kernel))
        positions = _spatial_positions(keras_flavour, layer) or 0
        macs = positions * kh * kw * cin * cout
        if block_n is not None:
            kept = blocks.kept_blocks(kernel, block_n)
            total, kept_count = kept.size, int(kept.sum())
            macs_after = positions * kh * kw * int((kept * blocks.group_widths(cout, block_n)[None, :]).sum())
        else:
            total = kept_count = 0
            macs_after = macs
        rows.append(LayerSparsity(
            name=layer.name, kind=type(inner).__name__, kernel_shape=tuple(int(d) for d in kernel.shape),
            n=block_n, blocks=total, kept_blocks=kept_count,
            block_sparsity=(1.0 - kept_count / total) if total else 0.0,
            weight_sparsity=float(np.mean(kernel == 0)),
            macs=int(macs), macs_after=int(macs_after)))
    return SparsityReport(rows)
