"""The training CLI on tiny data: every model x estimator x dataset for one epoch, outputs."""

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

from adaste_tf import callbacks as adaste_callbacks
from adaste_tf import data, optimizers, schedules
from adaste_tf.zoo import data as zoo_data
from adaste_tf.zoo import models, plots, train

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_local_data(monkeypatch, rng):
    """MNIST/Fashion-MNIST replaced by 40 random examples (the real loader is tested elsewhere)."""

    def fake(name, split, data_dir=None, source="auto"):
        return (
            rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, 40).astype(np.int64),
        )

    monkeypatch.setattr(data, "load_arrays", fake)


@pytest.fixture
def striped_local_data(monkeypatch):
    """MNIST/Fashion-MNIST replaced by 200 noisy images whose class is the row of a white
    stripe: data with signal, which a network learns in a few dozen steps."""

    def fake(name, split, data_dir=None, source="auto"):
        rng = np.random.default_rng(["train", "test"].index(split))
        labels = rng.integers(0, 10, 200)
        images = rng.integers(0, 64, (200, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            image[2 * label + 4 : 2 * label + 6, :] = 255
        return images, labels.astype(np.int64)

    monkeypatch.setattr(data, "load_arrays", fake)


# Every network with every estimator (each sets the layers' quantizer and constraint
# differently) on Fashion-MNIST, and every network on every data set (each has its own input
# pipeline and shape) with AdaSTE: what the full product would add is covered by both.
COMBINATIONS = sorted(
    {
        (model, "fashion_mnist", estimator)
        for model in train.MODELS
        for estimator in models.ESTIMATORS
    }
    | {(model, dataset, "adaste") for model in train.MODELS for dataset in zoo_data.DATASETS}
)


@pytest.mark.parametrize("model, dataset, estimator", COMBINATIONS)
def test_every_network_estimator_and_data_set_trains_one_epoch(
    model, dataset, estimator, tiny_local_data
):
    with tfds.testing.mock_data(num_examples=40):
        result = train.train(
            model,
            dataset,
            estimator,
            epochs=1,
            batch_size=16,
            limit=40,
            width=0.0625,
            hidden=(16,),
            eager=True,
            verbose=0,
        )
    # Random data: nothing to learn in one epoch. Whether training learns is checked below.
    assert np.isfinite(result["history"]["loss"][0]) and np.isfinite(result["test_loss"])
    assert ("beta" in result["history"]) == (estimator == "adaste")


@pytest.mark.parametrize("estimator", models.ESTIMATORS)
def test_every_estimator_learns_data_with_signal(estimator, striped_local_data):
    result = train.train(
        "mlp",
        "fashion_mnist",
        estimator,
        epochs=2,
        batch_size=16,
        limit=160,
        hidden=(32,),
        jit=False,
        verbose=0,
    )
    loss = result["history"]["loss"]
    assert loss[1] < loss[0], loss
    assert result["test_accuracy"] > 0.4, result["test_accuracy"]  # 10 classes: chance is 0.1


def test_cli_writes_history_checkpoints_and_plot(tmp_path, tiny_local_data):
    out = tmp_path / "run"
    train.main(
        [
            "--model",
            "mlp",
            "--dataset",
            "fashion_mnist",
            "--estimator",
            "adaste",
            "--epochs",
            "2",
            "--limit",
            "40",
            "--batch-size",
            "8",
            "--out",
            str(out),
        ]
    )
    history = json.loads((out / "history.json").read_text())
    assert len(history["history"]["beta"]) == 2
    assert history["history"]["beta"][1] > history["history"]["beta"][0]
    for name in ("best.keras", "final.keras", "curves.png"):
        assert (out / name).stat().st_size > 0
    tf.keras.models.load_model(out / "final.keras")


def test_cli_checks_its_extras_before_training(tmp_path, tiny_local_data, monkeypatch):
    """Issue 32: without the zoo extra the CLI trained every epoch, then failed on matplotlib
    when it drew curves.png; it must fail before loading data, and before making a run
    directory."""
    matplotlib = importlib.import_module("matplotlib")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    monkeypatch.chdir(tmp_path)
    loaded = []
    monkeypatch.setattr(zoo_data, "load_splits", lambda *a, **k: loaded.append(a))
    with pytest.raises(ImportError, match=r'needs matplotlib.*pip install "adaste_tf\[zoo\]"'):
        train.main(["--epochs", "2", "--limit", "40", "--verbose", "0"])
    with pytest.raises(ImportError, match=r"curves\.png"):
        train.train("mlp", "fashion_mnist", "adaste", epochs=1, out=tmp_path / "run")
    assert loaded == [] and not (tmp_path / "runs").exists() and not (tmp_path / "run").exists()
    monkeypatch.setitem(sys.modules, "matplotlib", matplotlib)
    for name in [m for m in sys.modules if m.split(".")[0] == "tensorflow_datasets"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r"training on 'cifar10' needs tensorflow-datasets"):
        train.main(["--dataset", "cifar10", "--model", "vgg16", "--epochs", "1"])
    assert loaded == [] and not (tmp_path / "runs").exists()


def test_cli_without_out_writes_to_a_fresh_directory_under_runs(
    tmp_path, tiny_local_data, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = [
        "--epochs",
        "2",
        "--limit",
        "40",
        "--batch-size",
        "8",
        "--hidden",
        "16",
        "8",
        "--verbose",
        "0",
    ]
    train.main(argv)
    train.main(argv)
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(run.name.startswith("mlp-adaste-") for run in runs)
    printed = capsys.readouterr().out
    for run in runs:
        assert (run / "history.json").is_file()
        assert f"outputs in {run.relative_to(tmp_path)}/" in printed
    model = tf.keras.models.load_model(runs[0] / "final.keras")
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [16, 8, 10]


def test_cli_help_shows_every_flag_with_help_and_default_and_no_markdown():
    parser = train._parser()
    text = parser.format_help()
    assert "```" not in text and "`" not in parser.description
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, action.dest
        assert "(default:" in parser.formatter_class(prog="x")._get_help_string(action), action.dest


def test_official_compressed_recipe_is_the_official_recipe_over_the_compressed_path():
    official, compressed = train.RECIPES["official"], train.RECIPES["official_compressed"]
    assert (compressed.optimizer, compressed.latent_magnitude, compressed.variant) == (
        official.optimizer,
        official.latent_magnitude,
        official.variant,
    )
    assert official.beta_schedule(20).rate == pytest.approx(1.05)
    assert (
        compressed.beta_schedule(20).get_config()
        == train.RECIPES["fast"].beta_schedule(20).get_config()
    )


def _run(estimator: str, epochs: int, beta: bool) -> dict:
    """A result as `train` returns it, with a made-up history of `epochs` epochs."""
    history = {
        key: list(np.linspace(0.5, 0.9, epochs))
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    if beta:
        history["beta"] = [0.01 * 1.05 ** (e + 1) for e in range(epochs)]
    return {"model": "mlp", "estimator": estimator, "dataset": "fashion_mnist", "history": history}


def _visible_xticks(ax) -> list[float]:
    low, high = ax.get_xlim()
    return [float(t) for t in ax.get_xticks() if low <= t <= high]


def test_curves_of_a_one_epoch_run(tmp_path):
    figure = plots.plot_curves({"adaste": _run("adaste", 1, beta=True)}, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0
    assert [ax.get_ylabel() for ax in figure.axes] == ["accuracy", "loss", "beta"]
    for ax in figure.axes:
        assert _visible_xticks(ax) == [1.0]  # not 0.96 ... 1.04
        # One point per line: only a marker makes it visible.
        assert ax.lines and all(line.get_marker() not in (None, "", "None") for line in ax.lines)
    assert list(figure.axes[2].lines[0].get_ydata()) == [pytest.approx(0.0105)]
    assert figure.get_suptitle() == "mlp, adaste, fashion_mnist"


def test_curves_of_several_runs(tmp_path):
    runs = {"adaste": _run("adaste", 10, beta=True), "ste_sign": _run("ste_sign", 10, beta=False)}
    figure = plots.plot_curves(runs, tmp_path / "c.png")
    accuracy, _, beta = figure.axes
    assert len(accuracy.lines) == 4 and len(beta.lines) == 1  # beta only where it was logged
    assert all(t == int(t) for ax in figure.axes for t in _visible_xticks(ax))
    assert figure.get_suptitle() == "mlp, adaste / ste_sign, fashion_mnist"
    # No run logged beta: no beta panel.
    figure = plots.plot_curves({"ste_sign": _run("ste_sign", 3, beta=False)}, tmp_path / "d.png")
    assert [ax.get_ylabel() for ax in figure.axes] == ["accuracy", "loss"]


def test_a_one_epoch_run_follows_the_whole_beta_path_within_it(tiny_local_data):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="RelaxationScheduler")
        result = train.train(
            "mlp",
            "fashion_mnist",
            "adaste",
            epochs=1,
            batch_size=8,
            limit=40,
            hidden=(16,),
            jit=False,
            verbose=0,
        )
    # 36 training images, 5 steps at 0, 1/5, ..., 4/5 of the run: 1/alpha from 38% on.
    assert result["history"]["beta"] == [100.0]


def test_official_recipe_uses_the_official_pieces(tiny_local_data):
    keep = tf.keras.callbacks.Callback()  # fit hands every callback the model
    record = train.train(
        "mlp",
        "fashion_mnist",
        "adaste",
        recipe="official",
        epochs=1,
        limit=40,
        hidden=(16,),
        verbose=0,
        callbacks=[keep],
    )
    assert record == json.loads(json.dumps(record))  # the record is JSON data, no live objects
    model = keep.model
    assert isinstance(model.optimizer, optimizers.OfficialMomentum)
    assert model.optimizer.gradient_scale == float(10 * 36) ** 2
    kernels = [w.numpy() for w in model.trainable_weights if "kernel" in w.name]
    assert all(np.abs(k).max() > 5 for k in kernels)  # started at +-10, moved little
    quantizers = [
        layer.kernel_quantizer for layer in model.layers if hasattr(layer, "kernel_quantizer")
    ]
    assert {q.variant for q in quantizers} == {"official"}


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"model": "vgg19"}, "model"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"estimator": "dorefa"}, "estimator"),
        ({"epochs": 0}, "epochs"),
        ({"recipe": "slow"}, "recipe"),
        ({"lr": -1.0}, "lr"),
        ({"callbacks": ["ModelCheckpoint"]}, "callbacks"),
        (
            {"callbacks": [adaste_callbacks.RelaxationScheduler(schedules.Constant(0.1))]},
            "callbacks",
        ),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, parameter, tiny_local_data):
    arguments = {
        "model_name": "mlp",
        "dataset": "fashion_mnist",
        "estimator": "adaste",
        "epochs": 1,
        **kwargs,
    }
    if "model" in arguments:
        arguments["model_name"] = arguments.pop("model")
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        train.train(**arguments, limit=40, verbose=0)


def _demo(out: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "train_fashion_mnist.py"),
            "--limit",
            "512",
            "--epochs",
            "2",
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_demo_runs_on_a_few_hundred_real_examples_and_repeats_exactly(tmp_path):
    if not data.DEBIAN_FASHION_MNIST_DIR.is_dir():
        pytest.skip(
            f"{data.DEBIAN_FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)"
        )
    result = _demo(tmp_path / "first")
    assert "step time AdaSTE / ste_sign" in result.stdout
    assert "seed 0, op determinism on: these accuracies repeat" in result.stdout
    # the machine as its instruction sets, not only the CPU's name (which several differ under)
    (cpu_line,) = [line for line in result.stdout.splitlines() if line.startswith("CPU: ")]
    assert "AVX" in cpu_line and "cores" in cpu_line, cpu_line
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["adaste"]["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert (tmp_path / "first" / "adaste" / "final.keras").is_file()
    # A second process on the same machine: the same history, bit for bit.
    _demo(tmp_path / "again", "--estimators", "adaste")
    first, again = (
        json.loads((tmp_path / run / "adaste" / "history.json").read_text())
        for run in ("first", "again")
    )
    assert again["history"] == first["history"]
    assert again["test_accuracy"] == first["test_accuracy"]


@pytest.mark.parametrize("command", [["-m", "adaste_tf.zoo.train"], None], ids=["module", "script"])
def test_command_line_entry_points(command):
    script = Path(sys.executable).parent / "adaste-train"
    argv = [sys.executable, *command] if command else [str(script)]
    result = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--estimator" in result.stdout and "--recipe" in result.stdout


def test_interleaved_step_times_alternates_between_the_runs_and_checks_its_counts():
    calls = []

    def step_of(name):
        def step(iterator):
            calls.append(name)
            return {"loss": tf.constant(float(next(iterator)))}

        return step

    runs = {
        "a": [(step_of("a1"), iter(range(100))), (step_of("a2"), iter(range(100)))],
        "b": [(step_of("b"), iter(range(100)))],
    }
    times = train.interleaved_step_times(runs, rounds=2, steps=2)
    assert calls == ["a1", "a1", "a2", "a2", "b", "b"] * 2
    assert [len(times["a"]), len(times["b"])] == [8, 4]
    assert all(t > 0 for t in times["a"] + times["b"])
    # Warm-up calls are made, not timed; a seed visits every key once a round, in varying order.
    calls.clear()
    times = train.interleaved_step_times(
        {key: runs[key][:1] for key in runs}, rounds=8, steps=1, warmup=2, seed=0
    )
    rounds = [calls[i : i + 6] for i in range(0, len(calls), 6)]
    assert [len(times["a"]), len(times["b"])] == [8, 8]
    orders = (("a1",) * 3 + ("b",) * 3, ("b",) * 3 + ("a1",) * 3)
    assert all(tuple(r) in orders for r in rounds)
    assert {tuple(r) for r in rounds} == set(orders)  # both orders occur
    for parameter, kwargs in (
        ("rounds", {"rounds": 0, "steps": 1}),
        ("steps", {"rounds": 1, "steps": 1.5}),
        ("warmup", {"rounds": 1, "steps": 1, "warmup": -1}),
        ("seed", {"rounds": 1, "steps": 1, "seed": "x"}),
    ):
        with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
            train.interleaved_step_times(runs, **kwargs)
