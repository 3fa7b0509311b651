"""Convert a trained Keras/Larq model to a .tflite file and show what you deploy.

    python examples/convert.py MODEL.keras -o MODEL.tflite --engine lce --int8-weights --verify 1000

Prints the converted model's op table (which ops are binary), the sizes (Keras latent float32
weights, the converted file, the compression ratio) and a parity check: the converted model and
Keras run on the same N inputs, Fashion-MNIST test images (pixels / 255) when the model takes
28x28 inputs and the data is on this machine, random inputs otherwise. Exits with status 1 if any
predicted class (argmax) differs. No custom_object_scope is needed: `import adaste_tf` registers
its objects, larq registers its own.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adaste_tf  # noqa: E402,F401  (first: selects legacy Keras and registers AdaSTE)
from adaste_tf import export  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", type=Path, help="a saved Keras model (.keras, .h5 or a SavedModel directory)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .tflite to write")
    parser.add_argument(
        "--engine",
        choices=export.ENGINES,
        default="lce",
        help="lce: Larq Compute Engine (binary convolutions become LceBconv2d); "
        "tflite: the stock TFLite converter (all float)",
    )
    parser.add_argument(
        "--int8-weights",
        action="store_true",
        help="store +-1 weights in int8 (exact, about 4x smaller for binary-weight networks)",
    )
    parser.add_argument(
        "--verify",
        type=int,
        default=1000,
        metavar="N",
        help="compare with Keras on N inputs (0: skip; default 1000)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=FASHION_MNIST_DIR,
        help="Fashion-MNIST IDX files, for the parity inputs",
    )
    args = parser.parse_args(argv)
    if args.verify < 0:
        parser.error(f"--verify must be >= 0, got {args.verify}")
    if not args.model.exists():
        parser.error(f"model not found: {args.model}")
    return args


def parity_inputs(model: tf.keras.Model, n: int, data_dir: Path):
    """`n` inputs for the model, and where they came from: real images when they fit."""
    shape = tuple(model.input_shape[1:])
    if None not in shape and int(np.prod(shape)) == 28 * 28:
        images = _fashion_mnist_test(data_dir)
        if images is not None:
            return (images[:n].astype(np.float32) / 255.0).reshape(
                (-1, *shape)
            ), f"Fashion-MNIST test images ({data_dir})"
    rng = np.random.default_rng(0)
    return rng.random((n, *shape), dtype=np.float32), "random inputs in [0, 1)"


def _fashion_mnist_test(data_dir: Path):
    try:  # adaste_tf.data parses and checks the IDX files; keep a reader for older trees
        from adaste_tf.data import load_arrays

        return load_arrays("fashion_mnist", "test", data_dir=data_dir)[0]
    except ImportError:
        path = data_dir / "t10k-images-idx3-ubyte.gz"
        if not path.is_file():
            return None
        raw = gzip.decompress(path.read_bytes())
        return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    except (OSError, ValueError):  # no data here: fall back to random inputs
        return None


def latent_bytes(model: tf.keras.Model) -> int:
    """Bytes of the Keras weights as stored for training (latent float32 weights, BN stats)."""
    return sum(int(np.prod(w.shape)) * w.dtype.size for w in model.weights)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = tf.keras.models.load_model(args.model, compile=False)
    flatbuffer = export.convert(model, args.engine)
    written = export.to_int8_weights(flatbuffer) if args.int8_weights else flatbuffer
    args.output.write_bytes(written)

    print(
        f"{args.model} -> {args.output} (engine {args.engine}"
        f"{', int8 weights' if args.int8_weights else ''})\n"
    )
    print(export.inspect(written).table())

    keras_size = latent_bytes(model)
    rows = [
        ("Keras weights (float32 latent)", keras_size, False),
        (f"{args.engine} flatbuffer, float32 weights", len(flatbuffer), not args.int8_weights),
    ]
    if args.int8_weights:
        rows.append((f"{args.engine} flatbuffer, int8 weights", len(written), True))
    print("\nsize")
    for label, size, is_written in rows:
        ratio = f"{keras_size / size:5.2f}x compression" if size != keras_size else ""
        print(f"  {label:<38} {size:>12,} B  {ratio}{'  <- written' if is_written else ''}")
    binary = export.binary_weights(model)
    if binary:
        count = sum(w.values.size for w in binary.values())
        packed = sum(len(w.packed) for w in binary.values())
        print(
            f"  ({len(binary)} binary kernel(s), {count:,} weights: {packed:,} B bit-packed; "
            f"export.binary_weights(model) returns them)"
        )

    if args.verify == 0:
        return 0
    inputs, source = parity_inputs(model, args.verify, args.data_dir)
    report = export.verify(model, written, inputs, interpreter=args.engine)
    print(f"\nparity on {len(inputs)} {source}\n  {report}")
    if report.argmax_mismatches:
        print(f"  FAIL: {report.argmax_mismatches} predicted classes differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
