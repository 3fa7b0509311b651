"""The AdaSTE quantizer inside real larq layers: forward, backward vs the oracle, modes,
validation, serialization, parity with ste_sign."""

import contextlib
import inspect
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from adaste_tf import ops, quantizers
from adaste_tf.callbacks import find_adaste_quantizers
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import oracle
from conftest import run_in_mode


def test_forward_is_exact_sign_with_zero_to_plus_one(execution_mode):
    q = AdaSTE()
    x = tf.constant([-3.0, -1e-30, -0.0, 0.0, 1e-30, 0.4, 7.0])
    out = run_in_mode(lambda v: q(v), execution_mode)(x).numpy()
    np.testing.assert_array_equal(out, [-1, -1, 1, 1, 1, 1, 1])


@pytest.mark.parametrize("variant", quantizers.VARIANTS)
@pytest.mark.parametrize("beta", [0.0, 0.3, 150.0])
def test_quantdense_kernel_gradient_matches_oracle(variant, beta, execution_mode, rng):
    x = tf.constant(rng.normal(size=(8, 6)).astype(np.float32))
    r = tf.constant(rng.normal(size=(8, 5)).astype(np.float32))
    q = AdaSTE(alpha=0.01, beta=0.01, variant=variant, max_scale=3.0)
    q.beta_variable.assign(beta)  # the variable, not the constructor's beta, drives the backward
    layer = lq.layers.QuantDense(5, kernel_quantizer=q, use_bias=False)
    layer.build(x.shape)
    theta = rng.uniform(-1.5, 1.5, size=(6, 5)).astype(np.float32)
    theta[0, 0] = 0.0
    layer.kernel.assign(theta)

    def step(x, r):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * r)
        return tape.gradient(loss, layer.kernel)

    got = run_in_mode(step, execution_mode)(x, r).numpy()
    dy = x.numpy().T @ r.numpy()  # dL/dW at the binary weights, by hand
    want = dy * oracle.scale(theta, dy, 0.01, beta, 3.0, variant)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_quantconv2d_kernel_gradient_matches_oracle(execution_mode, rng):
    x = tf.constant(rng.normal(size=(2, 6, 6, 3)).astype(np.float32))
    r = tf.constant(rng.normal(size=(2, 6, 6, 4)).astype(np.float32))
    layer = lq.layers.QuantConv2D(4, 3, padding="same", kernel_quantizer="adaste", use_bias=False)
    layer.build(x.shape)
    theta = rng.uniform(-1.2, 1.2, size=(3, 3, 3, 4)).astype(np.float32)
    layer.kernel.assign(theta)

    # dL/dW at the binary weights, from plain TensorFlow (no larq, no AdaSTE)
    w = tf.Variable(np.where(theta >= 0, 1.0, -1.0).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME") * r)
    dy = tape.gradient(loss, w).numpy()

    def step(x, r):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * r)
        return tape.gradient(loss, layer.kernel)

    got = run_in_mode(step, execution_mode)(x, r).numpy()
    want = dy * oracle.scale(theta, dy, 0.01, 0.01, quantizers.DEFAULT_MAX_SCALE, "bounded")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# Every larq layer with a weight quantizer: (constructor, input shape without the batch, the
# quantizer slots). Each slot gets its own AdaSTE.
LARQ_LAYERS = {
    "QuantConv1D": (lambda **q: lq.layers.QuantConv1D(3, 2, **q), (6, 2), ["kernel"]),
    "QuantConv3D": (lambda **q: lq.layers.QuantConv3D(3, 2, **q), (4, 4, 4, 2), ["kernel"]),
    "QuantConv2DTranspose": (
        lambda **q: lq.layers.QuantConv2DTranspose(3, 2, **q),
        (4, 4, 2),
        ["kernel"],
    ),
    "QuantConv3DTranspose": (
        lambda **q: lq.layers.QuantConv3DTranspose(3, 2, **q),
        (3, 3, 3, 2),
        ["kernel"],
    ),
    "QuantDepthwiseConv2D": (
        lambda **q: lq.layers.QuantDepthwiseConv2D(2, **q),
        (5, 5, 3),
        ["depthwise"],
    ),
    "QuantSeparableConv1D": (
        lambda **q: lq.layers.QuantSeparableConv1D(3, 2, **q),
        (6, 2),
        ["depthwise", "pointwise"],
    ),
    "QuantSeparableConv2D": (
        lambda **q: lq.layers.QuantSeparableConv2D(3, 2, **q),
        (5, 5, 2),
        ["depthwise", "pointwise"],
    ),
    "QuantLocallyConnected1D": (
        lambda **q: lq.layers.QuantLocallyConnected1D(3, 2, **q),
        (6, 2),
        ["kernel"],
    ),
    "QuantLocallyConnected2D": (
        lambda **q: lq.layers.QuantLocallyConnected2D(3, 2, **q),
        (4, 4, 2),
        ["kernel"],
    ),
}


@pytest.mark.parametrize("name", LARQ_LAYERS)
def test_every_larq_weight_quantizer_slot_takes_adaste(name, execution_mode, rng):
    """AdaSTE in any larq layer's weight slot: the forward uses sign(theta) and the gradient to
    each latent weight is the oracle's scale times the gradient at the binary weight, which the
    same larq layer without quantizers, holding sign(theta), gives. A third of the latent
    weights are within the bounded rule's reach of zero, so its flip case is exercised."""
    make, shape, slots = LARQ_LAYERS[name]
    x = tf.constant(rng.normal(size=(2, *shape)).astype(np.float32))
    layer = make(**{f"{slot}_quantizer": AdaSTE(beta=0.5) for slot in slots}, use_bias=False)
    plain = make(use_bias=False)
    out = layer(x)
    plain(x)
    r = tf.constant(rng.normal(size=out.shape).astype(np.float32))
    thetas = []
    for latent, binary in zip(layer.trainable_weights, plain.trainable_weights, strict=True):
        theta = rng.uniform(-1.2, 1.2, size=latent.shape).astype(np.float32)
        theta.flat[::3] *= 1e-4  # near zero: inward steps there are flips the rule boosts
        latent.assign(theta)
        binary.assign(np.where(theta >= 0, 1.0, -1.0))
        thetas.append(theta)

    def step(x, r):
        with tf.GradientTape() as tape:
            out = layer(x)
            loss = tf.reduce_sum(out * r)
        return out, tape.gradient(loss, layer.trainable_weights)

    with tf.GradientTape() as tape:
        want_out = plain(x)
        loss = tf.reduce_sum(want_out * r)
    dys = [g.numpy() for g in tape.gradient(loss, plain.trainable_weights)]
    got_out, grads = run_in_mode(step, execution_mode)(x, r)
    np.testing.assert_allclose(got_out.numpy(), want_out.numpy(), rtol=1e-5, atol=1e-5)
    assert len(find_adaste_quantizers(layer)) == len(slots) == len(grads)
    boosted = 0
    for theta, dy, got in zip(thetas, dys, grads, strict=True):
        scale = oracle.scale(theta, dy, 0.01, 0.5, quantizers.DEFAULT_MAX_SCALE, "bounded")
        np.testing.assert_allclose(got.numpy(), dy * scale, rtol=1e-5, atol=1e-5)
        boosted += int(np.sum(scale > 1.0))
    assert boosted > 0  # not only ste_sign's backward was compared


def test_changing_beta_changes_the_gradient_without_retracing():
    q = AdaSTE(beta=0.0)
    theta = tf.Variable([-1e-5, 0.2, 2.0])  # the first is within flip reach: its scale has beta

    @tf.function(jit_compile=True)
    def grad():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(q(theta) * tf.constant([-1.0, -1.0, -1.0]))
        return tape.gradient(y, theta)

    first = grad().numpy()
    q.beta_variable.assign(0.5)
    second = grad().numpy()
    assert grad.experimental_get_tracing_count() == 1
    assert not np.allclose(first, second)
    want = np.array([-1, -1, -1]) * oracle.scale(
        theta.numpy(), [-1, -1, -1], 0.01, 0.5, quantizers.DEFAULT_MAX_SCALE, "bounded"
    )
    np.testing.assert_allclose(second, want, rtol=1e-6)


def test_the_gradient_holds_for_random_shapes_ranks_rules_and_betas_in_one_process(
    execution_mode,
):
    """Issue 32: in eager mode the compiled gradient took the quantizer's `tf.Variable` input as
    a trace key that matched variables of other shapes, and the kernel of the next shape failed
    in XLA ("Incompatible shapes"). Here one process calls the gradient on variables of random
    shapes and ranks 0 to 4, with every rule, the quantizer's beta and a Python float beta
    (`adaste_sign`), each against the oracle; a Python float beta must not add a trace per value.
    """
    rng = np.random.default_rng(32)
    traces = quantizers._COMPILED_GRADIENT.experimental_get_tracing_count()
    for trial in range(18):
        shape = tuple(int(s) for s in rng.integers(1, 9, size=trial % 5))
        variant = quantizers.VARIANTS[trial % 3]
        beta = float(rng.choice([0.0, 0.3, 150.0]) + trial * 1e-3)  # a new value each trial
        theta = rng.uniform(-1.5, 1.5, size=shape).astype(np.float32)
        theta.flat[::2] *= 1e-4  # within the bounded rule's flip reach
        variable = tf.Variable(theta)
        r = tf.constant(rng.normal(size=shape).astype(np.float32))
        if trial % 2:
            quantizer = AdaSTE(variant=variant, max_scale=3.0)
            quantizer.beta = beta
        else:
            quantizer = lambda v, b=beta, s=variant: quantizers.adaste_sign(  # noqa: E731
                v, beta=b, variant=s, max_scale=3.0
            )

        def step(r, quantizer=quantizer, variable=variable):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(quantizer(variable) * r)
            return tape.gradient(loss, variable)

        got = run_in_mode(step, execution_mode)(r).numpy()
        want = r.numpy() * oracle.scale(theta, r.numpy(), 0.01, beta, 3.0, variant)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{shape} {variant}")
    # per rule, at most one trace of the first shape and one of any shape
    added = quantizers._COMPILED_GRADIENT.experimental_get_tracing_count() - traces
    assert added <= 2 * len(quantizers.VARIANTS)


def test_alias_and_defaults():
    q = lq.quantizers.get("adaste")
    assert isinstance(q, AdaSTE)
    assert (q.alpha, q.initial_beta, q.variant, q.precision) == (0.01, 0.01, "bounded", 1)
    assert q.beta == pytest.approx(0.01)  # the current value, read from its float32 variable
    assert q.flip_reach == ops.DEFAULT_FLIP_REACH
    assert q.max_scale == quantizers.DEFAULT_MAX_SCALE
    assert AdaSTE(variant="official").max_scale == 0.5
    assert AdaSTE(variant="official", max_scale=2.0).max_scale == 2.0


def test_get_config_holds_every_constructor_argument():
    signature = inspect.signature(AdaSTE.__init__)
    arguments = [p for p in signature.parameters if p not in ("self", "kwargs")]
    q = AdaSTE(
        alpha=0.02,
        beta=0.03,
        max_scale=4.0,
        variant="official",
        sync_replicas=False,
        metrics=["flip_ratio", "diagnostics"],
        flip_reach=1e-2,
    )
    config = q.get_config()
    assert set(arguments) <= set(config), set(arguments) - set(config)
    clone = AdaSTE.from_config(config)
    assert clone.get_config() == config


def test_a_config_keeps_the_current_beta_and_an_older_config_starts_at_beta():
    q = AdaSTE(beta=0.05)
    q.beta = 5.0
    assert AdaSTE.from_config(q.get_config()).beta == pytest.approx(5.0)
    older = {k: v for k, v in q.get_config().items() if k != "current_beta"}
    older["_config_version"] = 2
    restored = AdaSTE.from_config(older)
    assert restored.beta == pytest.approx(0.05) and restored.initial_beta == 0.05


def test_larq_serialize_round_trip():
    q = AdaSTE(alpha=0.05, beta=0.2, max_scale=2.0, variant="official")
    restored = lq.quantizers.get(lq.quantizers.serialize(q))
    assert isinstance(restored, AdaSTE)
    assert restored.get_config() == q.get_config()
    legacy = lq.quantizers.get(lq.quantizers.serialize(q, use_legacy_format=True))
    assert legacy.get_config() == q.get_config()


def test_layer_from_config_keeps_the_quantizer():
    layer = lq.layers.QuantDense(3, kernel_quantizer=AdaSTE(beta=0.07, variant="official"))
    clone = lq.layers.QuantDense.from_config(layer.get_config())
    assert isinstance(clone.kernel_quantizer, AdaSTE)
    assert clone.kernel_quantizer.get_config() == layer.kernel_quantizer.get_config()


def _mlp(kernel_quantizer, last_quantizer=None):
    return tf.keras.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(6, 6)),
            lq.layers.QuantDense(16, kernel_quantizer=kernel_quantizer, use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.Activation("relu"),
            lq.layers.QuantDense(4, kernel_quantizer=last_quantizer or kernel_quantizer),
        ]
    )


@pytest.mark.parametrize("shared", [False, True], ids=["own", "shared"])
@pytest.mark.parametrize("path", ["m.keras", "m.h5", "saved_model"])
def test_saved_and_loaded_model_predicts_the_same(tmp_path, path, shared, rng):
    first = AdaSTE(beta=0.05)
    model = _mlp(first, first if shared else AdaSTE(beta=0.05))
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.normal(size=(32, 6, 6)).astype(np.float32)
    model.fit(x, rng.integers(0, 4, 32), epochs=1, verbose=0)
    model.layers[1].kernel_quantizer.beta_variable.assign(0.4)
    target = str(tmp_path / path)
    model.save(target)
    tf.keras.backend.clear_session()
    loaded = tf.keras.models.load_model(target)  # no custom_object_scope
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    if path != "saved_model":
        q = loaded.layers[1].kernel_quantizer
        assert isinstance(q, AdaSTE)
        assert q.initial_beta == 0.05
    if path != "saved_model":  # every file keeps the current beta, h5 through the config
        assert loaded.layers[1].kernel_quantizer.beta_variable.numpy() == pytest.approx(0.4)


# What a process that never imported adaste_tf runs: load each file, record the error, then
# `import adaste_tf` (the fix the troubleshooting table gives) and load them again.
_LOAD_WITHOUT_IMPORT = """
import json, sys
import larq  # the files' layers are larq's; adaste_tf is not imported
import numpy as np
import tensorflow as tf
paths, inputs = sys.argv[1:3], np.load(sys.argv[3])
errors = {}
for path in paths:
    try:
        tf.keras.models.load_model(path)
    except Exception as error:
        errors[path] = [type(error).__name__, str(error)]
imported_before = "adaste_tf" in sys.modules
import adaste_tf
predictions = {p: tf.keras.models.load_model(p).predict(inputs, verbose=0).tolist() for p in paths}
print(json.dumps({"errors": errors, "imported_before": imported_before,
                  "predictions": predictions}))
"""


@pytest.mark.slow
def test_loading_without_import_adaste_tf_gives_larqs_message_and_the_import_fixes_it(
    tmp_path, rng
):
    # Neither format can name adaste_tf in its error, nor load without the import: larq's
    # `lq.quantizers.get` resolves a saved quantizer by its class name among larq's own
    # quantizers (it passes its module's globals to Keras as `module_objects`) and the names
    # registered with Keras. With `module_objects` given, Keras never uses the `module`
    # ("adaste_tf.quantizers") that the .keras and h5 configs record: an unknown name comes back
    # as the string "AdaSTE" (.keras; QuantizedVariable then rejects it) or raises Keras's
    # "Unknown quantization function" (h5, legacy deserialization). No adaste_tf code runs in
    # that process before the error, so only `import adaste_tf` (which registers the names) can
    # help; the troubleshooting catalogue (tests/test_bad_inputs.py) shows these messages with
    # that fix beside them.
    import json
    import os
    import subprocess
    import sys

    model = _mlp(AdaSTE(beta=0.05))
    x = rng.normal(size=(4, 6, 6)).astype(np.float32)
    paths = [str(tmp_path / "m.keras"), str(tmp_path / "m.h5")]
    for path in paths:
        model.save(path)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_IMPORT, *paths, str(tmp_path / "x.npy")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported_before"] is False
    keras_type, keras_message = result["errors"][paths[0]]
    assert keras_type == "ValueError"
    assert "`quantizer` must be `callable` or `None`, but got `<class 'str'>`" in keras_message
    h5_type, h5_message = result["errors"][paths[1]]
    assert h5_type == "TypeError"
    assert "Unknown quantization function: 'AdaSTE'" in h5_message
    want = model.predict(x, verbose=0)
    for path in paths:  # after `import adaste_tf`, in the same process, both load
        np.testing.assert_array_equal(np.asarray(result["predictions"][path], np.float32), want)


def _summary_text(model):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        lq.models.summary(model)
    return buffer.getvalue()


def test_summary_and_weights_same_as_ste_sign(tmp_path):
    adaste = _mlp("adaste")
    tf.keras.backend.clear_session()  # same layer names for both models
    ste = _mlp("ste_sign")
    assert _summary_text(adaste) == _summary_text(ste)
    assert "1-bit" in _summary_text(adaste)
    assert adaste.count_params() == ste.count_params()
    assert [w.name for w in adaste.weights] == [w.name for w in ste.weights]
    assert [w.shape for w in adaste.get_weights()] == [w.shape for w in ste.get_weights()]
    adaste.save_weights(str(tmp_path / "a.h5"))
    ste.load_weights(str(tmp_path / "a.h5"))  # the h5 weight lists line up one to one


def test_quantized_kernels_reported_as_one_bit():
    model = _mlp("adaste")
    text = _summary_text(model)
    row = next(line for line in text.splitlines() if line.strip("| ").startswith("quant_dense "))
    assert "576" in row  # 36 * 16 one-bit weights in the 1-bit column


# Zero, negative and string alpha, negative and NaN beta, infinite max_scale, a misspelt
# variant, a non-bool sync_replicas, a negative flip_reach and bad metrics are cases of the
# bad-input catalogue (test_bad_inputs.py); the ones below are not there.
@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": True}, "alpha"),
        ({"beta": float("inf")}, "beta"),
        ({"beta": None}, "beta"),
        ({"max_scale": 0.0}, "max_scale"),
        ({"max_scale": -2.0}, "max_scale"),
        ({"variant": 1}, "variant"),
        ({"flip_reach": float("nan")}, "flip_reach"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, parameter):
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        AdaSTE(**kwargs)


def test_adaste_sign_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match="adaste_sign: `variant` must be one of 'bounded', "):
        quantizers.adaste_sign(tf.constant([1.0]), variant="fenbp")


def test_flip_ratio_metric_works():
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(4,)),
            lq.layers.QuantDense(3, kernel_quantizer=AdaSTE(metrics=["flip_ratio"])),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((8, 4)), np.ones((8, 3)), epochs=1, verbose=0)
    assert any("flip_ratio" in key for key in history.history)


def test_beta_reads_and_sets_the_current_value_and_config_keeps_the_initial():
    q = AdaSTE(beta=0.02)
    q.beta_variable.assign(0.7)  # as RelaxationScheduler does
    assert q.beta == pytest.approx(0.7)
    q.beta = 3.0
    assert float(q.beta_variable.numpy()) == 3.0
    assert (q.initial_beta, q.get_config()["beta"]) == (0.02, 0.02)
    with pytest.raises(ValueError, match="`beta`"):
        q.beta = -1.0


def test_metric_names_survive_a_keras_file(tmp_path):
    from adaste_tf.callbacks import DiagnosticsLogger

    model = _mlp(
        AdaSTE(metrics=["flip_ratio", "diagnostics"]), AdaSTE(metrics=["flip_ratio", "diagnostics"])
    )
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.ones((8, 6, 6), np.float32)
    model.fit(x, np.zeros(8), epochs=1, verbose=0, callbacks=[DiagnosticsLogger()])
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[1].kernel_quantizer.get_config()["metrics"] == [
        "flip_ratio",
        "diagnostics",
    ]
    loaded.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = loaded.fit(x, np.zeros(8), epochs=1, verbose=0, callbacks=[DiagnosticsLogger()])
    assert any(key.startswith("flip_ratio/") for key in history.history)
    name = loaded.layers[1].name
    assert f"near_zero/{name}/kernel" in history.history, sorted(history.history)


def _numpy_diagnostics(theta, dy, alpha, beta, scale):
    """DIAGNOSTICS from docs/method.md's table, written with NumPy."""
    a = np.abs(theta)
    inward = np.where(theta >= 0, dy > 0, dy < 0)
    linear = (alpha * beta < 1) & (a < 1 - alpha * beta)
    return {
        "linear_outward": np.mean(linear & ~inward),
        "linear_inward": np.mean(linear & inward),
        "saturated_outward": np.mean(~linear & ~inward),
        "saturated_inward": np.mean(~linear & inward),
        "binary_regime": float(alpha * beta >= 1),
        "inward_scale": scale[inward].mean() if inward.any() else 0.0,
        "outward_scale": scale[~inward].mean() if (~inward).any() else 0.0,
        "near_zero": np.mean(a < quantizers.NEAR_ZERO),
    }


@pytest.mark.parametrize("beta", [0.3, 100.0])
def test_diagnostics_match_numpy_and_reach_history(beta, execution_mode, rng):
    # Two identical steps (SGD at learning rate 0, the same example): the epoch's mean is that
    # step's backward.
    from adaste_tf.callbacks import DiagnosticsLogger

    q = AdaSTE(beta=beta, metrics=["diagnostics"])
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((6,)),
            lq.layers.QuantDense(5, kernel_quantizer=q, use_bias=False, name="fc"),
        ]
    )
    model.compile(
        tf.keras.optimizers.SGD(0.0),
        "mse",
        run_eagerly=execution_mode == "eager",
        jit_compile=execution_mode == "jit",
    )
    theta = rng.uniform(-1.2, 1.2, size=(6, 5)).astype(np.float32)
    theta[0, :2] = [1e-4, -5e-4]  # near zero
    model.layers[0].kernel.assign(theta)
    x = rng.normal(size=(1, 6)).astype(np.float32)
    target = rng.normal(size=(1, 5)).astype(np.float32)
    history = model.fit(
        np.repeat(x, 2, 0),
        np.repeat(target, 2, 0),
        batch_size=1,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[DiagnosticsLogger()],
    )
    w = np.where(theta >= 0, 1.0, -1.0)
    dy = x.T @ (2 * (x @ w - target) / 5)  # d mse / d w
    scale = oracle.scale(theta, dy, 0.01, beta, quantizers.DEFAULT_MAX_SCALE, "bounded")
    want = _numpy_diagnostics(theta, dy, 0.01, beta, scale)
    for name, value in want.items():
        got = history.history[f"{name}/fc/kernel"][0]
        assert got == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_bop_is_refused_before_training(tmp_path):
    from adaste_tf.callbacks import RelaxationScheduler, check_optimizer

    model = _mlp("adaste")
    optimizer = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
        default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
    )
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match="Bop.*AdaSTE"):
        model.fit(
            np.ones((8, 6, 6)), np.zeros(8), epochs=1, verbose=0, callbacks=[RelaxationScheduler()]
        )
    # refused before the first step: no weight moved
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, new.numpy())
    with pytest.raises(ValueError, match="Bop"):
        check_optimizer(model)


def test_bop_may_train_other_kernels_beside_adaste():
    from adaste_tf.callbacks import RelaxationScheduler, check_optimizer

    model = _mlp("adaste", last_quantizer="ste_sign")

    def larq_binary_kernel(variable):  # the predicate the error message suggests
        return lq.optimizers.Bop.is_binary_variable(variable) and not isinstance(
            getattr(variable, "quantizer", None), AdaSTE
        )

    optimizer = lq.optimizers.CaseOptimizer(
        (larq_binary_kernel, lq.optimizers.Bop()),
        default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
    )
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    check_optimizer(model)
    model.fit(
        np.random.default_rng(0).normal(size=(64, 6, 6)),
        np.arange(64) % 4,
        epochs=2,
        verbose=0,
        callbacks=[RelaxationScheduler()],
    )
    # Bop trained the ste_sign kernel (Bop writes +-1), Adam the AdaSTE kernel (latent values)
    assert set(np.unique(np.abs(model.layers[-1].kernel.numpy()))) == {1.0}
    assert len(np.unique(np.abs(model.layers[1].kernel.numpy()))) > 2


@pytest.mark.parametrize("variant", quantizers.VARIANTS)
def test_as_an_activation_quantizer_the_backward_is_ste_signs(variant, execution_mode, rng):
    # docs/method.md, "Activations": the relaxation's derivative at beta = 0, at every beta.
    x = tf.constant(rng.uniform(-2.0, 2.0, size=(16, 6)).astype(np.float32))
    x = tf.tensor_scatter_nd_update(x, [[0, 0], [0, 1], [0, 2]], [1.0, -1.0, 0.0])
    r = tf.constant(rng.normal(size=(16, 5)).astype(np.float32))
    q = AdaSTE(variant=variant)
    q.beta_variable.assign(50.0)
    layers = [
        lq.layers.QuantDense(5, kernel_quantizer="ste_sign", input_quantizer=iq, use_bias=False)
        for iq in (q, "ste_sign")
    ]
    for layer in layers:
        layer.build(x.shape)
    layers[1].kernel.assign(layers[0].kernel)

    def input_gradient(x, r):
        grads = []
        for layer in layers:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * r)
            grads.append(tape.gradient(loss, x))
        return grads

    adaste, ste = run_in_mode(input_gradient, execution_mode)(x, r)
    np.testing.assert_array_equal(adaste.numpy(), ste.numpy())
    assert np.count_nonzero(adaste.numpy()) > 0


def test_adaste_sign_on_an_activation_ignores_beta_and_the_variant():
    x = tf.constant([-2.0, -1.0, -1e-4, 0.0, 0.5, 1.0, 1.5])
    for variant in quantizers.VARIANTS:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = quantizers.adaste_sign(x, beta=80.0, variant=variant, activation=True)
        np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 1, 1, 1, 1, 1, 0])


def _compiled_step(kernel_quantizer) -> tuple[str, list[str], re.Pattern]:
    """XLA's optimized HLO of a jit-compiled Adam step with a 64x48 quantized kernel: the whole
    module, its entry computation's lines and a pattern matching an operand that is the dot
    producing the kernel's gradient."""
    model = tf.keras.Sequential(
        [
            tf.keras.Input((64,)),
            lq.layers.QuantDense(48, kernel_quantizer=kernel_quantizer, use_bias=False),
            tf.keras.layers.Dense(3),
        ]
    )
    optimizer = tf.keras.optimizers.legacy.Adam(1e-3)
    x, y = tf.ones((16, 64)), tf.ones((16, 3))

    @tf.function(jit_compile=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        )
        return loss

    step(x, y)
    hlo = step.experimental_get_compiler_ir(x, y)(stage="optimized_hlo")
    entry = hlo[hlo.index("\nENTRY") :].splitlines()
    (dot,) = [
        line.split("=")[0].strip()
        for line in entry
        if " dot(" in line and line.split("=", 1)[1].strip().startswith("f32[64,48]")
    ]
    return hlo, entry, _reads(dot)


def _reads(name: str) -> re.Pattern:
    """A pattern matching an HLO line that has the instruction `name` as an operand."""
    # An operand is printed as `%name` (TF 2.21's XLA) or `f32[64,48]{1,0} %name` (TF 2.18's).
    return re.compile(r"[(,]\s*(?:\S+\s+)?" + re.escape(name) + r"[,)]")


def _shape(line: str) -> str:
    """The output shape of an HLO instruction's line, a tuple of shapes included."""
    return re.match(r"\s*(\([^)]*\)|\S+)", line.split("=", 1)[1]).group(1)


def _readers_of_the_kernel_gradient(kernel_quantizer) -> list[str]:
    """The instructions of the compiled step (`_compiled_step`) that read the dot producing the
    kernel's gradient, each as its output shape."""
    _, entry, reads_the_dot = _compiled_step(kernel_quantizer)
    return [_shape(line) for line in entry if reads_the_dot.search(line)]


def _fusion_body(compiled_step, shape: str) -> list[str]:
    """The lines of the fusion of `compiled_step` (what `_compiled_step` returns) that reads the
    dot producing the kernel's gradient and has the output `shape` (such as "f32[64,48]")."""
    hlo, entry, reads_the_dot = compiled_step
    (line,) = [
        line
        for line in entry
        if reads_the_dot.search(line) and line.split("=", 1)[1].strip().startswith(shape + "{")
    ]
    pattern = re.compile(r"= " + re.escape(shape) + r"\S* (fusion|call)\(")
    while True:  # TF 2.18 wraps the fusion in a call to a parallel fusion
        name = re.search(r"(?:calls|to_apply)=(%?[\w.]+)", line).group(1)
        body = hlo[hlo.index("\n" + name + " ") :]
        body = body[: body.index("\n}")].splitlines()[1:]
        inner = [b for b in body if pattern.search(b)]
        if not inner:
            return body
        line = inner[0]


def _operations_per_weight(kernel_quantizer) -> list[str]:
    """The operations on kernel-shaped arrays inside the fusion of the compiled step that reads
    the kernel's gradient and has the kernel's shape (parameters, broadcasts and constants left
    out): what its loop computes for every weight."""
    body = _fusion_body(_compiled_step(kernel_quantizer), "f32[64,48]")
    kinds = [
        b.split("=", 1)[1].split("(")[0].split()[-1]
        for b in body
        if re.search(r"= (f32|pred)\[64,48\]", b)
    ]
    return [k for k in kinds if k not in ("parameter", "broadcast", "constant", "bitcast")]


# The XLA option that merges sibling fusions on CPU (docs/performance.md, "XLA's multi-output
# fusion"). XLA reads its flags once, when it starts: a process of its own tests it. TensorFlow
# 2.21's XLA has it; 2.18's, the lowest supported, ignores it.
MULTI_OUTPUT_FUSION = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion"
_HAS_MULTI_OUTPUT_FUSION = tuple(int(part) for part in tf.__version__.split(".")[:2]) >= (2, 21)


def _multi_output_fusion_in_this_process() -> bool:
    return _HAS_MULTI_OUTPUT_FUSION and MULTI_OUTPUT_FUSION in os.environ.get("XLA_FLAGS", "")


@pytest.mark.parametrize("variant", quantizers.VARIANTS)
def test_the_compiled_step_computes_the_scaled_gradient_once(variant):
    # docs/performance.md: the rule is evaluated in one fusion whose output the optimizer's
    # updates read, not inside each of them (ste_sign's mask is, but costs nothing).
    readers = _readers_of_the_kernel_gradient(AdaSTE(variant=variant))
    gradient = [shape for shape in readers if shape.startswith("f32[64,48]")]
    assert len(gradient) == 1, readers
    if variant == "bounded":  # and once more for its sum of squares (to 1/8 or 1/64 of the size)
        assert sorted(readers) == sorted(["f32[64,48]{1,0}", _FIRST_SUM]), readers
    else:
        assert len(readers) == 1, readers
    # Adam's m and v updates, two fusions; one with XLA's multi-output fusion (below)
    updates = 1 if _multi_output_fusion_in_this_process() else 2
    assert len(_readers_of_the_kernel_gradient("ste_sign")) == updates


# The output of the fusion that reads the 64x48 gradient for the bounded rule's sum of squares:
# with TensorFlow 2.21 the sum down 8 rows (3072 / 8); before, two sums of 8 neighbours (/ 64).
_FIRST_SUM = "f32[384]{0}" if ops._XLA_FUSES_MAJOR_AXIS_SUMS else "f32[48]{0}"


def test_the_sum_of_squares_reads_the_gradient_once_in_the_form_this_xla_fuses():
    # docs/performance.md, "The sum of squares": with TensorFlow 2.21 the squares are summed down
    # the 8 rows of an [8, size / 8] view (the major axis, a loop XLA vectorizes without
    # shuffles), not 8 neighbours at a time (the minor axis); earlier versions keep the
    # neighbours (2.18's XLA fuses no producer into a sum over a major axis, and with 2.19 and
    # 2.20 the rows measured slower). Either way one fusion reads the gradient, squares and sums
    # it.
    body = _fusion_body(_compiled_step(AdaSTE(variant="bounded")), _FIRST_SUM.split("{")[0])
    reduces = [line for line in body if " reduce(" in line]
    assert any(" multiply(" in line for line in body), body  # the square, fused
    if ops._XLA_FUSES_MAJOR_AXIS_SUMS:
        assert len(reduces) == 1, body
        assert "dimensions={0}" in reduces[0], reduces
        assert any(re.search(r"= f32\[8,384\]\S* (bitcast|reshape)\(", line) for line in body)
    else:
        assert len(reduces) == 2, body
        assert all("dimensions={1}" in line for line in reduces), reduces


def _gradient_and_its_readers(kernel_quantizer) -> dict[str, list[str]]:
    """The shapes of the instructions of the compiled step (`_compiled_step`) that read the dot
    producing the kernel's gradient, and of those that read the kernel-shaped one of them."""
    _, entry, reads_the_dot = _compiled_step(kernel_quantizer)
    dot_readers = [line for line in entry if reads_the_dot.search(line)]
    (gradient,) = [line for line in dot_readers if _shape(line).startswith("f32[64,48]")]
    reads_it = _reads(gradient.split("=")[0].strip())
    return {
        "dot": [_shape(line) for line in dot_readers],
        "gradient": [_shape(line) for line in entry if reads_it.search(line)],
    }


@pytest.mark.skipif(not _HAS_MULTI_OUTPUT_FUSION, reason="this XLA ignores the option")
def test_with_multi_output_fusion_adam_reads_every_gradient_once():
    # With the option, XLA no longer copies ste_sign's mask into both of Adam's moment updates
    # but merges the two updates into one fusion: each estimator's gradient is one fusion (the
    # bounded rule's sum of squares besides), read once, by one fusion writing both moments.
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import test_quantizers as t
        from adaste_tf.quantizers import AdaSTE, VARIANTS
        found = {{v: t._gradient_and_its_readers(AdaSTE(variant=v)) for v in VARIANTS}}
        found["ste_sign"] = t._gradient_and_its_readers("ste_sign")
        print(json.dumps(found))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ, XLA_FLAGS=MULTI_OUTPUT_FUSION),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(found) == sorted([*quantizers.VARIANTS, "ste_sign"])
    for estimator, readers in found.items():
        sums = [_FIRST_SUM] if estimator == "bounded" else []
        assert sorted(readers["dot"]) == sorted(["f32[64,48]{1,0}", *sums]), (estimator, readers)
        assert readers["gradient"] == ["(f32[64,48]{1,0}, f32[64,48]{1,0})"], (estimator, readers)
    # Without it (this process), ste_sign's mask is inside each update and AdaSTE's gradient
    # is read by both.
    if not _multi_output_fusion_in_this_process():
        default = _gradient_and_its_readers(AdaSTE(variant="paper"))
        assert default["gradient"] == ["f32[64,48]{1,0}"] * 2, default


# Operations per weight in the compiled gradient (docs/performance.md, "Few operations per
# weight"); the forms with per-weight coefficients and one select per term took 22, 32 and 31.
OPERATIONS_PER_WEIGHT = {"paper": 16, "bounded": 19, "official": 24}


@pytest.mark.parametrize("variant", quantizers.VARIANTS)
def test_the_compiled_gradient_takes_few_operations_per_weight(variant):
    # Inside a jit-compiled step the gradient is one loop over the weights whose cost is its
    # operation count; the scalars of the rule (functions of beta) are not among them.
    operations = _operations_per_weight(AdaSTE(variant=variant))
    assert len(operations) <= OPERATIONS_PER_WEIGHT[variant], sorted(operations)
    assert operations.count("divide") == 1, sorted(operations)
