"""tf.distribute: data-parallel AdaSTE training gives the single-device result.

AdaSTE's scale is nonlinear in the gradient (its sign; its size in the official variant), so a
replica that scaled its share of the gradient before the all-reduce would not reproduce the
single-device step. The quantizer all-reduces dy inside its backward (`sync_replicas=True`);
these tests check that, with it, MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy
(2 processes on 127.0.0.1) match one device within 1e-5 after three epochs, that beta is the same
on every replica, and that without it the result differs.

Logical devices must be configured before TensorFlow initializes its devices, and a multi-worker
strategy before any op runs, but pytest's process already did both. So this file is also the
script that runs in the subprocesses:

    python tests/test_distribute.py mirrored OUT.npz          # reference + Mirrored runs
    python tests/test_distribute.py worker I PORT0,PORT1 OUT.npz   # one multi-worker process
    python tests/test_distribute.py bench [--steps N]     # step time with and without sync
    python tests/test_distribute.py optimizers            # the comparison under three optimizers
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras before TensorFlow)
from adaste_tf.callbacks import RelaxationScheduler, find_adaste_quantizers
from adaste_tf.optimizers import AdaSTEMomentum
from adaste_tf.quantizers import AdaSTE, adaste_sign

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

VARIANTS = ("bounded", "paper", "official")
N, FEATURES, CLASSES = 128, 20, 4
GLOBAL_BATCH, EPOCHS = 32, 3  # 4 steps per epoch, 16 examples per replica
RAGGED_N = 99  # last global batch of 3 examples: split 2 + 1 over the replicas
TOLERANCE = 1e-5
OPTIMIZERS = {  # the tests use "momentum"; `optimizers_main` compares all three
    "SGD 0.05": lambda: tf.keras.optimizers.SGD(0.05),
    "momentum": lambda: tf.keras.optimizers.SGD(0.05, momentum=0.9),
    "Adam 0.01": lambda: tf.keras.optimizers.Adam(0.01),
    # AdaSTE's optimizer on AdaSTE's kernels, Adam on the rest, through larq's CaseOptimizer
    "case": lambda: lq.optimizers.CaseOptimizer(
        (AdaSTEMomentum.is_adaste_variable, AdaSTEMomentum(0.01, train_size=N)),
        default_optimizer=tf.keras.optimizers.legacy.Adam(0.01),
    ),
}
SUBPROCESS_TIMEOUT_S = 300


# --- what the subprocesses run ---------------------------------------------------------------


def _data(n: int = N):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, FEATURES)).astype(np.float32), rng.integers(0, CLASSES, n)


def _model(
    kind: str = "paper",
    sync: bool = True,
    width: int = 32,
    depth: int = 1,
    features: int = FEATURES,
    jit: bool = False,
    optimizer: str = "momentum",
) -> tf.keras.Model:
    """A small MLP, no BatchNorm (per-replica batch statistics would differ by design).

    `kind`: an AdaSTE variant, "ste_sign" (linear backward, the baseline), "inputs" (AdaSTE on
    the kernels and on the hidden activations) or "dense" (plain Keras layers). `optimizer`: a
    key of `OPTIMIZERS`.
    """
    tf.keras.utils.set_random_seed(1)  # same initial weights in every run

    def layer(units, quantize_inputs=False):
        if kind == "dense":
            return tf.keras.layers.Dense(units, use_bias=False)
        if kind == "ste_sign":
            return lq.layers.QuantDense(units, kernel_quantizer="ste_sign", use_bias=False)
        variant = "paper" if kind == "inputs" else kind
        return lq.layers.QuantDense(
            units,
            use_bias=False,
            kernel_quantizer=AdaSTE(variant=variant, sync_replicas=sync),
            input_quantizer="adaste" if quantize_inputs else None,
        )

    layers = [tf.keras.layers.InputLayer((features,))]
    for _ in range(depth):
        layers += [layer(width), tf.keras.layers.Activation("relu")]
    if optimizer == "case":  # a real-valued head for the CaseOptimizer's default optimizer
        layers.append(tf.keras.layers.Dense(CLASSES))
    else:
        layers.append(layer(CLASSES, quantize_inputs=kind == "inputs"))
    model = tf.keras.Sequential(layers)
    model.compile(
        OPTIMIZERS[optimizer](),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


class _Probe(tf.keras.callbacks.Callback):
    """Records each quantizer's beta on each replica after every epoch, and step times."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self.betas, self.step_times, self._start = [], [], 0.0

    def on_epoch_end(self, epoch, logs=None):
        self.betas.append(
            [
                [float(v) for v in self.strategy.experimental_local_results(q.beta_variable)]
                for q in find_adaste_quantizers(self.model)
            ]
        )

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step_times.append(time.perf_counter() - self._start)


def _train(strategy, kind="paper", sync=True, x=None, y=None, epochs=EPOCHS, **model_kwargs):
    """Train from the same start on the same batches; return (weights, betas, step times)."""
    strategy = strategy or tf.distribute.get_strategy()
    if x is None:
        x, y = _data()
    with strategy.scope():
        model = _model(kind, sync, **model_kwargs)
    probe = _Probe(strategy)
    callbacks = [probe]
    if kind not in ("dense", "ste_sign"):
        callbacks.insert(0, RelaxationScheduler())
    # shuffle=False: the same global batches in the same order; Keras splits each global batch
    # over the replicas.
    model.fit(
        x, y, batch_size=GLOBAL_BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks
    )
    return [w.numpy() for w in model.trainable_weights], np.array(probe.betas), probe.step_times


def _syncs(kind: str) -> tuple[bool, ...]:
    """The `sync_replicas` settings a run of `kind` is compared in: ste_sign's backward is
    linear, so it has nothing to sync."""
    return (True,) if kind == "ste_sign" else (True, False)


def _two_logical_cpus() -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def _store(arrays: dict, prefix: str, weights, betas=None) -> None:
    for i, w in enumerate(weights):
        arrays[f"{prefix}/w{i}"] = w
    if betas is not None and betas.size:
        arrays[f"{prefix}/betas"] = betas


def _error_line(error: Exception) -> str:
    """The error's type and its last lines, where TensorFlow puts the cause."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {' '.join(lines[-3:])}"


def mirrored_main(out: str) -> None:
    _two_logical_cpus()
    # One strategy object for every run: each MirroredStrategy numbers its collectives from the
    # same start, so a second one in the same process collides with the first one's.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    arrays: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for kind in (*VARIANTS, "ste_sign"):
        _store(arrays, f"reference/{kind}", *_train(None, kind)[:2])
        for sync in _syncs(kind):
            _store(
                arrays,
                f"mirrored/{kind}/{'sync' if sync else 'nosync'}",
                *_train(strategy, kind, sync)[:2],
            )
    # AdaSTE's optimizer beside Adam through larq's CaseOptimizer (the official rule)
    _store(arrays, "reference/case", _train(None, "official", optimizer="case")[0])
    _store(arrays, "mirrored/case", _train(strategy, "official", optimizer="case")[0])
    # AdaSTE on activations too (input_quantizer, default sync_replicas=True); then with a last
    # batch split unevenly over the replicas, where an all-reduce of dy would fail.
    _store(arrays, "reference/inputs", _train(None, "inputs")[0])
    x, y = _data(RAGGED_N)
    for name, kwargs in (("inputs", {}), ("inputs-ragged", dict(x=x, y=y))):
        try:
            _store(arrays, f"mirrored/{name}", _train(strategy, "inputs", **kwargs)[0])
        except Exception as error:  # recorded for the test to report
            notes[name] = _error_line(error)
    # XLA under MirroredStrategy, for AdaSTE and for plain Keras layers.
    for kind in ("paper", "dense"):
        try:
            _store(arrays, f"mirrored/{kind}-jit", _train(strategy, kind, jit=True)[0])
        except Exception as error:
            notes[f"{kind}-jit"] = _error_line(error)
        else:  # the one-device result to compare with, only needed when it ran
            _store(arrays, f"reference/{kind}-jit", _train(None, kind, jit=True)[0])
    np.savez(out, **arrays)
    Path(out).with_suffix(".json").write_text(json.dumps(notes))


def worker_main(index: int, ports: list[str], out: str) -> None:
    # Read when the strategy is created; it must be created before any op runs.
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    x, y = _data()
    # The usual multi-worker input: the global batch, sharded by tf.data over the workers
    # (DATA: each worker takes its share of every global batch, in order).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    arrays: dict[str, np.ndarray] = {}
    for kind in VARIANTS:
        for sync in (True, False):
            with strategy.scope():
                model = _model(kind, sync)
            dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
            probe = _Probe(strategy)
            model.fit(
                dataset.with_options(options),
                epochs=EPOCHS,
                verbose=0,
                callbacks=[RelaxationScheduler(), probe],
            )
            _store(
                arrays,
                f"worker/{kind}/{'sync' if sync else 'nosync'}",
                [w.numpy() for w in model.trainable_weights],
                np.array(probe.betas),
            )
    np.savez(out, **arrays)


def optimizers_main() -> None:
    """Max |mirrored - one device| of the tests' runs under each optimizer, with the sync and
    without, and of plain Keras layers on an uneven last batch (`docs/distributed.md`)."""
    _two_logical_cpus()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    print("max |latent weight - one device| after 3 epochs: sync_replicas=True / False")
    for optimizer in OPTIMIZERS:
        cells = []
        for kind in (*VARIANTS, "ste_sign"):
            reference = _train(None, kind, optimizer=optimizer)[0]
            diffs = [
                max_diff(_train(strategy, kind, sync, optimizer=optimizer)[0], reference)
                for sync in _syncs(kind)
            ]
            cells.append(f"{kind} " + " / ".join(f"{d:.2g}" for d in diffs))
        print(f"  {optimizer:10s} " + ", ".join(cells), flush=True)
    # Keras itself weighs a last batch split 2 + 1 differently on two replicas than on one.
    x, y = _data(RAGGED_N)
    reference = _train(None, "dense", x=x, y=y)[0]
    ragged = max_diff(_train(strategy, "dense", x=x, y=y)[0], reference)
    print(f"plain Dense, momentum, {RAGGED_N} examples (last batch split 2 + 1): {ragged:.2g}")


def _backward_step(strategy, sync: bool, shape=(1024, 1024)):
    """One replica step of the quantizer alone: forward, AdaSTE backward, then the all-reduce
    of the weight gradient that the optimizer does anyway."""
    with strategy.scope():
        kernel = tf.Variable(tf.random.stateless_normal(shape, (1, 2)))
    upstream = tf.random.stateless_normal(shape, (3, 4))

    def replica_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(adaste_sign(kernel, 0.01, sync_replicas=sync) * upstream)
        grad = tape.gradient(loss, kernel)
        return tf.distribute.get_replica_context().all_reduce("sum", grad)

    return tf.function(lambda: strategy.run(replica_step))


def _timed(fn, repeats: int) -> tuple[float, float]:
    """(wall, process CPU) milliseconds per call."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (
        1e3 * (time.perf_counter() - wall) / repeats,
        1e3 * (time.process_time() - cpu) / repeats,
    )


def bench_main(steps: int, rounds: int = 5) -> None:
    """Time per step on 2 logical CPUs, with and without the all-reduce of dy.

    Configurations take turns, round after round, so that load from other processes hits them
    alike. For each, the best and the median over the rounds of the wall time per step, and the
    median CPU time per step (all threads of this process; less sensitive to other processes).
    """
    _two_logical_cpus()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one = tf.distribute.get_strategy()
    rng = np.random.default_rng(0)
    batch, features = 256, 784
    x = rng.normal(size=(batch * steps, features)).astype(np.float32)
    y = rng.integers(0, CLASSES, len(x))
    configs = {
        "fit: AdaSTE, one device": (one, "paper", True),
        "fit: AdaSTE, mirrored x2, sync_replicas=True": (strategy, "paper", True),
        "fit: AdaSTE, mirrored x2, sync_replicas=False": (strategy, "paper", False),
        "fit: ste_sign, one device": (one, "ste_sign", True),
        "fit: ste_sign, mirrored x2": (strategy, "ste_sign", True),
    }
    calls = {}
    for name, (s, kind, sync) in configs.items():
        with s.scope():
            model = _model(kind, sync, width=1024, depth=2, features=features)
        model.fit(x[:batch], y[:batch], batch_size=batch, verbose=0)  # trace

        def fit(model=model):
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

        calls[name] = (fit, steps)
    for sync in (True, False):
        step = _backward_step(strategy, sync)
        step()  # trace
        calls[f"backward 1024x1024 + grad all-reduce, sync_replicas={sync}"] = (step, 20)
    results = {name: [] for name in calls}
    for _ in range(rounds):
        for name, (fn, count) in calls.items():
            wall, cpu = _timed(fn, 1 if name.startswith("fit") else count)
            scale = count if name.startswith("fit") else 1  # one fit call runs `steps` steps
            results[name].append((wall / scale, cpu / scale))
    print(
        f"2 logical CPUs; fit: MLP {features}-1024-1024-{CLASSES}, global batch {batch}, "
        f"{steps} steps per round; {rounds} rounds. ms per step: best wall / median wall / "
        f"median CPU"
    )
    for name, values in results.items():
        walls, cpus = [v[0] for v in values], [v[1] for v in values]
        print(
            f"  {name:58s} {min(walls):7.2f} / {statistics.median(walls):7.2f} / "
            f"{statistics.median(cpus):7.2f}"
        )


# --- the tests -------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return env


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return dict(archive)


def _weights(arrays, prefix):
    return [arrays[k] for k in sorted(arrays) if k.startswith(prefix + "/w")]


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))


def _expected_betas(epochs: int = EPOCHS) -> np.ndarray:
    """The default schedule (the official 500-epoch path in `epochs` epochs, from beta0 = 0.01),
    as the float32 variable holds."""
    return np.array(
        [np.float32(min(0.01 * 1.05 ** (500 / epochs * e + 1), 100.0)) for e in range(epochs)]
    )


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored") / "runs.npz"
    done = subprocess.run(
        [sys.executable, __file__, "mirrored", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return _load(out), json.loads(out.with_suffix(".json").read_text())


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def multi_worker(tmp_path_factory):
    directory = tmp_path_factory.mktemp("multi_worker")
    ports = ",".join(map(str, _free_ports(2)))
    outs = [directory / f"worker{i}.npz" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "worker", str(i), ports, str(out)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    logs = []
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
        for proc in procs:
            logs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:  # a worker waiting for a dead peer would wait forever
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-5000:]
    return [_load(out) for out in outs]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_mirrored_beta_is_the_same_on_every_replica(mirrored, variant):
    arrays, _ = mirrored
    for sync in ("sync", "nosync"):
        betas = arrays[f"mirrored/{variant}/{sync}/betas"]  # [epoch, quantizer, replica]
        assert betas.shape == (EPOCHS, 2, 2)
        np.testing.assert_array_equal(
            betas, np.broadcast_to(_expected_betas()[:, None, None], betas.shape)
        )


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_mirrored_matches_one_device(mirrored, variant):
    arrays, _ = mirrored
    reference = _weights(arrays, f"reference/{variant}")
    synced = max_diff(_weights(arrays, f"mirrored/{variant}/sync"), reference)
    unsynced = max_diff(_weights(arrays, f"mirrored/{variant}/nosync"), reference)
    print(
        f"{variant}: max |mirrored - one device| = {synced:.3g} with sync_replicas, "
        f"{unsynced:.3g} without"
    )
    assert synced < TOLERANCE
    # What the all-reduce buys: scaling each replica's share gives another result.
    assert unsynced > 100 * TOLERANCE


@pytest.mark.slow
def test_mirrored_ste_sign_baseline(mirrored):
    """A linear backward needs no sync: the baseline the AdaSTE tolerance is measured against."""
    arrays, _ = mirrored
    diff = max_diff(
        _weights(arrays, "mirrored/ste_sign/sync"), _weights(arrays, "reference/ste_sign")
    )
    print(f"ste_sign: max |mirrored - one device| = {diff:.3g}")
    assert diff < TOLERANCE


@pytest.mark.slow
def test_mirrored_case_optimizer_with_adaste_momentum_matches_one_device(mirrored):
    """AdaSTEMomentum on the AdaSTE kernels and Adam on the real head, through larq's
    CaseOptimizer: data-parallel training gives the single-device weights."""
    arrays, _ = mirrored
    reference = _weights(arrays, "reference/case")
    mirrored = _weights(arrays, "mirrored/case")
    assert len(reference) == 3  # the AdaSTE kernel, the head's kernel and bias
    for name, got, want in zip(("AdaSTE kernel", "head kernel", "head bias"), mirrored, reference):
        diff, size = float(np.max(np.abs(got - want))), float(np.max(np.abs(want)))
        print(
            f"CaseOptimizer(AdaSTEMomentum, Adam), {name}: max |mirrored - one device| = "
            f"{diff:.3g}, max |weight| = {size:.3g}"
        )
        # AdaSTEMomentum multiplies the gradient by (10 N)^2: the latent weights grow to
        # hundreds, and float32 rounding of the all-reduce order with them
        assert diff < TOLERANCE * max(size, 1.0)


@pytest.mark.slow
def test_mirrored_activation_quantizer_is_not_summed(mirrored):
    """AdaSTE as input_quantizer (default sync_replicas=True): its gradients stay per example,
    and a last batch split 2 + 1 over the replicas trains (an all-reduce of dy failed there on
    the shapes, before the quantizer told activations from weights)."""
    arrays, notes = mirrored
    assert not {"inputs", "inputs-ragged"} & set(notes), notes
    diff = max_diff(_weights(arrays, "mirrored/inputs"), _weights(arrays, "reference/inputs"))
    print(f"inputs: max |mirrored - one device| = {diff:.3g}")
    assert diff < TOLERANCE
    # An uneven last batch is weighted differently by Keras itself (each replica averages its
    # own share; plain Dense layers differ too), so only finiteness is checked there.
    assert all(np.isfinite(w).all() for w in _weights(arrays, "mirrored/inputs-ragged"))


@pytest.mark.slow
def test_mirrored_jit_compile_fails_like_plain_keras_or_matches(mirrored):
    """On logical CPUs, TF 2.21 cannot jit_compile a MirroredStrategy step (the XLA cluster reads
    the other replica's variables); plain Dense layers fail the same way, so it is not AdaSTE.
    If a TensorFlow release fixes it, AdaSTE must then match one device."""
    arrays, notes = mirrored
    if "paper-jit" in notes:
        print("jit_compile under MirroredStrategy:", notes["paper-jit"])
        assert "dense-jit" in notes, "jit fails with AdaSTE but works with plain Dense layers"
        assert "different_device" in notes["paper-jit"], notes["paper-jit"]
    else:
        diff = max_diff(
            _weights(arrays, "mirrored/paper-jit"), _weights(arrays, "reference/paper-jit")
        )
        assert diff < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_multi_worker_matches_one_device(mirrored, multi_worker, variant):
    arrays, _ = mirrored
    reference = _weights(arrays, f"reference/{variant}")
    first, second = multi_worker
    diffs = {}
    for sync in ("sync", "nosync"):
        prefix = f"worker/{variant}/{sync}"
        # Both workers hold the same weights and the same beta, epoch after epoch.
        assert max_diff(_weights(first, prefix), _weights(second, prefix)) == 0.0
        for worker in multi_worker:
            np.testing.assert_array_equal(
                worker[f"{prefix}/betas"][:, :, 0], np.repeat(_expected_betas()[:, None], 2, 1)
            )
        diffs[sync] = max_diff(_weights(first, prefix), reference)
    print(
        f"{variant}: max |multi-worker - one device| = {diffs['sync']:.3g} with "
        f"sync_replicas, {diffs['nosync']:.3g} without"
    )
    assert diffs["sync"] < TOLERANCE
    assert diffs["nosync"] > 100 * TOLERANCE


@pytest.mark.slow
def test_example_trains_on_two_logical_cpus():
    example = Path(__file__).resolve().parents[1] / "examples" / "train_distributed.py"
    done = subprocess.run(
        [
            sys.executable,
            str(example),
            "--logical-cpus",
            "2",
            "--limit",
            "1024",
            "--epochs",
            "2",
            "--hidden",
            "64",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    if "DataUnavailableError" in done.stderr:
        pytest.skip("no local Fashion-MNIST and no network")
    assert done.returncode == 0, done.stderr[-5000:]
    assert "2 replica(s)" in done.stdout
    betas = [line.split(": ")[1] for line in done.stdout.splitlines() if "on each replica" in line]
    assert betas and all(len(set(b.split(", "))) == 1 for b in betas), betas  # same on both
    assert "test accuracy" in done.stdout


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "mirrored":
        mirrored_main(sys.argv[2])
    elif command == "worker":
        worker_main(int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4])
    elif command == "bench":
        bench_main(int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 30)
    elif command == "optimizers":
        optimizers_main()
    else:
        raise SystemExit(f"unknown command {command!r}: use mirrored, worker, bench or optimizers")
