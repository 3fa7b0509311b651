"""A mixed-precision model with binary activations against its converted float32 file.

    python benchmarks/mixed_precision_export.py --out docs/results/mixed_precision_export.json

A larq tutorial conv net (three `QuantConv2D`, two `QuantDense`, `ste_sign` on inputs and
kernels) trained `--epochs` epochs on the first `--limit` Fashion-MNIST training images under
each of `--policies`, converted with `export.convert(engine="tflite")` (which converts its
float32 clone) and compared with Keras on `--test` test images. Also counts the activations
whose sign differs between the model and its float32 clone at the first binary layer's input,
and how close to zero they are. Writes JSON.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras)
from adaste_tf import data, export

import larq as lq
import numpy as np
import tensorflow as tf


def _model() -> tf.keras.Model:
    binary = dict(
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )
    bn = tf.keras.layers.BatchNormalization
    return tf.keras.Sequential(
        [
            tf.keras.Input((28, 28, 1)),
            lq.layers.QuantConv2D(
                32, 3, kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False
            ),
            tf.keras.layers.MaxPooling2D(2),
            bn(scale=False),
            lq.layers.QuantConv2D(64, 3, **binary),
            tf.keras.layers.MaxPooling2D(2),
            bn(scale=False),
            lq.layers.QuantConv2D(64, 3, **binary),
            bn(scale=False),
            tf.keras.layers.Flatten(),
            lq.layers.QuantDense(64, **binary),
            bn(scale=False),
            lq.layers.QuantDense(10, **binary),
            bn(scale=False),
            tf.keras.layers.Activation("softmax", dtype="float32"),
        ]
    )


def measure(policy: str, epochs: int, limit: int, test: int) -> dict:
    tf.keras.utils.set_random_seed(0)
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        x, y = data.load_arrays("fashion_mnist", "train")
        xt, _ = data.load_arrays("fashion_mnist", "test")
        x = (x[:limit, ..., None] / 127.5 - 1).astype(np.float32)
        xt = (xt[:test, ..., None] / 127.5 - 1).astype(np.float32)
        model = _model()
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y[:limit], batch_size=64, epochs=epochs, verbose=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flatbuffer = export.convert(model, engine="tflite")
        report = export.verify(model, flatbuffer, xt)
        # The first binary layer's input, in the model and in the float32 clone convert used.
        clone = export._float32_clone(model)
        probes = [tf.keras.Model(m.inputs, m.layers[2].output) for m in (model, clone)]
        mixed, full = (p.predict(xt, verbose=0).astype(np.float32) for p in probes)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    flipped = np.sign(mixed) != np.sign(full)
    return {
        "policy": policy,
        "max_abs_diff": float(report.max_abs_diff),
        "argmax_agreement": f"{round(report.argmax_agreement * test)}/{test}",
        "sign_flips_first_binary_input": float(flipped.mean()),
        "largest_flipped_abs": float(np.abs(full[flipped]).max()) if flipped.any() else 0.0,
        "convert_warned": any("binary activations" in str(w.message) for w in caught),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["mixed_bfloat16", "mixed_float16"],
        help="Keras mixed-precision policies to train under",
    )
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--limit", type=int, default=6000, help="training images")
    parser.add_argument("--test", type=int, default=500, help="test images compared")
    parser.add_argument(
        "--out", default="docs/results/mixed_precision_export.json", help="JSON output"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    records = [measure(p, args.epochs, args.limit, args.test) for p in args.policies]
    for record in records:
        print(json.dumps(record))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"args": vars(args), "records": records, "wall_seconds": time.perf_counter() - start},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
