"""The larq-style networks (`adaste_tf.zoo.larq_nets`) and their training (`larq_training`, the
CLI's `larq` recipe): what larq users' networks have, every method set up as the evidence runs
it, and AdaSTE's trained network converted by LCE to binary convolutions with Keras's
predictions."""

from __future__ import annotations

from adaste_tf import export, tflite_file
from adaste_tf.optimizers import AdaSTEMomentum, is_adaste_variable
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import larq_nets, larq_training, train

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


@pytest.mark.parametrize("network", larq_nets.NETWORKS)
def test_what_a_larq_users_network_has(network):
    builder = getattr(larq_nets, network)
    model = builder(kernel_quantizer="adaste", input_quantizer="ste_sign", width=0.25)
    binary = [
        layer
        for layer in model.layers
        if isinstance(layer, lq.layers.QuantConv2D) and layer.kernel_quantizer is not None
    ]
    assert len(binary) == 6
    assert all(isinstance(layer.kernel_quantizer, AdaSTE) for layer in binary)
    assert all(type(layer.input_quantizer).__name__ == "SteSign" for layer in binary)
    # a real stem and head, BatchNorm with scale and center, a shortcut around each binary conv
    assert model.get_layer("stem_conv").kernel_quantizer is None
    assert model.get_layer("head_dense").kernel_quantizer is None
    norms = [
        layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)
    ]
    assert norms and all(n.scale and n.center for n in norms)
    assert sum(isinstance(layer, tf.keras.layers.Add) for layer in model.layers) == 6
    plain = builder(width=0.25, batchnorm_affine=False, binarize_first_last=True)
    assert plain.get_layer("stem_conv").kernel_quantizer is not None
    assert not any(
        n.scale or n.center
        for n in plain.layers
        if isinstance(n, tf.keras.layers.BatchNormalization)
    )


@pytest.mark.parametrize(
    "bad", [dict(sections=()), dict(blocks=0), dict(width=0.0), dict(batchnorm_affine="yes")]
)
def test_bad_arguments_name_the_parameter(bad):
    name = next(iter(bad))
    with pytest.raises((TypeError, ValueError), match=f"`{name}`"):
        larq_nets.quicknet(**bad)


def test_each_method_is_set_up_as_the_evidence_runs_it():
    def optimizer_of(spec):
        model = larq_training.build(
            "quicknet", larq_training.parse_method(spec), "binary", width=0.25
        )
        larq_training.compile_for(
            model, larq_training.parse_method(spec), total_steps=10, train_size=1000
        )
        return model, model.optimizer

    model, case = optimizer_of("adaste")
    kernels = [v for v in model.trainable_variables if is_adaste_variable(v)]
    assert len(kernels) == 6 and isinstance(case.pred_opt_pairs[0][1], AdaSTEMomentum)
    assert case.pred_opt_pairs[0][1].gradient_scale == pytest.approx(10_000.0**2)
    assert np.all(np.abs(kernels[0].numpy()) == 10.0)  # latent weights at +-10
    _, bop = optimizer_of("bop")
    assert isinstance(bop.pred_opt_pairs[0][1], lq.optimizers.Bop)
    _, adam = optimizer_of("ste_sign")
    assert isinstance(adam, tf.keras.optimizers.legacy.Adam)
    with pytest.raises(ValueError, match="has no option 'lr_kernel'"):
        larq_training.parse_method("adaste:lr_kernel=1")


@pytest.mark.slow
@pytest.mark.parametrize("network", larq_nets.NETWORKS)
def test_trained_adaste_network_converts_to_binary_convolutions(network, tmp_path):
    """AdaSTE with its optimizer, briefly trained on random data (the weights are what matters),
    converted by LCE: six binary convolutions, and the interpreter predicts what Keras does."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 28, 28, 1), np.float32)
    y = rng.integers(0, 10, 256)
    _, model = larq_training.run(
        network,
        larq_training.parse_method("adaste"),
        "binary",
        ((x, y), (x[:64], y[:64])),
        epochs=2,
        batch_size=64,
        width=0.25,
    )
    flatbuffer = export.convert(model, engine="lce")
    assert tflite_file.inspect(flatbuffer).op_counts.get("LceBconv2d") == 6
    report = export.verify(model, flatbuffer, x[:64])
    assert report.argmax_agreement == 1.0 and report.max_abs_diff < 1e-3


@pytest.mark.slow
def test_cli_trains_a_larq_style_network_with_the_larq_recipe(tmp_path):
    record = train.main(
        [
            "--model",
            "quicknet",
            "--width",
            "0.25",
            "--recipe",
            "larq",
            "--binary-activations",
            "--epochs",
            "2",
            "--limit",
            "1024",
            "--batch-size",
            "32",
            "--out",
            str(tmp_path),
            "--verbose",
            "0",
        ]
    )
    assert record["model"] == "quicknet" and record["recipe"]["optimizer"] == "case"
    assert record["history"]["beta"][-1] == pytest.approx(100.0)
    assert record["test_accuracy"] > 0.3  # learns: chance is 0.1
    loaded = tf.keras.models.load_model(tmp_path / "final.keras")
    assert isinstance(loaded.get_layer("section1_block1_binary").kernel_quantizer, AdaSTE)
