"""The private larq, Keras and TensorFlow behaviour adaste_tf relies on, one test each.

Each test checks the behaviour itself, not adaste_tf's use of it, and fails with a message
that says what changed and which code of adaste_tf depends on it: after a larq, tf-keras or
TensorFlow upgrade, a failure here points at the place to adapt before the symptoms elsewhere
(lost beta in saved models, all-reduced activation gradients, missing metrics) are debugged.
"""

from __future__ import annotations

import collections.abc
import logging

from adaste_tf import _larq_warnings
from adaste_tf.quantizers import AdaSTE, _is_weight

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from conftest import SubclassedNet


class _Recording(lq.quantizers._BaseQuantizer):
    """A 1-bit quantizer built as AdaSTE is: on larq's private base class."""

    precision = 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, bool]] = []
        self.stores: list[tuple[str, str, object]] = []  # (call, store type, what "0" holds)

    def call(self, inputs):
        op = getattr(inputs, "op", None)
        self.calls.append((getattr(op, "type", type(inputs).__name__), _is_weight(inputs)))
        return super().call(tf.sign(inputs))

    def save_own_variables(self, store):
        store["0"] = np.float32(0.25)  # what AdaSTE does with beta
        self.stores.append(("save", _mapping_or_type(store), None))

    def load_own_variables(self, store):
        held = float(np.asarray(store["0"])) if "0" in store else None
        self.stores.append(("load", _mapping_or_type(store), held))


def _mapping_or_type(store) -> str:
    return "mapping" if isinstance(store, collections.abc.MutableMapping) else type(store).__name__


def _dense(kernel_quantizer, input_quantizer=None, features: int = 3) -> tf.keras.Model:
    model = tf.keras.Sequential(
        [
            tf.keras.Input((features,)),
            lq.layers.QuantDense(
                2, kernel_quantizer=kernel_quantizer, input_quantizer=input_quantizer, name="dense"
            ),
        ]
    )
    model.compile("sgd", "mse")
    return model


# --- larq ------------------------------------------------------------------------------------


def test_base_quantizer_keeps_metrics_and_hides_its_weights():
    assert issubclass(lq.quantizers.SteSign, lq.quantizers._BaseQuantizer), (
        "larq's own quantizers no longer derive from lq.quantizers._BaseQuantizer; AdaSTE "
        "subclasses it (adaste_tf/quantizers.py) to get larq's metrics and hidden weights."
    )
    quantizer = _Recording(metrics=["flip_ratio"])
    assert quantizer._custom_metrics == ["flip_ratio"], (
        "_BaseQuantizer(metrics=...) no longer stores the names in `_custom_metrics`; "
        "AdaSTE._diagnosing and AdaSTE.get_config read them there."
    )
    quantizer.add_weight(name="state", shape=(), trainable=False)
    assert quantizer.non_trainable_weights == [], (
        "_BaseQuantizer.non_trainable_weights no longer returns []: AdaSTE's beta variable "
        "would join the layer's weights (count_params, get_weights, h5 files would change)."
    )
    x = tf.constant([0.5, -2.0])
    assert lq.quantizers._BaseQuantizer.call(_Recording(), x) is x, (
        "_BaseQuantizer.call no longer returns its input unchanged (without metrics); "
        "AdaSTE.call returns super().call(sign(x))."
    )


def test_quantized_variable_exposes_its_quantizer_to_optimizer_predicates():
    quantizer = AdaSTE()
    model = _dense(quantizer)
    kernel = model.get_layer("dense").kernel
    assert isinstance(kernel, lq.quantized_variable.QuantizedVariable)
    assert getattr(kernel, "quantizer", None) is quantizer, (
        "larq's QuantizedVariable no longer has the layer's quantizer as `.quantizer`; the "
        "CaseOptimizer predicate that adaste_tf.callbacks.check_optimizer suggests reads it."
    )
    seen = []

    def predicate(variable):  # larq calls it with each variable it trains
        seen.append(getattr(variable, "quantizer", None))
        return lq.optimizers.Bop.is_binary_variable(variable)

    optimizer = lq.optimizers.CaseOptimizer(
        (predicate, tf.keras.optimizers.legacy.SGD()),
        default_optimizer=tf.keras.optimizers.legacy.SGD(),
    )
    assert [pair[0] for pair in getattr(optimizer, "pred_opt_pairs", [])] == [predicate], (
        "larq's CaseOptimizer no longer keeps its (predicate, optimizer) pairs in "
        "`pred_opt_pairs`; check_optimizer reads them."
    )
    model.compile(optimizer, "mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert quantizer in seen, (
        "the variables larq's CaseOptimizer passes to its predicates no longer carry the "
        "quantizer (`.quantizer`), so the suggested predicate cannot exclude AdaSTE kernels."
    )


def test_bop_creates_its_slots_before_it_or_another_optimizer_updates_a_variable():
    # adaste_tf.optimizers._install_bop_guard refuses AdaSTE-quantized weights in
    # Bop._create_slots: it must run, with Bop's variables, before any update.
    seen = []

    class Spy(lq.optimizers.Bop):
        def _create_slots(self, var_list):
            unchanged = all(
                np.array_equal(v.numpy(), start) for v, start in zip(weights, before, strict=True)
            )
            seen.append(([v.name for v in var_list], unchanged))
            super()._create_slots(var_list)

    for make in (
        Spy,
        lambda: lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, Spy()),
            default_optimizer=tf.keras.optimizers.legacy.SGD(1.0),
        ),
    ):
        tf.keras.backend.clear_session()
        model = _dense("ste_sign")
        model.compile(make(), "mse")
        weights = model.trainable_weights
        before = [w.numpy() for w in weights]
        seen.clear()
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        claimed = "dense/kernel:0"
        assert seen and claimed in seen[0][0] and seen[0][1], (
            f"larq's Bop no longer gets _create_slots(var_list) with the variables it trains "
            f"before any variable is updated ({seen}); adaste_tf.optimizers refuses "
            f"AdaSTE-quantized weights there."
        )


def test_larq_logs_the_constraint_warning_from_the_layer_init():
    found = []

    class Spy(logging.Filter):
        def filter(self, record):
            if "starved weights" in record.getMessage():
                found.append(_larq_warnings._emitting_self(record))
            return True

    spy = Spy()
    logger = logging.getLogger(_larq_warnings.LOGGER)
    logger.addFilter(spy)
    try:
        layer = lq.layers.QuantDense(2, kernel_quantizer="ste_sign")
    finally:
        logger.removeFilter(spy)
    assert found == [layer], (
        f"larq no longer logs its starved-weights warning on the logger "
        f"{_larq_warnings.LOGGER!r} from the layer's __init__ (with the layer as `self` in the "
        f"emitting frame); adaste_tf._larq_warnings finds the quantizer that way (found "
        f"{found})."
    )


def test_larq_layers_enter_the_quantized_scope_that_larq_context_holds_at_call_time():
    """adaste_tf._larq_warnings puts a `quantized_scope` that restores on errors into
    `larq.context`; it works only while larq's layers look the attribute up at each call and
    keep the state in `larq.context._quantized_scope.should_quantize`."""
    seen = []

    def failing(kernel):  # a kernel quantizer, called inside the layer's scope
        seen.append(lq.context._quantized_scope.should_quantize)
        raise RuntimeError("quantizer failed")

    assert lq.context.quantized_scope is _larq_warnings.quantized_scope
    with pytest.raises(RuntimeError, match="quantizer failed"):
        lq.layers.QuantDense(2, kernel_quantizer=failing)(tf.ones((1, 3)))
    assert seen == [True] and lq.context.should_quantize() is False, (
        "larq's layers no longer keep the scope in larq.context._quantized_scope, or no "
        "longer look up larq.context.quantized_scope when called; adaste_tf._larq_warnings "
        f"(install) relies on both to restore the scope after an error (seen {seen})."
    )


# --- Keras and TensorFlow --------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_kernel_read_in_a_train_step_is_a_variable_read(policy):
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        kernel, inputs = _Recording(), _Recording()
        _dense(kernel, inputs).fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert kernel.calls and all(is_weight for _, is_weight in kernel.calls), (
        f"under {policy}, the kernel reaches a larq quantizer in the compiled train step as "
        f"{sorted({op for op, _ in kernel.calls})}, which adaste_tf.quantizers._is_weight does "
        f"not recognize as a variable read (_READ_OPS, _PASS_THROUGH_OPS): AdaSTE would stop "
        f"summing weight gradients over replicas."
    )
    assert inputs.calls and not any(is_weight for _, is_weight in inputs.calls), (
        f"under {policy}, _is_weight takes the activations ({sorted({o for o, _ in inputs.calls})})"
        f" for a variable read: AdaSTE would all-reduce per-example gradients."
    )


def test_larq_quantizes_a_kernel_by_calling_its_quantizer_from_the_quantized_variable():
    # AdaSTE.__call__ reads its caller's `self` to tell a kernel from an activation in eager
    # mode (quantizers._is_weight), where the tensors carry no graph.
    from adaste_tf.quantizers import AdaSTE

    seen = {}

    class Spy(AdaSTE):
        def call(self, inputs):
            seen[self.name] = self._called_by_kernel
            return super().call(inputs)

    layer = lq.layers.QuantDense(
        2, kernel_quantizer=Spy(name="kernel_q"), input_quantizer=Spy(name="input_q")
    )
    layer(tf.ones((1, 3)))  # eager
    assert seen == {"kernel_q": True, "input_q": False}, (
        f"in eager mode larq's QuantizedVariable no longer calls its quantizer directly "
        f"({seen}): AdaSTE would give kernels the activation rule (adaste_tf.quantizers)."
    )


def test_is_weight_inside_a_tf_function():
    variable = tf.Variable(tf.ones((3, 2)))
    got = []

    @tf.function
    def classify(x):  # _is_weight runs when the function is traced
        read = tf.convert_to_tensor(variable)
        got.extend(
            [
                _is_weight(read),
                _is_weight(tf.cast(read, tf.float16)),
                _is_weight(tf.matmul(x, read)),
                _is_weight(x),
            ]
        )
        return x

    classify(tf.ones((1, 3)))
    assert tuple(got) == (True, True, False, False), (
        f"inside tf.function, (read, cast read, matmul, input) are classified as {got}, not "
        f"(True, True, False, False): TensorFlow's graph for a variable read changed "
        f"(adaste_tf.quantizers._READ_OPS, _PASS_THROUGH_OPS)."
    )


def test_keras_saves_a_layers_own_variables_through_a_mapping(tmp_path):
    quantizer = _Recording()
    model = _dense(quantizer)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = tf.keras.models.load_model(path, custom_objects={"_Recording": _Recording})
    restored = loaded.get_layer("dense").kernel_quantizer
    calls = quantizer.stores + restored.stores
    assert [call for call, _, _ in calls] == ["save", "load"], (
        f"saving and loading a .keras file no longer calls the quantizer's "
        f"save_own_variables / load_own_variables once each (calls: {calls}); AdaSTE keeps "
        f"beta in a .keras file through them."
    )
    assert calls == [("save", "mapping", None), ("load", "mapping", 0.25)], (
        f"save_own_variables / load_own_variables no longer get a mutable mapping in which "
        f"what was stored under '0' comes back ({calls}); AdaSTE's store['0'] = beta and "
        f"'0' in store rely on it."
    )


def test_add_metric_from_a_quantizer_inside_a_layer_reaches_history():
    class Measured(_Recording):
        def build(self, input_shape):
            self.mean = tf.keras.metrics.Mean(name="measured_mean")
            super().build(input_shape)

        def call(self, inputs):
            self.add_metric(self.mean(tf.abs(inputs)))
            return super().call(inputs)

    model = _dense("ste_sign", input_quantizer=Measured())
    history = model.fit(np.full((4, 3), 2.0, np.float32), np.ones((4, 2)), verbose=0)
    assert history.history.get("measured_mean") == [2.0], (
        f"Layer.add_metric(metric(...)) called by a quantizer nested in a larq layer no longer "
        f"reaches the model's logs (history keys {sorted(history.history)}); larq logs "
        f"AdaSTE(metrics=['flip_ratio']) that way."
    )


def test_optimizer_base_class_hooks_of_official_momentum():
    from adaste_tf.optimizers import OfficialMomentum

    first, second = tf.Variable([1.0]), tf.Variable([2.0, 3.0])
    optimizer = OfficialMomentum(0.1, gradient_scale=1.0)
    optimizer.build([first, second])
    indices = [optimizer._index_dict.get(optimizer._var_key(v)) for v in (first, second)]
    assert indices == [0, 1], (
        f"tf_keras's Optimizer no longer maps a variable to its position in build()'s var_list "
        f"through _index_dict[_var_key(variable)] (got {indices}); "
        f"OfficialMomentum.update_step finds each variable's moment that way."
    )
    assert [tuple(m.shape) for m in optimizer.moments] == [(1,), (2,)]
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.1), (
        "_build_learning_rate / _serialize_hyperparameter of tf_keras's Optimizer changed; "
        "OfficialMomentum uses them for its learning rate and config."
    )


def test_keras_records_the_shape_a_subclassed_model_was_built_for():
    model = SubclassedNet()
    model.build((None, 8))
    shape = getattr(model, "_build_input_shape", None)
    assert shape is not None and tuple(tf.TensorShape(shape).as_list()) == (None, 8), (
        f"Keras no longer records build()'s input shape as `_build_input_shape` (got "
        f"{shape!r}); export.convert's error for a subclassed model then shows `x[:1]` "
        f"instead of the exact `tf.zeros(...)` call (adaste_tf.export._zeros_batch)."
    )
    assert model.save_spec() is None, (
        "a model built with build() now has a save spec: export.convert's check for a "
        "missing input signature (adaste_tf.export._check_signature) no longer applies."
    )


def test_keras_calls_callback_hooks_from_its_callback_list_in_order():
    # RelaxationScheduler._warn_if_tensorboard_comes_first reads the CallbackList that calls
    # its on_train_begin (its caller's `self`) to see whether TensorBoard comes before it.
    import sys

    seen = []

    class Spy(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            caller = sys._getframe(1).f_locals.get("self")
            seen.append(
                isinstance(caller, tf.keras.callbacks.CallbackList)
                and list(caller.callbacks).index(self)
            )

    first, second = Spy(), Spy()
    _dense("ste_sign").fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, callbacks=[first, second])
    assert seen == [0, 1], (
        f"tf_keras no longer calls on_train_begin from CallbackList with its callbacks in "
        f"order ({seen}): RelaxationScheduler's TensorBoard-order warning cannot see the list."
    )
