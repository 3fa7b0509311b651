"""Time per training step, AdaSTE against larq's ste_sign, jit on and off, interleaved.

    python benchmarks/step_time.py --model mlp --steps 200 --repeats 7 \
        --out benchmarks/results/step_time.json

Both networks are built by `adaste_tf.zoo.models` with no kernel constraint, so only the estimator
differs. Rounds alternate between the configurations in one process (so drifts in machine
load hit all of them alike); the first fit of each configuration (tracing, XLA compilation) is
not timed. Prints the median step time of each configuration, the ratio AdaSTE / ste_sign,
and the number of times each train function was traced over all its fits.
"""

import argparse
import json
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (selects legacy Keras first)
import numpy as np
import tensorflow as tf
from adaste_tf import callbacks
from adaste_tf.zoo import models

ESTIMATORS = ("adaste", "ste_sign")


def build(model_name: str, estimator: str, jit: bool, width: float) -> tf.keras.Model:
    if model_name == "mlp":
        model = models.mlp((28, 28), 10, hidden=(512,), kernel_quantizer=estimator)
    else:
        model = models.vgg16((32, 32, 1), 10, kernel_quantizer=estimator, width=width)
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("mlp", "vgg16"), default="mlp")
    parser.add_argument("--width", type=float, default=0.25, help="vgg16 channel multiplier")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed fit")
    parser.add_argument("--repeats", type=int, default=7, help="timed fits per configuration")
    parser.add_argument("--out", default="benchmarks/results/step_time.json")
    args = parser.parse_args()

    shape = (28, 28) if args.model == "mlp" else (32, 32, 1)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size * 8, *shape), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache().repeat()

    configs = [(e, jit) for jit in (True, False) for e in ESTIMATORS]
    runs = {}
    for estimator, jit in configs:
        model = build(args.model, estimator, jit, args.width)
        extra = [callbacks.RelaxationScheduler()] if estimator == "adaste" else []
        model.fit(data, epochs=1, steps_per_epoch=10, verbose=0, callbacks=extra)  # warm-up
        runs[(estimator, jit)] = (model, extra, [])
    for _ in range(args.repeats):
        for key, (model, extra, times) in runs.items():
            start = time.perf_counter()
            model.fit(data, epochs=2, steps_per_epoch=args.steps // 2, verbose=0,
                      callbacks=extra)
            times.append((time.perf_counter() - start) / args.steps)

    report = {"args": vars(args), "configs": {}}
    for (estimator, jit), (model, _, times) in runs.items():
        name = f"{estimator} jit={'on' if jit else 'off'}"
        report["configs"][name] = {
            "median_step_ms": 1e3 * float(np.median(times)),
            "step_ms": [1e3 * t for t in times],
            "traces": int(model.train_function.experimental_get_tracing_count()),
        }
    for jit in ("on", "off"):
        ratio = (report["configs"][f"adaste jit={jit}"]["median_step_ms"]
                 / report["configs"][f"ste_sign jit={jit}"]["median_step_ms"])
        report[f"ratio_jit_{jit}"] = ratio
    for name, r in report["configs"].items():
        print(f"{name:<20} median {r['median_step_ms']:.3f} ms/step   traces {r['traces']}")
    print(f"AdaSTE / ste_sign: jit on {report['ratio_jit_on']:.3f}, "
          f"jit off {report['ratio_jit_off']:.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
