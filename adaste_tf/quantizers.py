r"""The AdaSTE quantizer for larq layers.

```python
import adaste_tf
import larq as lq
layer = lq.layers.QuantDense(64, kernel_quantizer="adaste")
layer = lq.layers.QuantDense(64, kernel_quantizer=adaste_tf.quantizers.AdaSTE(beta=0.02))
```
"""

from __future__ import annotations

from collections.abc import Sequence

import larq as lq
import tensorflow as tf

from adaste_tf import ops, validation
from adaste_tf.registration import register

__all__ = ["AdaSTE", "adaste_sign", "CONFIG_VERSION", "DEFAULT_MAX_SCALE", "VARIANTS"]

VARIANTS = ("paper", "official")

# Cap on the inward scale of the "paper" variant, chosen by measurement (README, "Choosing
# max_scale"): the Fashion-MNIST demo MLP, 10 epochs, 2 seeds, reached 88.5% test accuracy with
# a cap of 1, 86% with 0.75, 83% with 0.5, 82% with 1.5, 81% with 2 and 78% with 10. Above 1,
# inward steps outgrow outward ones near theta = 0 and the latent weights drift into flipping.
DEFAULT_MAX_SCALE = 1.0

# Version of the config that `AdaSTE.get_config` writes (key `_config_version`; a config without
# it is version 1). `from_config` reads this version and older ones and rejects newer ones: a
# newer adaste_tf may have changed what a key means, and silently training with another backward
# is worse than failing to load.
CONFIG_VERSION = 1

# Ops between a variable and the tensor a kernel quantizer receives: larq passes the read of the
# latent weight (ReadVariableOp); MirroredStrategy can add an Identity, a mixed policy a Cast.
_READ_OPS = ("ReadVariableOp",)
_PASS_THROUGH_OPS = ("Identity", "Cast")


# The backward is a dozen elementwise ops over the kernel. Compiled by XLA into one kernel it
# costs about one pass over memory even when the train step itself is not jit-compiled (measured
# on a 784x512 kernel: 0.31 ms instead of 1.23 ms per step; ste_sign's backward takes 0.45 ms).
# Inside a jit-compiled train step these functions are simply inlined.
_COMPILED_SCALES = {
    "paper": tf.function(ops.paper_scale, jit_compile=True, reduce_retracing=True),
    "official": tf.function(ops.official_scale, jit_compile=True, reduce_retracing=True),
}


def _sum_over_replicas(dy: tf.Tensor) -> tf.Tensor:
    """Sum `dy` over the replicas when called in a replica context with more than one replica.

    Under data parallelism each replica sees only its share of the gradient. AdaSTE's scale
    depends on the gradient's sign (and, in the official variant, its size), so it must be
    computed from the all-reduced gradient to equal the single-device result.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return dy
    return context.all_reduce(tf.distribute.ReduceOp.SUM, dy)


def _is_weight(x) -> bool:
    """Whether `x` is a (cast) read of a variable, a weight, rather than an activation.

    Only a weight's gradient is summed over replicas (by the optimizer), so only there may the
    scale come from the summed gradient. An activation's gradient is per example, and the last
    batch may be split unevenly over replicas, where an all-reduce fails on the shapes. Eager
    tensors carry no graph to inspect; they count as weights, so `sync_replicas` decides
    (tf.distribute and Keras run steps as `tf.function`s, where this check applies).

    Example:
        >>> _is_weight(tf.Variable([1.0]))
        True
    """
    if isinstance(x, tf.Variable):
        return True
    op = getattr(x, "op", None)  # EagerTensor.op raises AttributeError
    if op is None:
        return True
    for _ in range(8):  # a short chain suffices; the bound only guards against odd graphs
        if op.type in _READ_OPS:
            return True
        if op.type not in _PASS_THROUGH_OPS or not op.inputs:
            return False
        op = op.inputs[0].op
    return False


def adaste_sign(
    x: tf.Tensor,
    beta: float | tf.Tensor = 0.01,
    alpha: float = 0.01,
    max_scale: float = DEFAULT_MAX_SCALE,
    variant: str = "paper",
    sync_replicas: bool = False,
) -> tf.Tensor:
    """`sign(x)` forward (0 maps to +1), AdaSTE backward: `dL/dx = scale(x, dy) * dy`.

    Args:
        x: latent weights.
        beta: relaxation weight (a float or a scalar tensor, read when the forward runs).
        alpha: well offset.
        max_scale: cap on the adaptive inward scales.
        variant: `"paper"` (`ops.paper_scale`) or `"official"` (`ops.official_scale`).
        sync_replicas: compute the scale from the gradient summed over replicas (for weights
            under `tf.distribute`; see `_sum_over_replicas`).

    Example:
        >>> x = tf.Variable([0.5, -2.0])
        >>> with tf.GradientTape() as tape:
        ...     y = adaste_sign(x, beta=0.0)
        >>> tape.gradient(y, x).numpy()
        array([1., 0.], dtype=float32)
    """
    scale_fn = _COMPILED_SCALES[validation.choice("variant", variant, VARIANTS,
                                                  owner="adaste_sign")]

    @tf.custom_gradient
    def _call(x):
        def grad(dy):
            dy_for_scale = _sum_over_replicas(dy) if sync_replicas else dy
            return dy * scale_fn(x, dy_for_scale, alpha, beta, max_scale)

        return ops.sign(x), grad

    return _call(x)


@register("adaste", "AdaSTE")
class AdaSTE(lq.quantizers._BaseQuantizer):
    r"""Binary quantizer whose backward is AdaSTE, the adaptive straight-through estimator.

    Forward, in training and inference:
    \\[ q(\theta) = \mathrm{sign}(\theta) \in \{-1, +1\}, \quad \mathrm{sign}(0) = +1. \\]

    Backward: \\(\partial L / \partial\theta = s(\theta, \mathrm{d}y)\, \mathrm{d}y\\) with
    \\(\mathrm{d}y = \partial L / \partial q\\) and, for \\(a = |\theta|\\),
    \\(k = 1 - \alpha\beta\\), "inward" meaning \\(\mathrm{sign}(\mathrm{d}y) =
    \mathrm{sign}(\theta)\\) (the step moves \\(\theta\\) toward a flip):

    | regime                          | outward        | inward                                       |
    |---------------------------------|----------------|----------------------------------------------|
    | \\(\alpha\beta<1,\ a<k\\)       | \\(1/(1+\beta)\\) | \\((2\beta(1+\alpha)+a)/((1+\beta)a)\\)   |
    | \\(\alpha\beta<1,\ a\ge k\\)    | 0              | \\((1+2\beta+\alpha\beta)/((1+\beta)a)\\)   |
    | \\(\alpha\beta\ge 1\\)          | 0              | \\(2/a\\)                                    |

    Inward scales are capped at `max_scale`. With `variant="official"` the scale is the one of
    the official PyTorch code (`FenBPOpt.get_grad`): gates `|dy| > 1e-3`, `|theta| > 1e-6`,
    clamp to `[0, 0.5]`, numerator `2 beta (1+alpha) - theta` in the linear zone, `1/a` once
    `alpha * beta >= 1`, and `1/(1+beta)` (or 1) elsewhere; see `adaste_tf.ops.official_scale`.

    beta lives in a non-trainable float32 variable, `beta_variable`, created here and read
    each time the forward runs, so `adaste_tf.callbacks.RelaxationScheduler` can change it
    without retracing. The constructor's `beta` is the *initial* value, the one `get_config`
    stores and the schedules start from. The variable is hidden from the layer's weights (as
    larq does for its metrics), so `count_params`, `get_weights` and h5 files are the same as
    with `ste_sign`; a `.keras` file or a checkpoint keeps its current value.

    Under `tf.distribute` (`sync_replicas=True`) the scale of a weight (`kernel_quantizer`) is
    computed from the gradient summed over the replicas, so data-parallel training gives the
    single-device result: a replica's gradient alone can have another sign than the total.
    Activations (`input_quantizer`) are never summed, whatever `sync_replicas` says: their
    gradients are per example. The quantizer tells them apart by whether its input is a read of
    a variable (see `_is_weight`).

    `get_config` writes `_config_version` (`CONFIG_VERSION`); `from_config` refuses a config
    from a newer adaste_tf with a message saying to upgrade.

    Example:
        ```python
        import adaste_tf, larq as lq
        layer = lq.layers.QuantDense(
            10, kernel_quantizer=adaste_tf.quantizers.AdaSTE(alpha=0.01, beta=0.01))
        ```

    Args:
        alpha: well offset of the inner objective, finite and > 0.
        beta: initial relaxation weight, finite and >= 0.
        max_scale: cap on the inward (adaptive) scale, finite and > 0. `None` takes the
            variant's default: `DEFAULT_MAX_SCALE` (1) for `"paper"`, 0.5 for `"official"`.
        variant: `"paper"` (the derived rule) or `"official"` (the official code's rule).
        sync_replicas: under a `tf.distribute` strategy with several replicas, compute the scale
            of a weight from the gradient summed over replicas. No effect on one device, nor on
            activations.
        metrics: larq training metrics, as for larq's quantizers (`["flip_ratio"]`).

    References:
        H. Le, R. K. Høier, C.-T. Lin, C. Zach. AdaSTE: An Adaptive Straight-Through
        Estimator to Train Binary Neural Networks. CVPR 2022. arXiv:2112.02880.
    """

    precision = 1

    def __init__(
        self,
        alpha: float = 0.01,
        beta: float = 0.01,
        max_scale: float | None = None,
        variant: str = "paper",
        sync_replicas: bool = True,
        metrics: Sequence[str] | None = None,
        **kwargs,
    ):
        owner = type(self).__name__
        self.alpha = validation.real("alpha", alpha, minimum=0.0, strict=True, owner=owner)
        self.beta = validation.real("beta", beta, minimum=0.0, owner=owner)
        self.variant = validation.choice("variant", variant, VARIANTS, owner=owner)
        if max_scale is None:
            max_scale = DEFAULT_MAX_SCALE if variant == "paper" else ops.OFFICIAL_MAX_SCALE
        self.max_scale = validation.real(
            "max_scale", max_scale, minimum=0.0, strict=True, owner=owner)
        self.sync_replicas = validation.boolean("sync_replicas", sync_replicas, owner=owner)
        super().__init__(metrics=metrics, **kwargs)
        # autocast=False: under a mixed policy beta must not be rounded to float16.
        self.beta_variable = self.add_weight(
            name="beta",
            shape=(),
            dtype=tf.float32,
            initializer=tf.keras.initializers.Constant(self.beta),
            trainable=False,
            autocast=False,
        )

    def call(self, inputs):
        outputs = adaste_sign(
            inputs,
            beta=tf.convert_to_tensor(self.beta_variable),
            alpha=self.alpha,
            max_scale=self.max_scale,
            variant=self.variant,
            sync_replicas=self.sync_replicas and _is_weight(inputs),
        )
        return super().call(outputs)

    def load_own_variables(self, store):
        # One instance shared by several layers is written to a .keras file once, under the
        # first layer; the others load as separate quantizers with nothing stored. They keep
        # the constructor's beta until a RelaxationScheduler sets it (predictions never depend
        # on beta).
        if len(store.keys()) == 0:
            return
        super().load_own_variables(store)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "beta": self.beta,
            "max_scale": self.max_scale,
            "variant": self.variant,
            "sync_replicas": self.sync_replicas,
            "metrics": None if self._custom_metrics is None else list(self._custom_metrics),
            "_config_version": CONFIG_VERSION,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        version = config.pop("_config_version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(
                f"{cls.__name__}.from_config: `_config_version` must be an integer >= 1, got "
                f"{version!r}; the saved config is damaged.")
        if version > CONFIG_VERSION:
            raise ValueError(
                f"{cls.__name__}.from_config: this config has `_config_version`={version}, written "
                f"by a newer adaste_tf; this adaste_tf reads versions <= {CONFIG_VERSION}. "
                f"Upgrade adaste_tf (pip install -U adaste_tf) to load the model.")
        return super().from_config(config)
