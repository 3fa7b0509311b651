"""AdaSTE's optimizer in larq's workflow: `AdaSTEMomentum` on the weights AdaSTE quantizes and a
legacy Keras optimizer on the rest, through `lq.optimizers.CaseOptimizer`, on a network with a
real stem and head, BatchNorm with scale and a shortcut: each weight takes its own optimizer's
step (against NumPy transcriptions of both updates), in `fit` with and without jit, in custom
loops, across a `.keras` reload and a `BackupAndRestore` resume; and `check_optimizer`'s
warnings and the Bop refusal's fixes for the model at hand."""

from __future__ import annotations

import warnings

from adaste_tf.callbacks import RelaxationScheduler, check_optimizer
from adaste_tf.optimizers import AdaSTEMomentum, OfficialMomentum, is_adaste_variable
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from test_optimizers import official_update

TRAIN_SIZE = 32
LR = 1e-3


def _net(kernel_quantizer=None, rule: str = "official") -> tf.keras.Model:
    """A larq-style network: real stem, BatchNorm with scale and center, a binary 3x3 conv with
    binary activations and a shortcut, global pooling and a real head."""
    kernel_quantizer = kernel_quantizer or AdaSTE(variant=rule)
    inputs = tf.keras.Input((6, 6, 1))
    # no bias before BatchNorm: its gradient is zero up to rounding, which Adam would amplify
    x = tf.keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    y = lq.layers.QuantConv2D(
        4,
        3,
        padding="same",
        use_bias=False,
        kernel_quantizer=kernel_quantizer,
        input_quantizer="ste_sign",
        name="binary",
    )(x)
    y = tf.keras.layers.BatchNormalization(name="binary_bn")(y)
    x = tf.keras.layers.Add()([x, y])
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="head")(x))


def _case(lr=LR, **kwargs) -> lq.optimizers.CaseOptimizer:
    return lq.optimizers.CaseOptimizer(
        (AdaSTEMomentum.is_adaste_variable, AdaSTEMomentum(lr, train_size=TRAIN_SIZE, **kwargs)),
        default_optimizer=tf.keras.optimizers.legacy.Adam(lr),
    )


def _data(seed: int = 0, n: int = TRAIN_SIZE):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, n)


LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _gradients(model, x, y):
    """The gradients of one full-batch step, by a separate trace (not the fit's)."""

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            loss = LOSS(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_variables)

    return [g.numpy() for g in gradients()]


def adam_update(theta, g, lr, step=1, beta1=0.9, beta2=0.999, epsilon=1e-7):
    """legacy Keras Adam's first step(s) from zero moments, for one gradient repeated."""
    m = (1 - beta1) * g
    v = (1 - beta2) * g * g
    lr_t = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
    return theta - lr_t * m / (np.sqrt(v) + epsilon)


@pytest.mark.parametrize("jit", [False, True], ids=["no-jit", "jit"])
def test_each_weight_takes_its_own_optimizers_step_in_fit(jit):
    x, y = _data()
    model = _net()
    before = [v.numpy() for v in model.trainable_variables]
    gradients = _gradients(model, x, y)
    model.compile(_case(), LOSS, jit_compile=jit)
    model.fit(x, y, batch_size=TRAIN_SIZE, epochs=1, shuffle=False, verbose=0)
    scale = (10 * TRAIN_SIZE) ** 2
    for variable, theta, g in zip(model.trainable_variables, before, gradients, strict=True):
        if is_adaste_variable(variable):
            want = official_update(theta, [g], lambda _: LR, 0.9, scale, 1.0)[-1]
        else:  # the real stem, BatchNorm's scale and center, the head: Adam
            want = adam_update(theta, g, LR)
        np.testing.assert_allclose(
            variable.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=variable.name
        )
    names = {v.name.split(":")[0] for v in model.trainable_variables if is_adaste_variable(v)}
    assert names == {"binary/kernel"}
    assert any("gamma" in v.name for v in model.trainable_variables)  # BatchNorm with scale


@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
def test_custom_training_loop(mode):
    x, y = _data()
    model, reference = _net(), _net()
    reference.set_weights(model.get_weights())
    reference.compile(_case(), LOSS)
    reference.fit(x, y, batch_size=TRAIN_SIZE, epochs=2, shuffle=False, verbose=0)
    optimizer = _case()

    def step():
        with tf.GradientTape() as tape:
            loss = LOSS(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    run = step if mode == "eager" else tf.function(step, jit_compile=mode == "jit")
    for _ in range(2):
        run()
    for got, want in zip(model.trainable_variables, reference.trainable_variables, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def test_defaults_refuse_with_what_to_pass():
    for optimizer in (AdaSTEMomentum, OfficialMomentum):
        with pytest.raises(ValueError, match=r"Fix: pass `train_size=` .*len\(x_train\)"):
            optimizer()
        with pytest.raises(ValueError, match="must not both be given"):
            optimizer(train_size=10, gradient_scale=4.0)
        for bad in (0, -3, 2.5, True, "100"):
            with pytest.raises((TypeError, ValueError), match="`train_size`"):
                optimizer(train_size=bad)
        assert optimizer(train_size=54_000).gradient_scale == pytest.approx(540_000.0**2)


def test_config_round_trip_has_every_argument():
    schedule = tf.keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=100)
    optimizer = AdaSTEMomentum(schedule, momentum=0.8, decay=0.5, train_size=77, name="ada")
    config = optimizer.get_config()
    for argument in ("learning_rate", "momentum", "decay", "train_size", "gradient_scale", "name"):
        assert argument in config, argument  # every constructor argument is in the config
    clone = AdaSTEMomentum.from_config(dict(config))
    assert clone.get_config() == optimizer.get_config()
    assert (clone.momentum, clone.weight_decay, clone.gradient_scale) == (0.8, 0.5, 770.0**2)
    restored = tf.keras.optimizers.deserialize(
        tf.keras.optimizers.serialize(AdaSTEMomentum(gradient_scale=3.0)), use_legacy_optimizer=True
    )
    assert isinstance(restored, AdaSTEMomentum) and restored.gradient_scale == 3.0
    # larq's CaseOptimizer saves its optimizers by their names
    case = _case()
    again = lq.optimizers.CaseOptimizer.from_config(case.get_config())
    assert type(again.optimizers[0]) is AdaSTEMomentum
    assert again.optimizers[0].get_config() == case.optimizers[0].get_config()


def test_a_reloaded_model_trains_every_weight_again(tmp_path):
    x, y = _data()
    model = _net()
    model.compile(_case(), LOSS)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[RelaxationScheduler()])
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    before = [v.numpy() for v in loaded.trainable_variables]
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for variable, old in zip(loaded.trainable_variables, before, strict=True):
        assert not np.array_equal(variable.numpy(), old), f"{variable.name} was not trained"
    # the binary kernel by AdaSTEMomentum, the rest by Adam, as before saving
    optimizer = loaded.optimizer
    by_momentum = [
        v
        for v in loaded.trainable_variables
        if isinstance(
            optimizer.optimizers[optimizer.var_opt_mapping[lq.optimizers._var_key(v)]],
            AdaSTEMomentum,
        )
    ]
    assert by_momentum == [loaded.get_layer("binary").kernel]


def test_a_loaded_mapping_for_another_model_is_a_clear_error(tmp_path):
    x, y = _data()
    model = _net()
    model.compile(_case(), LOSS)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    other = tf.keras.Sequential(
        [tf.keras.layers.Flatten(input_shape=(6, 6, 1)), tf.keras.layers.Dense(3)]
    )
    other.compile(loaded.optimizer, LOSS)
    with pytest.raises(ValueError, match="compile the loaded model with a new CaseOptimizer"):
        other.fit(x, y, batch_size=8, epochs=1, verbose=0)


class _Interrupt(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_with_the_moments(tmp_path):
    x, y = _data()
    tf.keras.utils.set_random_seed(1)
    start = _net().get_weights()

    def fit(callbacks):
        model = _net()
        model.set_weights(start)
        model.compile(_case(), LOSS, jit_compile=True)
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[RelaxationScheduler(), *callbacks],
        )
        return model

    straight = fit([])
    backup = tf.keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        fit([backup, _Interrupt()])
    resumed = fit([tf.keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    moments = [w.numpy() for w in resumed.optimizer.optimizers[0].weights]
    want = [w.numpy() for w in straight.optimizer.optimizers[0].weights]
    assert len(moments) == 2  # the binary kernel's moment and the step counter
    for got, expected in zip(moments, want, strict=True):
        np.testing.assert_array_equal(got, expected)


# --- check_optimizer: the setup is accepted, the losing pairings warn --------------------------


def _warnings_of(model, optimizer) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_optimizer(model, optimizer)
    return [str(w.message) for w in caught]


def test_the_recommended_setup_is_accepted_silently():
    model = _net()
    assert _warnings_of(model, _case()) == []
    x, y = _data()
    model.compile(_case(), LOSS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, epochs=2, verbose=0, callbacks=[RelaxationScheduler()])


def test_official_rule_under_adam_warns():
    [message] = _warnings_of(_net(rule="official"), tf.keras.optimizers.Adam())
    assert "layer 'binary' (`kernel_quantizer`)" in message and "beta passes about 3" in message
    assert _warnings_of(_net(rule="bounded"), tf.keras.optimizers.Adam()) == []


def test_adaste_optimizer_on_real_layers_warns():
    [message] = _warnings_of(_net(), AdaSTEMomentum(train_size=TRAIN_SIZE))
    listed = message.split("no AdaSTE weight: ")[1].split(". ")[0]
    assert sorted(listed.split(", ")) == ["binary_bn", "head", "stem", "stem_bn"]
    assert "is_adaste_variable" in message


def test_bop_refusal_fix_works_when_every_binary_weight_is_adastes():
    model = _net()
    bop = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
        default_optimizer=tf.keras.optimizers.legacy.Adam(),
    )
    with pytest.raises(ValueError, match="so drop Bop") as error:
        check_optimizer(model, bop)
    fix = str(error.value).split("so drop Bop: train them with AdaSTE's optimizer, ")[1]
    fix = fix.split(", or train every weight")[0].replace("len(x_train)", str(TRAIN_SIZE))
    x, y = _data()
    import adaste_tf

    model.compile(eval(fix, {"lq": lq, "tf": tf, "adaste_tf": adaste_tf}), LOSS)
    model.fit(x, y, epochs=1, verbose=0)  # the fix as printed trains


def test_bop_refusal_fix_works_beside_larqs_own_binary_weights():
    inputs = tf.keras.Input((6, 6, 1))
    x = lq.layers.QuantConv2D(4, 3, kernel_quantizer="ste_sign", name="larq")(inputs)
    x = lq.layers.QuantConv2D(4, 3, kernel_quantizer="adaste", name="adaste")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(x)))
    bop = lq.optimizers.CaseOptimizer(
        (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop()),
        default_optimizer=tf.keras.optimizers.legacy.Adam(),
    )
    with pytest.raises(ValueError, match="Bop only larq's own binary weights") as error:
        check_optimizer(model, bop)
    fix = str(error.value).split("binary weights, ")[1].split("; or use a larq")[0]
    import adaste_tf

    fixed = eval(
        fix.replace("len(x_train)", str(TRAIN_SIZE)), {"lq": lq, "tf": tf, "adaste_tf": adaste_tf}
    )
    model.compile(fixed, LOSS)
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    kinds = {type(fixed.optimizers[i]).__name__ for i in set(fixed.var_opt_mapping.values())}
    assert kinds == {"AdaSTEMomentum", "Bop", "Adam"}
