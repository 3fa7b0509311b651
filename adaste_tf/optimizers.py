"""The optimizer of the official AdaSTE code, as a Keras optimizer (for `--recipe official`),
and the guard that refuses larq's `Bop` on the weights AdaSTE quantizes."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from adaste_tf import validation
from adaste_tf.quantizers import WEIGHT_SLOTS, AdaSTE
from adaste_tf.registration import register

import larq as lq
import tensorflow as tf

__all__ = ["AdaSTEMomentum", "OfficialMomentum", "is_adaste_variable", "official_gradient_scale"]

# The check that refuses Bop on AdaSTE-quantized weights wraps `Bop._create_slots`. Every route by
# which Bop trains a variable runs it first, with exactly the variables Bop will train and before
# any of them is changed: larq's `CaseOptimizer.apply_gradients` calls it for each of its
# optimizers before applying any of them, and `Optimizer.apply_gradients` (plain Bop) before its
# updates. So it holds in `fit` and in custom loops, with or without `RelaxationScheduler`, for
# every quantizer slot, and under `tf.function` it raises while the step is traced. The
# alternatives were worse: the quantizer sees its kernel but not the optimizer (finding the model
# from the call stack is fragile), and Keras has no compile or train-begin hook that does not
# need a callback in `fit(callbacks=...)`. `_create_slots` is the method a legacy Keras optimizer
# defines for its state (Bop defines it); tests/test_private_apis.py pins that larq calls it first.
_GUARDED = "_adaste_tf_refuses_adaste_weights"

_BY_WEIGHT = {weight: slot for slot, weight in WEIGHT_SLOTS.items()}


def _bop_refusal(places: Iterable[str], only_adaste: bool) -> str:
    """The error message for Bop training the weights at `places` ("layer 'fc1'
    (`kernel_quantizer`)"), which AdaSTE quantizes: why, and a fix that works for the model at
    hand. `only_adaste`: every weight Bop would train is AdaSTE's, so Bop has nothing left to
    train (larq's CaseOptimizer refuses an optimizer that claims no variable): drop it."""
    adaste_pair = (
        "(adaste_tf.optimizers.is_adaste_variable, "
        "adaste_tf.optimizers.AdaSTEMomentum(train_size=len(x_train)))"
    )
    adam = "tf.keras.optimizers.legacy.Adam()"
    if only_adaste:
        fix = (
            f"every weight Bop would train is AdaSTE's, so drop Bop: train them with AdaSTE's "
            f"optimizer, lq.optimizers.CaseOptimizer({adaste_pair}, default_optimizer={adam}), "
            f"or train every weight with one latent-weight optimizer ({adam})"
        )
    else:
        fix = (
            f"give AdaSTE's weights a latent-weight optimizer and Bop only larq's own binary "
            f"weights, lq.optimizers.CaseOptimizer({adaste_pair}, (lambda v: "
            f"lq.optimizers.Bop.is_binary_variable(v) and not "
            f"adaste_tf.optimizers.is_adaste_variable(v), lq.optimizers.Bop()), "
            f"default_optimizer={adam})"
        )
    return (
        f"larq's Bop optimizer would train weights that AdaSTE quantizes: {', '.join(places)}. "
        f"Bop flips binary weights without latent weights, so AdaSTE's backward has nothing to "
        f"act on and training does not learn. Fix: {fix}; or use a larq quantizer such as "
        f"ste_sign with Bop."
    )


def _place(variable: tf.Variable) -> str:
    """Where a weight is, from its name (`fc1/kernel:0` -> layer 'fc1' (`kernel_quantizer`))."""
    *scope, weight = variable.name.split(":")[0].split("/")
    slot = _BY_WEIGHT.get(weight)
    if not scope or slot is None:
        return f"the weight {variable.name!r}"
    return f"layer {scope[-1]!r} (`{slot}`)"


def _refusing_adaste_weights(create_slots):
    @functools.wraps(create_slots)
    def guarded(self, var_list, *args, **kwargs):
        places = [_place(v) for v in var_list if is_adaste_variable(v)]
        if places:
            raise ValueError(_bop_refusal(places, only_adaste=len(places) == len(var_list)))
        return create_slots(self, var_list, *args, **kwargs)

    setattr(guarded, _GUARDED, True)
    return guarded


def _install_bop_guard() -> None:
    """Make larq's `Bop` refuse, before its first update, any weight an AdaSTE quantizes.

    `import adaste_tf` runs it; running it again changes nothing.

    Examples:
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste",
        ...                                                   name="fc1")])
        >>> model.build((None, 3))
        >>> kernel = model.layers[0].kernel
        >>> try:
        ...     lq.optimizers.Bop().apply_gradients([(tf.ones((3, 2)), kernel)])
        ... except ValueError as error:
        ...     print(str(error).split(": ")[1].split(". ")[0])
        layer 'fc1' (`kernel_quantizer`)
    """
    create_slots = lq.optimizers.Bop._create_slots
    if not getattr(create_slots, _GUARDED, False):
        lq.optimizers.Bop._create_slots = _refusing_adaste_weights(create_slots)


# larq's CaseOptimizer maps each variable to its optimizer by the variable's unique id, computed
# from the predicates at the first step; its config saves that mapping instead of the
# predicates. A model loaded from a .keras or h5 file has new variables with new ids, so the
# loaded mapping claims none of them and `fit` silently trains nothing (larq 0.14; Bop users are
# hit the same way). The mapping is in the order of the trainable variables, which a model of
# the same architecture keeps, so the loaded one is carried over by position, with the
# variables' names (less larq's id suffix) checked against it.
_REMAPS = "_adaste_tf_remaps_loaded_mapping"


def _name_of(key_or_name: str) -> str:
    """`'stem/kernel_16'` (a larq key) or `'stem/kernel:0'` -> `'kernel'`."""
    last = key_or_name.split(":")[0].split("/")[-1]
    return re.sub(r"_\d+$", "", last)


def _carried_over(mapping: dict[str, int], variables: list) -> dict[str, int]:
    """A loaded `var_opt_mapping` re-keyed for `variables`, by position; raises if it cannot
    be (another architecture, or variables left untrained when it was made)."""
    keys = [lq.optimizers._var_key(v) for v in variables]
    saved = list(mapping.items())
    if len(saved) != len(keys) or any(
        _name_of(old) != _name_of(v.name) for (old, _), v in zip(saved, variables)
    ):
        raise ValueError(
            f"This larq CaseOptimizer was loaded from a file, and larq saves which variable each "
            f"of its optimizers trains, not its predicates; the loaded record "
            f"({len(saved)} variables) does not match this model's {len(keys)} trainable "
            f"variables. Fix: compile the loaded model with a new CaseOptimizer, the same "
            f"predicates and optimizers: model.compile(lq.optimizers.CaseOptimizer(...), ...)."
        )
    return {key: index for key, (_, index) in zip(keys, saved)}


def _remapping_loaded_mapping(apply_gradients):
    @functools.wraps(apply_gradients)
    def remapped(self, grads_and_vars, *args, **kwargs):
        if self.var_opt_mapping is not None:
            grads_and_vars = list(grads_and_vars)
            variables = [v for _, v in grads_and_vars]
            if variables and not any(
                lq.optimizers._var_key(v) in self.var_opt_mapping for v in variables
            ):
                self.var_opt_mapping = _carried_over(self.var_opt_mapping, variables)
        return apply_gradients(self, grads_and_vars, *args, **kwargs)

    setattr(remapped, _REMAPS, True)
    return remapped


def _install_case_optimizer_remap() -> None:
    """Make larq's `CaseOptimizer` train a loaded model: a mapping that claims none of the
    model's variables (it was loaded from a file) is carried over to them by position.

    `import adaste_tf` runs it; running it again changes nothing.

    Examples:
        >>> _install_case_optimizer_remap()
        >>> getattr(lq.optimizers.CaseOptimizer.apply_gradients, _REMAPS)
        True
    """
    apply_gradients = lq.optimizers.CaseOptimizer.apply_gradients
    if not getattr(apply_gradients, _REMAPS, False):
        lq.optimizers.CaseOptimizer.apply_gradients = _remapping_loaded_mapping(apply_gradients)


# The official code multiplies the gradient by N twice, N = 10 x the training-set size
# (`FenBPOpt`); the decay term `decay * theta` is sized against that scaled gradient.
OFFICIAL_N_PER_EXAMPLE = 10


def official_gradient_scale(train_size: int) -> float:
    """The official code's gradient scale for a training set of `train_size` examples,
    \\((10 \\cdot \\mathit{train\\_size})^2\\).

    Examples:
        >>> official_gradient_scale(54_000)   # Fashion-MNIST's training split in the CLI
        291600000000.0
    """
    size = validation.integer("train_size", train_size, minimum=1, owner="official_gradient_scale")
    return float(OFFICIAL_N_PER_EXAMPLE * size) ** 2


def is_adaste_variable(variable: tf.Variable) -> bool:
    """True for a weight that an AdaSTE quantizer quantizes: the predicate that gives AdaSTE's
    weights their own optimizer in larq's `CaseOptimizer`, as `Bop.is_binary_variable` does
    for Bop.

    Every weight slot counts (`kernel_quantizer`, `depthwise_quantizer`,
    `pointwise_quantizer`); an AdaSTE `input_quantizer` quantizes activations, not weights.

    Examples:
        >>> layer = lq.layers.QuantDense(2, kernel_quantizer="adaste", input_quantizer="ste_sign")
        >>> layer.build((None, 3))
        >>> is_adaste_variable(layer.kernel), is_adaste_variable(layer.bias)
        (True, False)
    """
    return isinstance(getattr(variable, "quantizer", None), AdaSTE)


def _gradient_scale(
    owner: str, train_size: int | None, gradient_scale: float | None
) -> tuple[int | None, float | None, float]:
    """(train_size, gradient_scale, the scale in use) from the two ways of giving it; neither
    is an error that says what to pass, because a scale of 1 trains to chance."""
    if train_size is None and gradient_scale is None:
        raise ValueError(
            f"{owner}: `train_size` or `gradient_scale` must be given. Fix: pass `train_size=` "
            f"(the number of training examples, e.g. train_size=len(x_train); the gradient is "
            f"then scaled by (10 * train_size)**2, as in the official code) or an explicit "
            f"`gradient_scale=`. Without either the scaled gradient is too small against the "
            f"decay term and training stays at chance."
        )
    if train_size is not None and gradient_scale is not None:
        raise ValueError(
            f"{owner}: `train_size` and `gradient_scale` must not both be given: pass one "
            f"(train_size={train_size!r} sets gradient_scale=(10 * train_size)**2)."
        )
    if gradient_scale is not None:
        scale = validation.real(
            "gradient_scale", gradient_scale, minimum=0.0, strict=True, owner=owner
        )
        return None, scale, scale
    size = validation.integer("train_size", train_size, minimum=1, owner=owner)
    return size, None, official_gradient_scale(size)


def _momentum_update(m, variable, gradient, lr, momentum, gradient_scale, decay, step):
    """One official update of `variable`, with its first moment `m` (both assigned):

    m     = mu * m + (1 - mu) * (s * g + lambda * theta)
    theta = theta - lr * m / (1 - mu ** step)

    as TensorFlow's fused momentum kernel (`accum = mu * accum + grad; var -= lr * accum`) on
    `grad = (1 - mu) s g + (1 - mu) lambda theta`, the scalars folded first: without XLA the
    update written out elementwise took 1.15 times Adam's fused kernel on the official MLP's
    10M weights, this one pass over them less (docs/performance.md).
    """
    dtype = variable.dtype
    mu = tf.cast(momentum, dtype)
    grad = ((1.0 - mu) * tf.cast(gradient_scale, dtype)) * gradient + (
        (1.0 - mu) * tf.cast(decay, dtype)
    ) * variable
    return tf.raw_ops.ResourceApplyMomentum(
        var=variable.handle,
        accum=m.handle,
        lr=tf.cast(lr, dtype) / (1.0 - tf.pow(mu, step)),
        grad=grad,
        momentum=mu,
        use_locking=False,
    )


_DOC_ARGS = r"""
    Args:
        learning_rate: a float or a Keras learning-rate schedule.
        momentum: \\(\mu\\), in [0, 1).
        decay: \\(\lambda\\), finite and >= 0: pulls latent weights back towards zero.
        train_size: the number of training examples; sets \\(s = (10 \cdot
            \mathit{train\_size})^2\\), the official scale.
        gradient_scale: \\(s\\) itself, finite and > 0, instead of `train_size`. One of the two
            is required: with \\(s = 1\\) the gradient is lost against the decay term and
            training stays at chance.
"""


def _checked(owner: str, momentum: float, decay: float) -> tuple[float, float]:
    return (
        validation.real("momentum", momentum, minimum=0.0, maximum=0.999999, owner=owner),
        validation.real("decay", decay, minimum=0.0, owner=owner),
    )


@register()
class OfficialMomentum(tf.keras.optimizers.Optimizer):
    r"""First-moment momentum with bias correction, as in `FenBPOpt.step` (intellhave/AdaSTE).

    \\[ m_t = \mu\, m_{t-1} + (1 - \mu)\,(s\, g_t + \lambda\, \theta_{t-1}), \qquad
        \theta_t = \theta_{t-1} - \eta_t\, m_t / (1 - \mu^t) \\]

    with gradient scale \\(s\\) (the official code multiplies the gradient by N twice, N = 10 x
    the training-set size, so \\(s = N^2\\): `train_size=` sets it) and decay \\(\lambda\\)
    (the official `reweight = 1`). It is Adam without the second moment. Apply it with the
    AdaSTE quantizer's `variant="official"` to every weight of the paper's all-binary networks.
    In a network with real-valued layers, give it only AdaSTE's weights through larq's
    `CaseOptimizer`, as its legacy-Keras twin `AdaSTEMomentum`.

    Examples:
        >>> optimizer = OfficialMomentum(learning_rate=0.1, decay=0.0, gradient_scale=1.0)
        >>> theta = tf.Variable([1.0, -1.0])
        >>> _ = optimizer.apply_gradients([(tf.constant([0.5, 0.5]), theta)])
        >>> theta.numpy()  # first step: m / (1 - mu) = g, so theta - lr * g
        array([ 0.95, -1.05], dtype=float32)

        As `--recipe official` makes it (Fashion-MNIST's training split in the CLI, 54000):

        >>> official = OfficialMomentum(
        ...     learning_rate=tf.keras.optimizers.schedules.CosineDecay(3e-4, decay_steps=10_000),
        ...     train_size=54_000)
        >>> official.gradient_scale
        291600000000.0
    """

    __doc__ = (__doc__ or "") + _DOC_ARGS

    def __init__(
        self,
        learning_rate: float | tf.keras.optimizers.schedules.LearningRateSchedule = 3e-4,
        momentum: float = 0.9,
        gradient_scale: float | None = None,
        decay: float = 1.0,
        train_size: int | None = None,
        name: str = "OfficialMomentum",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum, self.decay = _checked(owner, momentum, decay)
        self.train_size, self._given_scale, self.gradient_scale = _gradient_scale(
            owner, train_size, gradient_scale
        )

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self.moments = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._built = True

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        m = self.moments[self._index_dict[self._var_key(variable)]]
        step = tf.cast(self.iterations + 1, variable.dtype)
        _momentum_update(
            m,
            variable,
            gradient,
            self.learning_rate,
            self.momentum,
            self.gradient_scale,
            self.decay,
            step,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "momentum": self.momentum,
            "gradient_scale": self._given_scale,
            "decay": self.decay,
            "train_size": self.train_size,
        }


@register("AdaSTEMomentum")
class AdaSTEMomentum(tf.keras.optimizers.legacy.Optimizer):
    r"""AdaSTE's optimizer for larq's `CaseOptimizer`: `OfficialMomentum`'s update as a legacy
    Keras optimizer, the kind `CaseOptimizer` accepts, for the weights AdaSTE quantizes while
    another optimizer (Adam) trains the real-valued rest.

    \\[ m_t = \mu\, m_{t-1} + (1 - \mu)\,(s\, g_t + \lambda\, \theta_{t-1}), \qquad
        \theta_t = \theta_{t-1} - \eta_t\, m_t / (1 - \mu^t) \\]

    Give it only AdaSTE's weights (`AdaSTEMomentum.is_adaste_variable`): its scaled gradient and
    its decay of 1 are sized for latent binary weights, and on a real stem, head or BatchNorm
    they train to chance ([usage](usage.md), "AdaSTE's optimizer in larq's CaseOptimizer").

    Examples:
        >>> import adaste_tf
        >>> model = tf.keras.Sequential([
        ...     tf.keras.layers.Dense(8, input_shape=(4,)),
        ...     lq.layers.QuantDense(3, kernel_quantizer=adaste_tf.AdaSTE(variant="official"),
        ...                          input_quantizer="ste_sign")])
        >>> optimizer = lq.optimizers.CaseOptimizer(
        ...     (AdaSTEMomentum.is_adaste_variable, AdaSTEMomentum(train_size=1000)),
        ...     default_optimizer=tf.keras.optimizers.legacy.Adam())
        >>> model.compile(optimizer, "mse", jit_compile=True)
        >>> _ = model.fit(tf.ones((8, 4)), tf.ones((8, 3)), verbose=0)
        >>> sorted(type(optimizer.optimizers[i]).__name__
        ...        for i in set(optimizer.var_opt_mapping.values()))
        ['AdaSTEMomentum', 'Adam']
    """

    __doc__ = (__doc__ or "") + _DOC_ARGS

    _HAS_AGGREGATE_GRAD = True
    is_adaste_variable = staticmethod(is_adaste_variable)

    def __init__(
        self,
        learning_rate: float | tf.keras.optimizers.schedules.LearningRateSchedule = 1e-3,
        momentum: float = 0.9,
        decay: float = 1.0,
        train_size: int | None = None,
        gradient_scale: float | None = None,
        name: str = "AdaSTEMomentum",
        **kwargs,
    ):
        # `decay` is this optimizer's pull on the weights; legacy Keras's own `decay` keyword
        # (a time decay of the learning rate) is not passed on: use a schedule for that.
        super().__init__(name, **kwargs)
        owner = type(self).__name__
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self.momentum, self.weight_decay = _checked(owner, momentum, decay)
        self.train_size, self._given_scale, self.gradient_scale = _gradient_scale(
            owner, train_size, gradient_scale
        )

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "m")

    def _resource_apply_dense(self, grad, var, apply_state=None):
        step = tf.cast(self.iterations + 1, var.dtype.base_dtype)
        return _momentum_update(
            self.get_slot(var, "m"),
            var,
            grad,
            self._decayed_lr(var.dtype.base_dtype),
            self.momentum,
            self.gradient_scale,
            self.weight_decay,
            step,
        )

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        dense = tf.math.unsorted_segment_sum(grad, indices, tf.shape(var)[0])
        return self._resource_apply_dense(dense, var, apply_state)

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter("learning_rate"),
            "momentum": self.momentum,
            "decay": self.weight_decay,
            "train_size": self.train_size,
            "gradient_scale": self._given_scale,
        }
