"""benchmarks/keras3_step_time.py runs with keras 3 and JAX alone (as on a GPU machine without
TensorFlow) and writes its report; tiny sizes, one round: what it times is not checked here."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import keras3_step_time  # noqa: E402


def test_the_benchmark_writes_a_report_naming_the_device(tmp_path):
    out = tmp_path / "step_time.json"
    keras3_step_time.main(
        ["--networks", "mlp_official", "--hidden", "16", "16", "--mlp-batch", "8",
         "--repeats", "2", "--steps", "1", "--warmup", "0", "--out", str(out)]
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["device"]["backend"] == "jax" and report["device"]["device"]
    rows = {row["configuration"]: row for row in report["results"]}
    assert list(rows) == list(keras3_step_time.ESTIMATORS)
    assert rows["ste_sign"]["ratio"] == 1.0
    assert all(row["median_step_ms"] > 0 for row in rows.values())
