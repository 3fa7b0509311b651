"""adaste_tf.export: conversion with both engines, op inventory, parity, int8 weights, errors."""

import subprocess
import sys
import warnings
from pathlib import Path

from adaste_tf import export
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

from conftest import PyFunctionLayer, SubclassedNet, tiny_model

ROOT = Path(__file__).resolve().parents[1]
N_PARITY = 1000
ENGINES = ("lce", "tflite")
MODELS = ("mlp", "mlp_binary", "conv", "conv_binary")


def _binary_kwargs(binary_inputs: bool) -> dict:
    kwargs = dict(kernel_quantizer="adaste", kernel_constraint=None, use_bias=False)
    if binary_inputs:
        kwargs["input_quantizer"] = "ste_sign"
    return kwargs


def _bn() -> tf.keras.layers.Layer:
    # A low momentum lets a few training steps set the moving statistics, so inference outputs
    # are O(1)-O(10) as in a trained model, not O(100) (float32 rounding scales with them).
    return tf.keras.layers.BatchNormalization(momentum=0.5)


def build(name: str) -> tf.keras.Model:
    """The issue's MLP and a small conv net; `*_binary`: binary activations into later layers."""
    binary = name.endswith("_binary")
    if name.startswith("mlp"):
        return tf.keras.Sequential(
            [
                tf.keras.layers.Flatten(input_shape=(28, 28)),
                lq.layers.QuantDense(64, **_binary_kwargs(False), name="hidden"),
                _bn(),
                tf.keras.layers.ReLU(),
                lq.layers.QuantDense(10, **_binary_kwargs(binary), name="logits"),
            ],
            name=name,
        )
    extra = dict(pad_values=1.0) if binary else {}
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((28, 28, 1)),
            lq.layers.QuantConv2D(
                16, 3, strides=2, padding="same", **_binary_kwargs(False), name="conv1"
            ),
            _bn(),
            lq.layers.QuantConv2D(
                32, 3, padding="same", **_binary_kwargs(binary), **extra, name="conv2"
            ),
            _bn(),
            tf.keras.layers.GlobalAveragePooling2D(),
            lq.layers.QuantDense(10, **_binary_kwargs(False), name="logits"),
        ],
        name=name,
    )


def train(model: tf.keras.Model, steps: int = 8) -> tf.keras.Model:
    rng = np.random.default_rng(1)
    x = rng.random((steps * 32, *model.input_shape[1:]), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model.compile(
        tf.keras.optimizers.Adam(1e-2),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def images(model: tf.keras.Model, n: int = N_PARITY) -> np.ndarray:
    return np.random.default_rng(2).random((n, *model.input_shape[1:]), dtype=np.float32)


class Zoo:
    """Trained models and their conversions, built once per module on first use."""

    def __init__(self):
        self._models, self._flatbuffers = {}, {}

    def model(self, name: str) -> tf.keras.Model:
        if name not in self._models:
            tf.keras.utils.set_random_seed(MODELS.index(name))  # the same weights in any test order
            self._models[name] = train(build(name))
        return self._models[name]

    def flatbuffer(self, name: str, engine: str) -> bytes:
        if (name, engine) not in self._flatbuffers:
            self._flatbuffers[name, engine] = export.convert(self.model(name), engine)
        return self._flatbuffers[name, engine]


@pytest.fixture(scope="module")
def zoo():
    return Zoo()


@pytest.fixture
def float32_policy_after():
    """Tests that switch to mixed precision get float32 back whatever happens."""
    yield
    tf.keras.mixed_precision.set_global_policy("float32")


# --- op inventory ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", MODELS)
def test_op_inventory(zoo, name, engine):
    summary = export.inspect(zoo.flatbuffer(name, engine))
    counts = summary.op_counts
    assert summary.size_bytes == len(zoo.flatbuffer(name, engine))
    assert not [op for op in summary.ops if op.custom and not op.name.startswith("Lce")]
    if engine == "tflite":
        assert not [op for op in summary.ops if op.name.startswith("Lce")]
    if name.startswith("mlp"):
        # LCE has no binary dense kernel: a dense layer stays FULLY_CONNECTED in both engines.
        assert counts["FULLY_CONNECTED"] == 2 and summary.binary_ops == 0
    elif name == "conv_binary" and engine == "lce":
        # conv2 has binary inputs and weights; conv1 sees real pixels and stays float.
        assert counts["LceBconv2d"] == 1 and counts["CONV_2D"] == 1
        assert summary.binary_ops == 1
        # conv2's 4,608 weights are bitpacked (INT32), not 18,432 bytes of float32.
        assert summary.constant_bytes["FLOAT32"] < 32 * 3 * 3 * 16 * 4
    else:
        assert counts["CONV_2D"] == 2 and summary.binary_ops == 0
    # The table marks exactly the binary ops: one line, in the one model and engine that has one.
    marked = [line.split()[0] for line in summary.table().splitlines() if "<- binary" in line]
    assert marked == (["LceBconv2d"] if (name, engine) == ("conv_binary", "lce") else [])


def test_inspect_accepts_a_path(zoo, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(zoo.flatbuffer("conv_binary", "lce"))
    assert export.inspect(path).op_counts == export.inspect(path.read_bytes()).op_counts


# --- parity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", MODELS)
def test_float_parity(zoo, name, engine):
    model = zoo.model(name)
    report = export.verify(model, zoo.flatbuffer(name, engine), images(model), interpreter=engine)
    assert report.n == N_PARITY
    assert report.argmax_agreement == 1.0, report
    assert report.max_abs_diff <= 1e-4, report
    assert report.ok()


@pytest.mark.parametrize("engine", ENGINES)
def test_verify_detects_a_file_of_another_model(zoo, engine):
    # The same architecture, other weights (untrained): verify must report the mismatch.
    model = zoo.model("mlp")
    tf.keras.utils.set_random_seed(99)
    other = build("mlp")
    report = export.verify(
        other, zoo.flatbuffer("mlp", engine), images(model, 200), interpreter=engine
    )
    assert not report.ok(), report
    assert report.argmax_mismatches > 0 and report.max_abs_diff > 0.1, report
    assert f"argmax agrees on {200 - report.argmax_mismatches}/200" in str(report)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", MODELS)
def test_int8_weights_are_exact(zoo, name, engine):
    model, flatbuffer = zoo.model(name), zoo.flatbuffer(name, engine)
    small = export.to_int8_weights(flatbuffer)
    x = images(model)
    # The rewrite restores the very same float32 weights: outputs are bit-identical.
    np.testing.assert_array_equal(Interpreter(small).predict(x), Interpreter(flatbuffer).predict(x))
    report = export.verify(model, small, x, interpreter=engine)
    assert report.argmax_agreement == 1.0 and report.max_abs_diff <= 1e-4, report
    summary = export.inspect(small)
    assert summary.op_counts["DEQUANTIZE"] >= 1
    assert len(small) < len(flatbuffer)


@pytest.mark.parametrize("engine", ENGINES)
def test_int8_weights_make_the_mlp_4x_smaller(zoo, engine):
    flatbuffer = zoo.flatbuffer("mlp", engine)
    small = export.to_int8_weights(flatbuffer)
    assert len(flatbuffer) / len(small) >= 3.5
    summary = export.inspect(small)
    # Both kernels moved to int8 (the first one as +-scale per channel: BN is folded into it).
    assert summary.op_counts["DEQUANTIZE"] == 2
    assert summary.constant_bytes["INT8"] == (28 * 28 * 64 + 64 * 10)
    assert summary.constant_bytes.get("FLOAT32", 0) < 2000  # biases and scales only


@pytest.mark.parametrize("name, engine", [("mlp", "tflite"), ("conv_binary", "lce")])
def test_int8_weights_start_every_buffer_on_16_bytes(zoo, name, engine):
    # As TFLite's own writer does: kernels read float and bitpacked int32 weights in place.
    small = export.to_int8_weights(zoo.flatbuffer(name, engine))
    start = np.frombuffer(small, np.uint8).__array_interface__["data"][0]
    flat = schema.Model.GetRootAs(small, 0)
    offsets = [
        flat.Buffers(i).DataAsNumpy().__array_interface__["data"][0] - start
        for i in range(flat.BuffersLength())
        if flat.Buffers(i).DataLength()
    ]
    assert offsets and [offset % 16 for offset in offsets] == [0] * len(offsets)


def test_convert_int8_weights_flag(zoo):
    model = zoo.model("mlp")
    small = export.convert(model, "tflite", int8_weights=True)
    assert (
        export.inspect(small).op_counts
        == export.inspect(export.to_int8_weights(zoo.flatbuffer("mlp", "tflite"))).op_counts
    )


def test_int8_weights_leave_other_weights_alone():
    # A plain Dense kernel is not +-scale: it must stay float32.
    model = tf.keras.Sequential([tf.keras.layers.Dense(8, input_shape=(16,))])
    flatbuffer = export.convert(model, "tflite")
    assert export.to_int8_weights(flatbuffer) == flatbuffer


# --- binary weights --------------------------------------------------------------------------


def test_binary_weights_are_signs_of_latent_weights(zoo):
    model = train(build("conv"), steps=2)
    conv1 = model.get_layer("conv1")
    latent = conv1.kernel.latent_variable
    latent.assign(tf.tensor_scatter_nd_update(latent, [[0, 0, 0, 0]], [0.0]))  # sign(0) = +1

    weights = export.binary_weights(model)
    assert list(weights) == ["conv1/kernel", "conv2/kernel", "logits/kernel"]
    for weight in weights.values():
        layer = model.get_layer(weight.layer)
        expected = np.where(layer.kernel.latent_variable.numpy() >= 0, 1, -1)
        assert weight.values.dtype == np.int8 and weight.scale is None
        assert set(np.unique(weight.values)) <= {-1, 1}
        np.testing.assert_array_equal(weight.values, expected)
        assert weight.shape == tuple(layer.kernel.shape)
        assert len(weight.packed) == -(-weight.values.size // 8)
        np.testing.assert_array_equal(weight.unpack(), weight.values)
    assert weights["conv1/kernel"].values[0, 0, 0, 0] == 1


def test_binary_weights_are_what_the_flatbuffer_holds(zoo):
    # The logits kernel is followed by no BatchNormalization, so the converter stores it as is:
    # FULLY_CONNECTED's weights are (out, in), Keras's (in, out).
    model = zoo.model("mlp")
    deployed = export.binary_weights(model)["logits/kernel"].values
    flat = schema.Model.GetRootAs(zoo.flatbuffer("mlp", "tflite"), 0)
    graph, kernels = flat.Subgraphs(0), []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        tensor = graph.Tensors(op.Inputs(1)) if op.InputsLength() > 1 else None
        if tensor is not None and tuple(tensor.ShapeAsNumpy()) == (10, 64):
            kernels.append(flat.Buffers(tensor.Buffer()).DataAsNumpy().view("<f4"))
    assert len(kernels) == 1
    np.testing.assert_array_equal(kernels[0].reshape(10, 64), deployed.T)


def test_binary_weights_skip_real_layers():
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Dense(4, input_shape=(3,)),
            lq.layers.QuantDense(2, kernel_quantizer="adaste"),
        ]
    )
    assert list(export.binary_weights(model)) == [f"{model.layers[1].name}/kernel"]


def test_binary_weights_of_a_loaded_model(tmp_path):
    # Loaded from a .keras file, every kernel variable is named "kernel:0": keys must not clash.
    build("mlp").save(tmp_path / "mlp.keras")
    loaded = tf.keras.models.load_model(tmp_path / "mlp.keras")
    assert list(export.binary_weights(loaded)) == ["hidden/kernel", "logits/kernel"]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_unconvertible_layer_is_named(engine):
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8,)),
            lq.layers.QuantDense(8, kernel_quantizer="adaste", name="binary"),
            PyFunctionLayer(name="python_side"),
            tf.keras.layers.Dense(2, name="head"),
        ]
    )
    with pytest.raises(export.ConversionError, match="'python_side'") as caught:
        export.convert(model, engine)
    assert caught.value.layers == ("python_side",)
    assert caught.value.ops == ("EagerPyFunc",)
    assert "EagerPyFunc" in str(caught.value)


class ArithmeticSign(lq.quantizers.Quantizer):
    """A 1-bit quantizer whose sign LCE does not recognize (arithmetic, not larq's pattern)."""

    precision = 1

    def call(self, x):
        return 2.0 * tf.cast(x >= 0, x.dtype) - 1.0


def _conv_with_arithmetic_sign_inputs() -> tf.keras.Model:
    # "second" and "third" have the same shape: only "second" must be reported.
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8, 8, 1)),
            lq.layers.QuantConv2D(4, 3, padding="same", **_binary_kwargs(False), name="first"),
            lq.layers.QuantConv2D(
                4,
                3,
                padding="same",
                input_quantizer=ArithmeticSign(),
                pad_values=1.0,
                kernel_quantizer="adaste",
                kernel_constraint=None,
                use_bias=False,
                name="second",
            ),
            lq.layers.QuantConv2D(
                4, 3, padding="same", pad_values=1.0, **_binary_kwargs(True), name="third"
            ),
        ]
    )


def test_adaste_as_input_quantizer_becomes_a_binary_convolution():
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8, 8, 1)),
            lq.layers.QuantConv2D(4, 3, padding="same", **_binary_kwargs(False), name="first"),
            lq.layers.QuantConv2D(
                4,
                3,
                padding="same",
                input_quantizer=AdaSTE(sync_replicas=False),
                pad_values=1.0,
                kernel_quantizer="adaste",
                use_bias=False,
                name="second",
            ),
        ]
    )
    assert export.inspect(export.convert(model, "lce")).op_counts["LceBconv2d"] == 1


def test_lce_fallback_to_float_conv_is_an_error():
    # Binary inputs and weights, but LCE does not recognize this quantizer's sign as an
    # activation quantizer: the conv stays float. That fallback is an error naming the layer...
    model = _conv_with_arithmetic_sign_inputs()
    with pytest.raises(export.ConversionError, match="'second'") as caught:
        export.convert(model, "lce")
    assert caught.value.layers == ("second",)
    assert "1 of the 2" in str(caught.value) and "strict=False" in str(caught.value)
    # The arithmetic sign as float ops, then a float convolution.
    assert "'second' became" in str(caught.value) and "CONV_2D" in str(caught.value)
    # ... unless the user accepts it.
    with pytest.warns(UserWarning, match="'second'"):
        flatbuffer = export.convert(model, "lce", strict=False)
    assert export.inspect(flatbuffer).op_counts["LceBconv2d"] == 1  # "third"


def test_subclassed_model_built_with_build_converts_after_the_fix():
    # The error message itself is checked by the bad-input catalogue (test_bad_inputs.py).
    model = SubclassedNet()
    model.build((None, 8))  # weights, but no input signature for the SavedModel
    with pytest.raises(export.ConversionError, match=r"`model\(tf\.zeros\(\(1, 8\)\)\)`"):
        export.convert(model, "tflite")
    model(tf.zeros((1, 8)))  # the fix the message gives
    assert export.inspect(export.convert(model, "tflite")).op_counts["FULLY_CONNECTED"] == 1


# More bad inputs, with their full messages, are in test_bad_inputs.py's catalogue.
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m: export.convert(m, int8_weights=1), TypeError, r"`int8_weights` must be True"),
        (lambda m: export.inspect(b"not a flatbuffer"), ValueError, r"`flatbuffer` must be"),
        (
            lambda m: export.verify(m, export.convert(m, "tflite"), np.zeros((4, 28, 28))),
            ValueError,
            r"`inputs` must be a non-empty batch of shape \(n, 8\)",
        ),
        (
            lambda m: export.verify(
                m, export.convert(m, "tflite"), np.zeros((4, 8)), interpreter="tf"
            ),
            ValueError,
            r"`interpreter` must be one of",
        ),
    ],
)
def test_argument_errors(call, error, match):
    model = tiny_model(features=8)
    with pytest.raises(error, match=match):
        call(model)


# --- mixed precision -------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_mixed_precision_model_converts_as_float32(engine, float32_policy_after):
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    model = train(build("mlp"), steps=2)
    assert model.layers[1].compute_dtype == "float16"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flatbuffer = export.convert(model, engine)
    assert not [w for w in caught if "binary activations" in str(w.message)]  # real activations
    assert tf.keras.mixed_precision.global_policy().name == "mixed_float16"  # left as it was
    summary = export.inspect(flatbuffer)
    assert summary.op_counts["FULLY_CONNECTED"] == 2
    assert "FLOAT16" not in summary.constant_bytes  # the float32 clone was converted
    # Keras computes in float16 here, the file in float32: close, not identical.
    report = export.verify(model, flatbuffer, images(model, 200), interpreter=engine)
    assert report.max_rel_diff < 1e-2 and report.argmax_agreement >= 0.97, report


def _mixed_precision_model() -> tf.keras.Model:
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    model = tiny_model(units=3)
    tf.keras.mixed_precision.set_global_policy("float32")
    return model


def test_an_error_inside_a_larq_layer_leaves_larqs_scope_and_export_as_they_were(
    float32_policy_after,
):
    """Issue 32: a quantizer class for an instance failed inside larq's `quantized_scope(True)`,
    which larq's own scope then left on: every later model's `get_weights()` gave +-1 and
    converting a mixed-precision model failed in the quantizer's gradient."""
    with pytest.raises(TypeError, match=r"Write `kernel_quantizer=AdaSTE\(\)`"):
        tiny_model(quantizer=AdaSTE)
    assert lq.context.should_quantize() is False
    later = tiny_model()
    kernel = later.get_weights()[0]
    assert not np.all(np.abs(kernel) == 1.0), kernel  # the latent weights, not their signs
    summary = export.inspect(export.convert(_mixed_precision_model(), engine="tflite"))
    assert summary.op_counts["FULLY_CONNECTED"] == 1


def test_convert_and_verify_do_not_depend_on_the_callers_quantized_scope(float32_policy_after):
    """Export reads latent weights (the float32 clone copies them) whatever larq's scope says."""
    model = _mixed_precision_model()
    x = np.random.default_rng(0).random((8, 4), np.float32)
    with lq.context.quantized_scope(True):
        flatbuffer = export.convert(model, engine="tflite")
        report = export.verify(model, flatbuffer, x)
        assert lq.context.should_quantize() is True  # the caller's scope, as it was
    assert report.argmax_agreement == 1.0, report


def test_mixed_precision_nested_model_is_all_float32(float32_policy_after):
    # A nested model's InputLayer gets the dtype "float16" (not a policy): it must go too, or
    # the file keeps CAST ops to float16.
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    inputs = tf.keras.Input((12, 12, 1))
    inner = tf.keras.Sequential(
        [
            lq.layers.QuantConv2D(8, 3, **_binary_kwargs(True), name="binary_conv"),
            tf.keras.layers.BatchNormalization(name="inner_bn"),
        ],
        name="inner",
    )
    x = lq.layers.QuantConv2D(8, 3, **_binary_kwargs(False), name="real_conv")(inputs)
    x = inner(tf.keras.layers.BatchNormalization()(x))
    x = lq.layers.QuantDense(10, **_binary_kwargs(False), name="logits")(
        tf.keras.layers.Flatten()(x)
    )
    model = tf.keras.Model(inputs, tf.keras.layers.Activation("linear", dtype="float32")(x))

    # Binary activations: the float32 file's signs can differ near zero (docs/deployment.md).
    with pytest.warns(
        UserWarning,
        match=r"computes in mixed_float16 and has binary activations "
        r"\(input_quantizer of 'binary_conv'\).*492/500",
    ):
        flatbuffer = export.convert(model, "lce")
    counts = export.inspect(flatbuffer).op_counts
    assert "CAST" not in counts and counts["LceBconv2d"] == 1
    assert list(export.binary_weights(model)) == [
        "real_conv/kernel",
        "inner/binary_conv/kernel",
        "logits/kernel",
    ]


# --- command line ----------------------------------------------------------------------------


@pytest.mark.slow
def test_cli(tmp_path):
    model = train(build("conv_binary"), steps=2)
    model.save(tmp_path / "model.keras")
    output = tmp_path / "model.tflite"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "convert.py"),
            str(tmp_path / "model.keras"),
            "-o",
            str(output),
            "--engine",
            "lce",
            "--int8-weights",
            "--verify",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.exists()
    assert export.inspect(output).op_counts["LceBconv2d"] == 1
    for expected in ("LceBconv2d", "Keras weights", "compression", "argmax agrees on 100/100"):
        assert expected in result.stdout, result.stdout
