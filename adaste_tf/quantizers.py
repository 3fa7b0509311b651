r"""The AdaSTE quantizer for larq layers.

```python
import adaste_tf
import larq as lq
layer = lq.layers.QuantDense(64, kernel_quantizer="adaste")
layer = lq.layers.QuantDense(64, kernel_quantizer=adaste_tf.quantizers.AdaSTE(beta=0.02))
```
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from types import FrameType

from adaste_tf import _quantizer_config, _rules, ops, validation
from adaste_tf.registration import register

import larq as lq
import tensorflow as tf
from larq.quantized_variable import QuantizedVariable

__all__ = [
    "AdaSTE",
    "adaste_sign",
    "CONFIG_VERSION",
    "DEFAULT_MAX_SCALE",
    "VARIANTS",
    "METRICS",
    "DIAGNOSTICS",
    "NEAR_ZERO",
    "WEIGHT_SLOTS",
    "SLOTS",
]

# The rules by name, and the cap on the inward scale of "bounded" and "paper": `_rules`'s.
VARIANTS = _rules.VARIANTS
DEFAULT_MAX_SCALE = _rules.DEFAULT_MAX_SCALE

# What `metrics=` accepts: larq's flip ratio, and the backward's diagnostics (DIAGNOSTICS).
METRICS = ("flip_ratio", "diagnostics")

# The diagnostics, each averaged over the backward passes of a training epoch and logged per
# quantizer slot as `<name>/<layer>/<slot>` (adaste_tf.callbacks.DiagnosticsLogger): the fraction
# of weights in each case of the backward table (ops.REGIMES), whether beta is in the binary
# regime, the mean scale of inward and of outward steps, and the fraction of latent weights
# within NEAR_ZERO of a flip.
DIAGNOSTICS = (*ops.REGIMES, "binary_regime", "inward_scale", "outward_scale", "near_zero")

# A latent weight this close to zero flips within about one Adam step at learning rate 1e-3.
NEAR_ZERO = 1e-3

# Version of the config that `AdaSTE.get_config` writes (key `_config_version`), for both paths:
# `_quantizer_config` says what each version added.
CONFIG_VERSION = _quantizer_config.CONFIG_VERSION

# larq's quantizer arguments ("slots") that quantize a weight, each with the attribute of the
# weight it quantizes (larq's `_get_quantizer`): `kernel_quantizer` in every larq layer,
# `depthwise_quantizer` and `pointwise_quantizer` in QuantDepthwiseConv2D and
# QuantSeparableConv*D. `input_quantizer` quantizes the layer's input, an activation.
WEIGHT_SLOTS = {
    "kernel_quantizer": "kernel",
    "depthwise_quantizer": "depthwise_kernel",
    "pointwise_quantizer": "pointwise_kernel",
}
SLOTS = (*WEIGHT_SLOTS, "input_quantizer")

# Ops between a variable and the tensor a kernel quantizer receives: larq passes the read of the
# latent weight (ReadVariableOp); MirroredStrategy can add an Identity, a mixed policy a Cast.
_READ_OPS = ("ReadVariableOp",)
_PASS_THROUGH_OPS = ("Identity", "Cast")


# The backward is a dozen elementwise ops over the kernel. Compiled by XLA into one kernel it
# costs about one pass over memory even when the train step itself is not jit-compiled (measured
# on a 784x512 kernel: 0.31 ms instead of 1.23 ms per step; ste_sign's backward takes 0.45 ms).
# Inside a jit-compiled train step these functions are inlined, and `ops.scaled_gradient`'s
# form (the division last) keeps XLA from recomputing the rule in each optimizer update
# (docs/performance.md). reduce_retracing: one trace serves every kernel shape, provided each
# argument is a tensor (`_compiled_arguments`).
def _scaled_gradient(theta, dy, scale_from, variant, alpha, beta, max_scale, flip_reach):
    return ops.scaled_gradient(
        theta, dy, variant, alpha, beta, max_scale, flip_reach, scale_from=scale_from
    )


_COMPILED_GRADIENT = tf.function(_scaled_gradient, jit_compile=True, reduce_retracing=True)
_COMPILED_SCALE = tf.function(ops.scale, jit_compile=True, reduce_retracing=True)


def _compiled_arguments(x, beta, alpha, max_scale, flip_reach) -> tuple[tf.Tensor, ...]:
    """`x`, `beta` and the constants as tensors for `_COMPILED_GRADIENT` and `_COMPILED_SCALE`.

    In eager mode `tf.custom_gradient` hands the backward the `tf.Variable` it was called on,
    not its value. A variable reaches a `tf.function` as a `VariableSpec`, which
    `reduce_retracing` does not relax and which matches variables of other shapes: the trace
    made for one kernel's shape was reused for the next kernel and XLA failed on it
    ("Incompatible shapes", issue 32). Its value, a tensor, is relaxed like `dy` to one trace of
    unknown shape. A Python float `beta` would be a trace key of its own, one trace per value;
    as a tensor every beta shares it. In a graph (a `tf.function` or a jit-compiled train step)
    `x` and the quantizer's `beta` are tensors already and nothing here adds an operation. The
    constants are tensors of the compute dtype: the compiled functions would otherwise take
    Python floats as float32 tensors, rounding them for float64.

    Examples:
        >>> theta, *_ = _compiled_arguments(tf.Variable([1.0]), 0.5, 0.01, 1.0, 3e-4)
        >>> isinstance(theta, tf.Variable), theta.dtype.name
        (False, 'float32')
    """
    x = tf.convert_to_tensor(x)
    dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
    if not tf.is_tensor(beta):
        beta = tf.constant(beta, dtype)
    a, m, reach = (tf.constant(v, dtype) for v in (alpha, max_scale, flip_reach))
    return x, beta, a, m, reach


def diagnostics(
    theta: tf.Tensor, dy: tf.Tensor, scale: tf.Tensor, alpha: float, beta: tf.Tensor
) -> tf.Tensor:
    """The values of `DIAGNOSTICS` for one backward pass, as a float32 vector.

    Examples:
        >>> values = diagnostics(tf.constant([0.5, -0.5]), tf.constant([-1.0, -1.0]),
        ...                      tf.constant([1.0, 2.0]), alpha=0.01, beta=0.0)
        >>> dict(zip(DIAGNOSTICS, values.numpy().round(2).tolist()))["inward_scale"]
        2.0
    """
    t = tf.cast(theta, tf.float32)
    s = tf.cast(scale, tf.float32)
    masks = ops.regimes(t, dy, alpha, beta)
    inward = masks[1] | masks[3]

    def fraction(mask):
        return tf.reduce_mean(tf.cast(mask, tf.float32))

    def mean_where(mask):
        count = tf.reduce_sum(tf.cast(mask, tf.float32))
        return tf.math.divide_no_nan(tf.reduce_sum(tf.where(mask, s, 0.0)), count)

    binary = tf.cast(alpha * tf.cast(beta, tf.float32) >= 1.0, tf.float32)
    return tf.stack(
        [
            *(fraction(m) for m in masks),
            binary,
            mean_where(inward),
            mean_where(~inward),
            fraction(tf.abs(t) < NEAR_ZERO),
        ]
    )


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


def _is_weight(x, from_quantized_variable: bool = False) -> bool:
    """Whether `x` is a weight (a variable, or a (cast) read of one) rather than an activation.

    A weight gets AdaSTE's rule; an activation gets the relaxation's derivative at beta = 0
    (`docs/method.md`, "Activations"). Only a weight's gradient is summed over replicas (by the
    optimizer), so only there may the scale come from the summed gradient; an activation's
    gradient is per example. In a graph the read of a variable tells; an eager tensor carries no
    graph, so there it is a weight only when larq's `QuantizedVariable` handed it over (the
    quantizer's caller, `from_quantized_variable`).

    Examples:
        >>> _is_weight(tf.Variable([1.0])), _is_weight(tf.constant([1.0]))
        (True, False)
    """
    if from_quantized_variable or isinstance(x, tf.Variable):
        return True
    op = getattr(x, "op", None)  # EagerTensor.op raises AttributeError
    if op is None:
        return False
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
    variant: str = "bounded",
    sync_replicas: bool = False,
    flip_reach: float = ops.DEFAULT_FLIP_REACH,
    record: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], None] | None = None,
    activation: bool = False,
    on_backward: Callable[[], None] | None = None,
) -> tf.Tensor:
    """`sign(x)` forward (0 maps to +1), AdaSTE backward: `dL/dx = scale(x, dy) * dy`.

    Args:
        x: latent weights.
        beta: relaxation weight (a float or a scalar tensor, read when the forward runs).
        alpha: well offset.
        max_scale: cap on the adaptive inward scales.
        variant: `"bounded"` (`ops.bounded_scale`), `"paper"` (`ops.paper_scale`) or
            `"official"` (`ops.official_scale`).
        sync_replicas: compute the scale from the gradient summed over replicas (for weights
            under `tf.distribute`; see `_sum_over_replicas`).
        flip_reach: the perturbation bound of the `"bounded"` variant.
        record: called in the backward as `record(x, dy, scale)` (the quantizer's diagnostics).
        activation: `x` is an activation, not a latent weight: the backward is the derivative
            of the relaxed sign at beta = 0, `dy` where `|x| <= 1` and 0 elsewhere (larq's
            `ste_sign`), whatever beta and the variant (`docs/method.md`, "Activations").
        on_backward: called with no arguments when the backward of a weight runs (in a graph:
            when it is traced), before its gradient is computed; adds nothing to the graph.

    Examples:
        >>> x = tf.Variable([0.5, -2.0])
        >>> with tf.GradientTape() as tape:
        ...     y = adaste_sign(x, beta=0.0)
        >>> tape.gradient(y, x).numpy()
        array([1., 0.], dtype=float32)
    """
    validation.choice("variant", variant, VARIANTS, owner="adaste_sign")

    @tf.custom_gradient
    def _call(x):
        def grad(dy):
            if activation:
                inside = tf.abs(x) <= 1.0
                if record is not None:
                    record(x, dy, tf.cast(inside, dy.dtype))
                return tf.where(inside, dy, tf.zeros_like(dy))
            if on_backward is not None:
                on_backward()
            total = _sum_over_replicas(dy) if sync_replicas else dy
            theta, b, a, m, reach = _compiled_arguments(x, beta, alpha, max_scale, flip_reach)
            gradient = _COMPILED_GRADIENT(theta, dy, total, variant, a, b, m, reach)
            if record is not None:
                record(theta, total, _COMPILED_SCALE(theta, total, variant, a, b, m, reach))
            return gradient

        return ops.sign(x), grad

    return _call(x)


# Whether the warning of `AdaSTE._warn_if_unscheduled` was given in this process.
_warned_unscheduled = False


def _in_a_fit_with_a_scheduler() -> bool:
    """Whether a Keras `fit` up the call stack has a `RelaxationScheduler` among its callbacks:
    it schedules quantizers made in a `build()` during the fit's first step, which it finds only
    after that step. Looked for among the frames' Keras `CallbackList`s.

    Examples:
        >>> _in_a_fit_with_a_scheduler()
        False
    """
    from adaste_tf.callbacks import RelaxationScheduler  # callbacks imports this module

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, tf.keras.callbacks.CallbackList) and any(
                isinstance(c, RelaxationScheduler) for c in value.callbacks
            ):
                return True
        frame = frame.f_back
    return False


def _class_for_an_instance(cls: type) -> TypeError:
    """The error for a quantizer class given where larq takes a quantizer (`kernel_quantizer=
    AdaSTE`): larq keeps any callable, and its first call, `AdaSTE(kernel)` when the layer is
    built, makes the layer's tensor the `alpha` of a new quantizer. The slots holding the class
    are named from the larq layer being built or called, found among the calling frames.

    Examples:
        >>> str(_class_for_an_instance(AdaSTE)).split(":")[0]
        'AdaSTE'
    """
    name = cls.__name__
    where, slots = "", []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not where:
        layer = frame.f_locals.get("self")
        if isinstance(layer, tf.keras.layers.Layer) and not isinstance(layer, cls):
            found = [slot for slot in SLOTS if getattr(layer, slot, None) is cls]
            if found:
                where, slots = f"{type(layer).__name__} {layer.name!r} got ", found
        frame = frame.f_back
    given = ", ".join(f"`{slot}={name}`" for slot in slots) or f"`{name}`"
    write = ", ".join(f"`{slot}={name}()`" for slot in slots) or f"`{name}()`"
    return TypeError(
        f"{name}: {where or 'larq got '}{given}, the class; a quantizer argument must be a "
        f"quantizer instance or name. Write {write} (or `{name}(beta=0.02)` with arguments, or "
        f'the name "adaste").'
    )


@register("adaste", "AdaSTE")
class AdaSTE(lq.quantizers._BaseQuantizer):
    r"""Binary quantizer whose backward is AdaSTE, the adaptive straight-through estimator.

    Forward, in training and inference:
    \\[ q(\theta) = \mathrm{sign}(\theta) \in \{-1, +1\}, \quad \mathrm{sign}(0) = +1. \\]

    Backward: \\(\partial L / \partial\theta = s(\theta, \mathrm{d}y)\, \mathrm{d}y\\) with
    \\(\mathrm{d}y = \partial L / \partial q\\). The scale \\(s\\) is a finite difference of
    the relaxed weight (the backward table and its derivation: `docs/method.md`):

    - `variant="bounded"` (default): the paper's adaptive scale for the steps that a bounded
      perturbation can carry across zero (\\(|\theta| \le \tau |dy| / \mathrm{rms}(dy)\\),
      \\(\tau\\) = `flip_reach`), the relaxation's slope for every other step, 0 for outward
      steps beyond \\(|\theta| \ge 1\\); all in units of that slope \\(1/(1+\beta)\\), so a
      step that does not flip has scale 1 at every beta (`adaste_tf.ops.bounded_scale`). It
      trains at every beta from 0.01 to \\(1/\alpha\\) (docs/evidence.md).
    - `variant="paper"`: the paper's adaptive scale for every weight (`ops.paper_scale`). With
      an adaptive optimizer it stops learning once beta is about 0.3 and above: inward steps
      outweigh outward ones and the latent weights collapse to zero (`docs/method.md`).
    - `variant="official"`: the official PyTorch code's rule (`FenBPOpt.get_grad`), an exact
      port (`ops.official_scale`).

    Inward scales are capped at `max_scale`.

    beta lives in a non-trainable float32 variable, `beta_variable`, read each time the forward
    runs, so `adaste_tf.callbacks.RelaxationScheduler` can change it without retracing. As with
    an optimizer's `learning_rate`, `quantizer.beta` reads (and assigning it sets) the current
    value; `initial_beta` is the constructor's value, the one `get_config` stores and the
    schedules start from. The variable is hidden from the layer's weights (as larq does for its
    metrics), so `count_params`, `get_weights` and h5 weight lists are the same as with
    `ste_sign`; `.keras`, h5 and SavedModel files and checkpoints keep its current value (h5
    through the config's `current_beta`), so a resumed run continues the path.

    Under `tf.distribute` (`sync_replicas=True`) the scale of a weight (`kernel_quantizer`) is
    computed from the gradient summed over the replicas, so data-parallel training gives the
    single-device result: a replica's gradient alone can have another sign than the total.
    Activations (`input_quantizer`) are never summed, whatever `sync_replicas` says: their
    gradients are per example.

    As an activation quantizer (`input_quantizer="adaste"`) the backward is the relaxation's
    derivative at beta = 0, `dy` where `|x| <= 1` and 0 elsewhere, the same as larq's
    `ste_sign`, at every beta and for every variant: an activation has no latent weight for the
    adaptive rule's steps to accumulate in, and annealing its relaxation would close the window
    through which the layers below learn (`docs/method.md`, "Activations"). The quantizer tells
    weights from activations by whether its input is a variable's read (see `_is_weight`).

    `metrics=["diagnostics"]` records `DIAGNOSTICS` (the fraction of weights in each case of the
    backward, the mean inward and outward scale, the fraction near zero) in each backward pass,
    so only training counts (evaluation has no backward); `diagnostic_means()` averages them
    since `reset_diagnostics()`. `adaste_tf.callbacks.DiagnosticsLogger` (and
    `RelaxationScheduler`) log each training epoch's means into `History` as
    `<diagnostic>/<layer>/<slot>` (`near_zero/fc1/kernel`), not into the progress bar.
    `"flip_ratio"` is larq's flip ratio, a Keras metric.

    `get_config` writes `_config_version` (`CONFIG_VERSION`); `from_config` refuses a config
    from a newer adaste_tf with a message saying to upgrade.

    Examples:
        >>> import larq as lq
        >>> quantizer = AdaSTE(alpha=0.01, beta=0.02)
        >>> layer = lq.layers.QuantDense(4, kernel_quantizer=quantizer)
        >>> layer(tf.ones((1, 3))).shape
        TensorShape([1, 4])
        >>> quantizer.beta = 0.5          # the current beta; the config keeps the initial one
        >>> quantizer.beta, quantizer.get_config()["beta"]
        (0.5, 0.02)

    Args:
        alpha: well offset of the inner objective, finite and > 0.
        beta: initial relaxation weight, finite and >= 0.
        max_scale: cap on the inward (adaptive) scale, finite and > 0. `None` takes the
            variant's default: `DEFAULT_MAX_SCALE` (1) for `"bounded"` and `"paper"`, 0.5 for
            `"official"`.
        variant: `"bounded"`, `"paper"` or `"official"` (see above).
        flip_reach: the perturbation bound tau of `"bounded"`, finite and >= 0, in latent units
            for a gradient of RMS size (default `ops.DEFAULT_FLIP_REACH`). 0 never flips by the
            adaptive case; larger values approach `"paper"`. Ignored by the other variants.
        sync_replicas: under a `tf.distribute` strategy with several replicas, compute the scale
            of a weight from the gradient summed over replicas. No effect on one device, nor on
            activations.
        metrics: None or a list of names from `METRICS`.

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
        variant: str = "bounded",
        sync_replicas: bool = True,
        metrics: Sequence[str] | None = None,
        flip_reach: float = ops.DEFAULT_FLIP_REACH,
        **kwargs,
    ):
        owner = type(self).__name__
        if tf.is_tensor(alpha) or isinstance(alpha, tf.Variable):
            raise _class_for_an_instance(type(self))
        _quantizer_config.set_arguments(
            self,
            alpha=alpha,
            beta=beta,
            max_scale=max_scale,
            variant=variant,
            flip_reach=flip_reach,
            sync_replicas=sync_replicas,
        )
        metrics = validation.names("metrics", metrics, METRICS, owner=owner)
        super().__init__(metrics=None if metrics is None else list(metrics), **kwargs)
        # autocast=False: under a mixed policy beta must not be rounded to float16.
        self.beta_variable = self.add_weight(
            name="beta",
            shape=(),
            dtype=tf.float32,
            initializer=tf.keras.initializers.Constant(self.initial_beta),
            trainable=False,
            autocast=False,
        )

    @property
    def beta(self) -> float:
        """The current beta (what training uses now); `initial_beta` is the constructor's."""
        return float(self.beta_variable.numpy())

    @beta.setter
    def beta(self, value: float) -> None:
        value = validation.real("beta", value, minimum=0.0, owner=type(self).__name__)
        self.beta_variable.assign(value)

    @property
    def _diagnosing(self) -> bool:
        return bool(self._custom_metrics) and "diagnostics" in self._custom_metrics

    def build(self, input_shape):
        if self._diagnosing:
            # The sum of each diagnostic over the backward passes since the last reset and, at
            # the end, their count. Summed in the backward, so evaluation (no backward) and
            # prediction never touch it; read outside the step (diagnostic_means).
            self._diagnostic_sums = self.add_weight(
                name="diagnostic_sums",
                shape=(len(DIAGNOSTICS) + 1,),
                dtype=tf.float32,
                initializer="zeros",
                trainable=False,
                autocast=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        super().build(input_shape)

    def _record(self, theta, dy, scale):
        values = diagnostics(theta, dy, scale, self.alpha, self.beta_variable)
        self._diagnostic_sums.assign_add(tf.concat([values, [1.0]], axis=0))

    def diagnostic_means(self) -> dict[str, float]:
        """Each of `DIAGNOSTICS`, averaged over the backward passes since `reset_diagnostics()`
        (or since the quantizer was built); empty without `metrics=["diagnostics"]` or before a
        backward.

        Examples:
            >>> import larq as lq
            >>> quantizer = AdaSTE(metrics=["diagnostics"])
            >>> layer = lq.layers.QuantDense(2, kernel_quantizer=quantizer)
            >>> with tf.GradientTape() as tape:
            ...     loss = tf.reduce_sum(layer(tf.ones((1, 3))))
            >>> _ = tape.gradient(loss, layer.kernel)
            >>> quantizer.diagnostic_means()["binary_regime"]   # alpha * beta = 1e-4 < 1
            0.0
            >>> quantizer.reset_diagnostics()
            >>> quantizer.diagnostic_means()
            {}
        """
        sums = getattr(self, "_diagnostic_sums", None)
        if sums is None:
            return {}
        *totals, count = (float(v) for v in sums.numpy())
        if count == 0:
            return {}
        return {name: total / count for name, total in zip(DIAGNOSTICS, totals, strict=True)}

    def reset_diagnostics(self) -> None:
        """Start the averages of `diagnostic_means()` anew (`DiagnosticsLogger` does it at each
        epoch's start). Does nothing without `metrics=["diagnostics"]`."""
        sums = getattr(self, "_diagnostic_sums", None)
        if sums is not None:
            sums.assign(tf.zeros_like(sums))

    def __call__(self, inputs, *args, **kwargs):
        # larq's QuantizedVariable quantizes a kernel by calling its quantizer on the latent
        # weight's value: in eager mode, where that tensor carries no graph, the caller tells a
        # weight from an activation (`_is_weight`).
        caller = sys._getframe(1).f_locals.get("self")
        self._called_by_kernel = isinstance(caller, QuantizedVariable)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        weight = _is_weight(inputs, getattr(self, "_called_by_kernel", False))
        outputs = adaste_sign(
            inputs,
            beta=tf.convert_to_tensor(self.beta_variable),
            alpha=self.alpha,
            max_scale=self.max_scale,
            variant=self.variant,
            sync_replicas=self.sync_replicas and weight,
            flip_reach=self.flip_reach,
            record=self._record if self._diagnosing else None,
            activation=not weight,
            on_backward=self._warn_if_unscheduled if weight else None,
        )
        return super().call(outputs)

    # Called in the backward of a traced step: plain Python, not for AutoGraph to convert.
    @tf.autograph.experimental.do_not_convert
    def _warn_if_unscheduled(self) -> None:
        """Warn, once per process, that this quantizer trains a weight with no
        `RelaxationScheduler` moving its beta. A scheduler marks the quantizers it drives
        (`_scheduled`); one made in a `build()` during a scheduled fit's first step is marked
        here (`_in_a_fit_with_a_scheduler`). Called in the backward, when it is traced (each
        step in eager mode): once marked or warned, one Python check, nothing in the graph."""
        global _warned_unscheduled
        if _warned_unscheduled or getattr(self, "_scheduled", False):
            return
        if _in_a_fit_with_a_scheduler():
            self._scheduled = True
            return
        _warned_unscheduled = True
        warnings.warn(
            _quantizer_config.unscheduled_message(self, "adaste_tf.callbacks.RelaxationScheduler"),
            UserWarning,
            stacklevel=2,
        )

    def save_own_variables(self, store):
        # Only beta is state; the diagnostics are a per-epoch log, started anew each epoch.
        store["0"] = self.beta_variable.numpy()

    def load_own_variables(self, store):
        # One instance shared by several layers is written to a .keras file once, under the
        # first layer; the others load as separate quantizers with nothing stored. They keep
        # the constructor's beta until a RelaxationScheduler sets it (predictions never depend
        # on beta).
        if "0" in store:
            self.beta_variable.assign(store["0"])

    def get_config(self):
        metrics = None if self._custom_metrics is None else list(self._custom_metrics)
        return {**super().get_config(), **_quantizer_config.config(self, metrics)}

    @classmethod
    def from_config(cls, config):
        return _quantizer_config.from_config(super().from_config, cls.__name__, config)
