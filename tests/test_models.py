"""Tests of adaste_tf.zoo.models: the official networks, built with each estimator."""

import logging
import re

import adaste_tf
from adaste_tf.callbacks import find_adaste_quantizers
from adaste_tf.initializers import RandomSign
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import models

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

# Small versions of each network, cheap to build and to run: (builder, kwargs, input shape).
TINY = {
    "mlp": (models.mlp, dict(input_shape=(6, 6), hidden=(16, 16)), (6, 6)),
    "vgg16": (models.vgg16, dict(input_shape=(32, 32, 1), width=1 / 16), (32, 32, 1)),
    "resnet18": (models.resnet18, dict(input_shape=(8, 8, 1), width=1 / 16), (8, 8, 1)),
}

# Names of the first and last quantized layers of each network.
FIRST_LAST = {"mlp": ("fc1", "fc3"), "vgg16": ("conv1", "fc16"), "resnet18": ("conv1", "linear")}

# Official parameter counts for 10 classes, derived from `models/models.py` of the official
# code (intellhave/AdaSTE): every conv and linear layer is bias-free except ResNet-18's final
# `nn.Linear(512, 10)`, and every BatchNorm has `affine=False`, so the parameters are weights
# only. The same numbers came out of executing the official model definitions with stand-ins
# for torch.nn that count `in * out * k * k (+ out if bias)`.
#   VGG16: 3x3 convs 3-64-64-128-128-256-256-256-512 x6: 14,710,464; fc 512*512*2 + 512*10
#          = 529,408; total 15,239,872.
#   ResNet18: stem 1,728; layer1 4*36,864 = 147,456; layer2 73,728 + 3*147,456 + 8,192 (1x1
#          shortcut) = 524,288; layer3 2,097,152; layer4 8,388,608; linear 5,120 + 10 bias;
#          total 11,164,362.
#   MLPBinaryConnect (784 inputs, 3 x 2048 units): 784*2048 + 2*2048^2 + 2048*10 = 10,014,720.
# All of these are trainable here. The BatchNorms' moving mean and variance (PyTorch's
# running_mean/running_var buffers) are the non-trainable weights: 2 per BatchNorm channel,
#   VGG16: 2 * (2*64 + 2*128 + 3*256 + 6*512 + 2*512 + 10) = 10,516;
#   ResNet18: 2 * (64 + 4*64 + 5*128 + 5*256 + 5*512 + 10) = 9,620.
OFFICIAL_TRAINABLE = {"vgg16": 15_239_872, "resnet18": 11_164_362}
OFFICIAL_BN_BUFFERS = {"vgg16": 10_516, "resnet18": 9_620}


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _tiny(network: str, **overrides) -> tf.keras.Model:
    builder, kwargs, _ = TINY[network]
    return builder(**{**kwargs, **overrides})


def _quantized_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "kernel_quantizer")]


@pytest.mark.parametrize("estimator", models.ESTIMATORS)
@pytest.mark.parametrize("network", sorted(TINY))
def test_builds_with_each_estimator(network, estimator):
    model = _tiny(network, kernel_quantizer=estimator)
    assert model.output_shape == (None, 10)
    expected = type(lq.quantizers.get(estimator))
    for layer in _quantized_layers(model):
        assert isinstance(layer.kernel_quantizer, expected), layer.name
        assert layer.kernel_quantizer.precision == 1
        assert layer.kernel_constraint is None


@pytest.mark.parametrize("network", sorted(OFFICIAL_TRAINABLE))
def test_parameter_counts_match_the_official_networks(network):
    model = getattr(models, network)(input_shape=(32, 32, 3), num_classes=10)
    assert _count(model.trainable_weights) == OFFICIAL_TRAINABLE[network]
    assert _count(model.non_trainable_weights) == OFFICIAL_BN_BUFFERS[network]
    # AdaSTE's beta variable is hidden from the weights, so it adds nothing to either count.
    assert model.count_params() == OFFICIAL_TRAINABLE[network] + OFFICIAL_BN_BUFFERS[network]


def test_mlp_parameter_count_matches_mlp_binary_connect():
    model = models.mlp((784,), 10, hidden=(2048, 2048, 2048))
    assert _count(model.trainable_weights) == 10_014_720


def test_width_scales_every_layer():
    model = models.vgg16((32, 32, 1), width=0.25)
    assert model.get_layer("conv1").filters == 16
    assert model.get_layer("conv13").filters == 128
    assert model.get_layer("fc14").units == 128
    resnet = models.resnet18((8, 8, 1), width=0.5)
    assert resnet.get_layer("layer4_1_conv2").filters == 256


@pytest.mark.parametrize("binarize_first_last", [True, False])
@pytest.mark.parametrize("network", sorted(TINY))
def test_binarize_first_last_switches_the_first_and_last_layer(network, binarize_first_last):
    model = _tiny(
        network,
        binarize_first_last=binarize_first_last,
        input_quantizer="ste_sign",
        activation=None,
        kernel_constraint="weight_clip",
    )
    first, last = (model.get_layer(name) for name in FIRST_LAST[network])
    layers = _quantized_layers(model)
    assert layers[0] is first and layers[-1] is last
    for layer in (first, last):
        assert (layer.kernel_quantizer is not None) == binarize_first_last
        assert (layer.kernel_constraint is not None) == binarize_first_last
    # The data is never quantized; the last layer's input only when its kernel is binary.
    assert first.input_quantizer is None
    assert (last.input_quantizer is not None) == binarize_first_last
    for layer in layers[1:-1]:
        assert isinstance(layer.kernel_quantizer, AdaSTE), layer.name
        assert layer.input_quantizer is not None, layer.name
        assert isinstance(layer.kernel_constraint, lq.constraints.WeightClip), layer.name


def test_summary_reports_binary_kernels_as_one_bit():
    model = _tiny("vgg16", binarize_first_last=False)
    lines = []
    lq.models.summary(model, print_fn=lines.append)
    table = lines[0]
    assert re.search(r"#\s*1-bit", table) and re.search(r"#\s*32-bit", table)

    def bits(name):  # (1-bit count, 32-bit count) of a layer's row
        row = re.search(rf"^\|\s*{name}\s+\S+\s+\([^)]*\)\s+(\d+)\s+(\d+)", table, re.M)
        return int(row.group(1)), int(row.group(2))

    conv1, conv2, fc16 = (
        _count(model.get_layer(n).trainable_weights) for n in ("conv1", "conv2", "fc16")
    )
    assert bits("conv1") == (0, conv1)
    assert bits("conv2") == (conv2, 0)
    assert bits("fc16") == (0, fc16)
    # The profile behind the table, over every layer.
    for profile in lq.models.ModelProfile(model).layer_profiles:
        layer = model.get_layer(profile.name)
        binary = getattr(layer, "kernel_quantizer", None) is not None
        for weight in profile.weight_profiles:
            if weight.trainable:
                assert weight.bitwidth == (1 if binary else 32), profile.name


@pytest.mark.parametrize("network", sorted(TINY))
def test_forward_and_one_jit_train_step(network):
    model = _tiny(network)
    x = tf.random.normal((4, *TINY[network][2]))
    y = tf.constant([0, 1, 2, 3])
    logits = model(x, training=False)
    assert logits.shape == (4, 10) and np.all(np.isfinite(logits))

    optimizer = tf.keras.optimizers.Adam(1e-2)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=True)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss, grads

    before = [w.numpy() for w in model.trainable_weights]
    moving_before = [w.numpy() for w in model.non_trainable_weights]
    loss, grads = train_step(x, y)
    assert np.isfinite(loss.numpy())
    assert all(g is not None for g in grads)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert all(changed)
    assert any(
        not np.array_equal(b, w.numpy()) for b, w in zip(moving_before, model.non_trainable_weights)
    )


def test_outputs_are_logits_unless_an_output_activation_is_given():
    x = tf.random.normal((3, 6, 6))
    logits = _tiny("mlp")(x)
    assert not np.allclose(np.sum(logits, axis=-1), 1.0)
    probabilities = _tiny("mlp", output_activation="softmax")(x)
    np.testing.assert_allclose(np.sum(probabilities, axis=-1), 1.0, rtol=1e-5)
    no_bn = _tiny("mlp", output_batchnorm=False)
    assert "bn3" not in [layer.name for layer in no_bn.layers]


def test_quantizer_instance_is_copied_per_layer():
    model = _tiny("mlp", kernel_quantizer=AdaSTE(beta=0.02, variant="official"))
    quantizers = find_adaste_quantizers(model)
    assert len(quantizers) == 3 and len({id(q) for q in quantizers}) == 3
    assert {q.initial_beta for q in quantizers} == {0.02}
    assert {q.variant for q in quantizers} == {"official"}
    assert len({q.name for q in quantizers}) == 3  # distinct names for the scheduler's logs
    adaste_tf.RelaxationScheduler().set_model(model)


def test_seeded_initializer_gives_each_layer_its_own_signs():
    model = _tiny("mlp", hidden=(8, 8, 8), kernel_initializer=RandomSign(10.0, seed=3))
    fc2, fc3 = (model.get_layer(n).kernel.numpy() for n in ("fc2", "fc3"))
    assert set(np.unique(np.abs(fc2))) == {10.0}
    assert not np.array_equal(fc2, fc3)
    fp = _tiny("mlp", kernel_initializer=RandomSign(10.0), binarize_first_last=False)
    assert np.max(np.abs(fp.get_layer("fc1").kernel.numpy())) < 1.0  # Glorot, not +-10


def test_resnet_follows_the_official_stem_rule_and_pytorch_padding():
    assert models.resnet18((64, 64, 3), width=1 / 16).get_layer("conv1").strides == (2, 2)
    model = models.resnet18((32, 32, 3), width=1 / 16)
    assert model.get_layer("conv1").strides == (1, 1)
    # Strided 3x3 convs pad one pixel on every side, as PyTorch's padding=1.
    assert model.get_layer("layer2_0_conv1_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("layer2_0_conv1").padding == "valid"
    assert model.get_layer("layer4_1_act2").output.shape[1:3] == (4, 4)
    assert model.get_layer("linear").use_bias


def test_vgg_pools_before_batch_norm():
    names = [layer.name for layer in _tiny("vgg16").layers]
    assert names.index("conv2") < names.index("pool2") < names.index("bn2") < names.index("act2")


def test_adaste_skips_larqs_constraint_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="larq"):
        _tiny("mlp")
    assert "kernel_constraint" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="larq"):
        _tiny("mlp", kernel_quantizer="ste_sign")
    assert "kernel_constraint" in caplog.text


STARVED = "may result in starved weights"


def _starved_warnings(caplog, make) -> list[str]:
    """larq's constraint warnings logged while `make()` runs."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="larq"):
        make()
    return [r.getMessage() for r in caplog.records if STARVED in r.getMessage()]


@pytest.mark.parametrize(
    "quantizer", ["adaste", "AdaSTE", lambda: AdaSTE(beta=0.1)], ids=["name", "alias", "instance"]
)
def test_plain_larq_layers_with_adaste_do_not_warn(caplog, quantizer):
    # Outside adaste_tf.zoo.models too: `import adaste_tf` is enough.
    get = quantizer if callable(quantizer) else lambda: quantizer
    assert (
        _starved_warnings(
            caplog,
            lambda: (
                lq.layers.QuantDense(4, kernel_quantizer=get()),
                lq.layers.QuantConv2D(4, 3, kernel_quantizer=get()),
                lq.layers.QuantDepthwiseConv2D(3, depthwise_quantizer=get()),
            ),
        )
        == []
    )


def test_larqs_own_quantizers_still_warn(caplog):
    assert (
        len(
            _starved_warnings(
                caplog,
                lambda: (
                    lq.layers.QuantDense(4, kernel_quantizer="ste_sign"),
                    lq.layers.QuantConv2D(4, 3, kernel_quantizer="approx_sign"),
                ),
            )
        )
        == 2
    )


def test_only_the_adaste_kernel_of_a_layer_is_silenced(caplog):
    messages = _starved_warnings(
        caplog,
        lambda: lq.layers.QuantSeparableConv2D(
            4, 3, depthwise_quantizer="adaste", pointwise_quantizer="ste_sign"
        ),
    )
    assert len(messages) == 1 and "`pointwise_constraint`" in messages[0]


def test_load_model_with_adaste_does_not_warn(caplog, tmp_path):
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((4,)),
            lq.layers.QuantDense(4, kernel_quantizer="adaste", name="ada"),
            lq.layers.QuantDense(2, kernel_quantizer="ste_sign", name="ste"),
        ]
    )
    model.save(tmp_path / "m.keras")
    # The ste_sign layer keeps larq's warning; the AdaSTE one has none.
    assert (
        len(_starved_warnings(caplog, lambda: tf.keras.models.load_model(tmp_path / "m.keras")))
        == 1
    )


def test_constraint_filter_is_installed_once():
    from adaste_tf import _larq_warnings

    _larq_warnings.install()  # a second time: `import adaste_tf` already did
    filters = logging.getLogger(_larq_warnings.LOGGER).filters
    assert sum(isinstance(f, _larq_warnings.AdaSTEConstraintFilter) for f in filters) == 1


@pytest.mark.parametrize(
    "network, kwargs, error, parameter",
    [
        ("mlp", dict(num_classes=1), ValueError, "num_classes"),
        ("mlp", dict(num_classes=2.0), TypeError, "num_classes"),
        ("mlp", dict(hidden=()), ValueError, "hidden"),
        ("mlp", dict(hidden=(16, 0)), ValueError, "hidden[1]"),
        ("mlp", dict(hidden=16), ValueError, "hidden"),
        ("mlp", dict(input_shape=(0, 6)), ValueError, "input_shape"),
        ("mlp", dict(kernel_quantizer="no_such_quantizer"), ValueError, "kernel_quantizer"),
        ("mlp", dict(input_quantizer=3), ValueError, "input_quantizer"),
        ("mlp", dict(kernel_initializer="no_such_init"), ValueError, "kernel_initializer"),
        ("mlp", dict(kernel_constraint="no_such_clip"), ValueError, "kernel_constraint"),
        ("mlp", dict(activation="no_such_act"), ValueError, "activation"),
        ("mlp", dict(output_activation="no_such_act"), ValueError, "output_activation"),
        ("mlp", dict(binarize_first_last=1), TypeError, "binarize_first_last"),
        ("mlp", dict(output_batchnorm="yes"), TypeError, "output_batchnorm"),
        ("vgg16", dict(width=0.0), ValueError, "width"),
        ("vgg16", dict(width=float("nan")), ValueError, "width"),
        ("vgg16", dict(input_shape=(28, 28, 1)), ValueError, "input_shape"),
        ("vgg16", dict(input_shape=(32, 32)), ValueError, "input_shape"),
        ("resnet18", dict(width=-1.0), ValueError, "width"),
        ("resnet18", dict(stem_strides=0), ValueError, "stem_strides"),
        ("resnet18", dict(input_shape=(8, 8, 1, 1)), ValueError, "input_shape"),
    ],
)
def test_bad_arguments_name_the_parameter(network, kwargs, error, parameter):
    with pytest.raises(error, match=re.escape(f"`{parameter}`")):
        _tiny(network, **kwargs)
