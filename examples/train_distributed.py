"""Data-parallel AdaSTE training with tf.distribute.MirroredStrategy, on Fashion-MNIST.

    python examples/train_distributed.py                          # every local GPU (or the CPU)
    python examples/train_distributed.py --logical-cpus 2 --limit 4096 --epochs 2   # CPU demo

Each replica gets `--batch-size-per-replica` examples of every global batch. AdaSTE's backward
sums dy over the replicas before computing its scale (`AdaSTE(sync_replicas=True)`, the
default), so the weights follow the single-device trajectory up to float rounding;
`--no-sync` shows what happens without it (each replica scales its own share of the gradient).
BatchNorm statistics stay per replica, as with any Keras model under MirroredStrategy.

The model must be built and compiled inside `strategy.scope()`, so that its variables (beta
included) are mirrored. `--logical-cpus N` splits the CPU into N devices to try this without
GPUs; it must happen before TensorFlow initializes its devices, i.e. before any op runs.
jit_compile (`--jit`) fails under MirroredStrategy on logical CPUs in TF 2.21 for any Keras model
("Trying to access resource ... located in device CPU:1 from device CPU:0"), AdaSTE or not.
"""

import argparse
import time

import adaste_tf  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from adaste_tf import data
from adaste_tf.callbacks import RelaxationScheduler, find_adaste_quantizers
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import models

import tensorflow as tf


def split_cpu(count: int) -> list[str]:
    """Make `count` logical CPU devices; returns their names. Call before any op runs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )
    return [device.name for device in tf.config.list_logical_devices("CPU")]


class StepTimer(tf.keras.callbacks.Callback):
    """Median time per training step, after the first epoch's tracing."""

    def __init__(self):
        super().__init__()
        self.times, self._start = [], 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def median_ms(self) -> float:
        times = sorted(self.times[len(self.times) // 4 :] or self.times)
        return 1e3 * times[len(times) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--logical-cpus",
        type=int,
        default=0,
        help="split the CPU into this many devices and train on them",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size-per-replica", type=int, default=64)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512])
    parser.add_argument(
        "--limit", type=int, default=None, help="train on the first N training examples only"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="AdaSTE(sync_replicas=False): scale each replica's share of dy",
    )
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.logical_cpus < 0 or args.logical_cpus == 1:
        parser.error(
            f"--logical-cpus must be 0 (use the real devices) or >= 2, got {args.logical_cpus}"
        )

    devices = split_cpu(args.logical_cpus) if args.logical_cpus else None
    strategy = tf.distribute.MirroredStrategy(devices)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.batch_size_per_replica * replicas
    print(
        f"{replicas} replica(s) on {strategy.extended.worker_devices}, global batch {global_batch}"
    )

    tf.keras.utils.set_random_seed(args.seed)
    # The global batch; tf.distribute splits each one over the replicas. drop_remainder: a last
    # batch split unevenly is averaged per replica by Keras, so it would weigh its examples
    # differently from one device.
    train = data.make_dataset(
        "fashion_mnist",
        "train",
        global_batch,
        seed=args.seed,
        limit=args.limit,
        drop_remainder=True,
    )
    test = data.make_dataset("fashion_mnist", "test", 1024)

    with strategy.scope():  # variables created here are mirrored on every replica
        model = models.mlp(
            (28, 28),
            10,
            hidden=tuple(args.hidden),
            kernel_quantizer=AdaSTE(sync_replicas=not args.no_sync),
        )
        model.compile(
            tf.keras.optimizers.Adam(args.learning_rate),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=args.jit,
        )

    timer = StepTimer()
    model.fit(train, epochs=args.epochs, verbose=2, callbacks=[RelaxationScheduler(), timer])
    _, accuracy = model.evaluate(test, verbose=0)

    for quantizer in find_adaste_quantizers(model):
        per_replica = strategy.experimental_local_results(quantizer.beta_variable)
        print(
            f"beta of {quantizer.name} on each replica: "
            f"{', '.join(f'{float(v):.6g}' for v in per_replica)}"
        )
    print(f"test accuracy {accuracy:.4f}, {timer.median_ms():.1f} ms per step")
    return model, accuracy


if __name__ == "__main__":
    main()
