import json

import pytest
import torch

from benchmark.analysis import analyze, forecast_quality
from benchmark.config import RunConfig
from benchmark.errors import IntrobenchError
from benchmark.run import run
from predictors import create_forecaster

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("run")
    run(RunConfig(task="mnist3", reduced=True, steps=200, eval_every=100, jumps=(100,), record_every=5,
                  record_weights=5000, data_dir=str(data_dir)), progress=False, out_dir=out)
    return out


def test_analyze_draws_the_figures_and_the_forecast_table(recorded_run, capsys):
    report = analyze(recorded_run)
    for path in report["figures"]:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    names = {r["forecaster"] for r in report["forecast_quality"]}
    assert {"introspection", "extrapolate(ratio=1.3)", "extrapolate(ratio=2.0)", "quadratic(ratio=1.25)",
            "linear_fit(ratio=1.1)"} <= names
    # deltanet needs each layer's statistics, which a recorded subset of weights does not keep: named, not guessed
    assert "deltanet" not in {n.split("(")[0] for n in names}
    assert any(n.startswith("deltanet left out: it needs each layer's statistics") for n in report["notes"])
    out = capsys.readouterr().out
    assert "forecast quality" in out and "extrapolate(ratio=2.0)" in out
    saved = json.loads((recorded_run / "analysis" / "analysis.json").read_text())
    assert saved["forecast_quality"] == report["forecast_quality"]
    assert report["weights_recorded"] == 5000


def test_forecast_quality_arithmetic_on_a_known_history():
    steps = torch.arange(0, 21)
    # Every weight moves on a straight line: extrapolate is exact, the do-nothing forecast is not.
    slope = torch.linspace(-1, 1, 50, dtype=torch.float64)
    weights = steps[:, None].double() * slope[None, :] * 1e-3
    rows, notes = forecast_quality(steps, weights, [10], [("extrapolate", create_forecaster("extrapolate", ratio=2.0))])
    (row,) = rows
    assert row["target_step"] == 20 and row["l1_x1000"] < 1e-9
    assert abs(row["cosine"] - 1) < 1e-9 and abs(row["size_ratio"] - 1) < 1e-9
    assert abs(row["l1_x1000_stay"] - float((10 * slope.abs() * 1e-3).mean() * 1000)) < 1e-9
    rows, notes = forecast_quality(steps, weights, [15], [("extrapolate", create_forecaster("extrapolate", ratio=2.0))])
    assert rows == [] and "forecast step 30 is past the run's last recorded step 20" in notes[0]


def test_analyze_needs_a_recorded_history(tmp_path, data_dir):
    with pytest.raises(IntrobenchError, match="run.json is missing"):
        analyze(tmp_path)
    run(RunConfig(task="mnist3", reduced=True, steps=10, eval_every=10, data_dir=str(data_dir)), progress=False,
        out_dir=tmp_path)
    with pytest.raises(IntrobenchError, match="has no weight history"):
        analyze(tmp_path)
