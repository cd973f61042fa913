import pytest
import torch

from benchmark.errors import ConfigError
from predictors import create_forecaster
from predictors.introspection import load_net
from benchmark.forecaster_training import train_forecaster
from predictors.training import PipelineConfig, build_examples, fit_net


def test_grid_points_are_exact_recordings():
    cfg = PipelineConfig(n0_steps=20_000, grid=50, k=2.2)
    ts = cfg.valid_ts()
    assert ts and max(ts) * 2.2 <= 20_000
    for t in ts:
        for f in (0.4, 0.7, 2.2):
            assert abs(f * t / 50 - round(f * t / 50)) < 1e-9
    with pytest.raises(ConfigError, match="n0_steps"):
        PipelineConfig(n0_steps=400, grid=50)
    with pytest.raises(ConfigError, match="^k: "):
        PipelineConfig(k=1.0)


@pytest.mark.parametrize("loss, learned", [("l1", 0.0), ("l2", 0.3)])
def test_the_loss_decides_whether_the_net_learns_the_median_or_the_mean_future(loss, learned):
    # the same input, a future of 0 seven times in ten and 1 three times: the median is 0, the mean 0.3
    x = torch.ones(1000, 1)
    y = (torch.arange(1000) % 10 >= 7).float()
    cfg = PipelineConfig(loss=loss, train_steps=3000, batch_size=100, lr=1e-2, lr_decay_every=1000)
    net, losses, _ = fit_net(torch.nn.Linear(1, 1), x, y.unsqueeze(1), cfg, torch.Generator().manual_seed(0), "t")
    assert net(torch.ones(1, 1)).item() == pytest.approx(learned, abs=0.03)
    assert set(losses) >= {"val_l1", "val_l2"}
    with pytest.raises(ConfigError, match="^loss: must be one of l1, l2, huber"):
        PipelineConfig(loss="l3")


def test_examples_are_stratified_by_change():
    cfg = PipelineConfig(n0_steps=200, grid=10, examples=400, draws_per_weight=2)
    steps = torch.arange(0, 201, 10)
    n = 1000
    speed = torch.linspace(0, 1, n)  # weight i moves by speed[i] x 1e-3 at once, whatever t: its change is known
    weights = torch.where(steps[:, None] > 0, speed[None, :] * 1e-3, torch.zeros(1))
    x, y, stats = build_examples(steps, weights, cfg, torch.Generator().manual_seed(0))
    assert x.shape == (400, 4) and y.shape == (400,) and stats["candidates"] == 2 * n
    change = (x[:, 0] - x[:, 3]).abs()  # = speed (x1000)
    top, mid = speed[n // 2].item(), speed[n // 4].item()  # the candidates' 50th and 25th percentiles
    # 50% from the top half of |w_t - w_0|, 25% from the 50-75th percentile band, 25% from the rest
    assert int((change >= top - 1e-6).sum()) == 200
    assert int(((change >= mid - 1e-6) & (change < top - 1e-6)).sum()) == 100
    assert int((change < mid - 1e-6).sum()) == 100


def test_examples_are_exact_recordings_of_the_history():
    cfg = PipelineConfig(n0_steps=200, grid=10, examples=400, draws_per_weight=2)
    steps = torch.arange(0, 201, 10)
    weights = steps[:, None].float() * torch.linspace(0, 1, 1000)[None, :] * 1e-4
    x, y, _ = build_examples(steps, weights, cfg, torch.Generator().manual_seed(0))
    # inputs are (w_t, w_.7t, w_.4t, w_0) x 1000 and the target w_2t x 1000: on a line from 0 they scale with t
    assert torch.allclose(x[:, 1], 0.7 * x[:, 0], atol=1e-4) and torch.allclose(y, 2 * x[:, 0], atol=1e-4)
    assert torch.allclose(x[:, 2], 0.4 * x[:, 0], atol=1e-4) and torch.all(x[:, 3] == 0)


def test_train_forecaster_end_to_end_on_real_mnist(tmp_path, data_dir):
    out = tmp_path / "w.safetensors"
    cfg = PipelineConfig(n0_steps=200, grid=10, examples=5000, train_steps=300, data_dir=str(data_dir))
    result = train_forecaster(cfg, out=out, histories=tmp_path / "n0")
    assert result["val_l1_x1000"] > 0 and result["examples"] == 5000
    net, meta = load_net(out)
    assert meta["recipe"]["n0_steps"] == 200 and meta["losses"]["val_l1_x1000"] == result["val_l1_x1000"]
    f = create_forecaster("introspection", weights=str(out))
    assert torch.isfinite(f.forecast(torch.randn(4, 10) * 0.01)).all()
    again = train_forecaster(cfg, out=tmp_path / "w2.safetensors", histories=tmp_path / "n0")  # reuses N0's run
    assert again["val_l1_x1000"] == result["val_l1_x1000"]


def test_a_bank_trains_a_forecaster_that_knows_what_it_never_saw(tmp_path, data_dir):
    """Two tasks' baseline runs go into a bank (each layer's kind and shape kept); a net trained with mnist2
    excluded records it, and a run of it on mnist3 (which it learned from) is marked, on mnist2 is not."""
    import json

    from benchmark.bank import load_bank
    from benchmark.config import RunConfig
    from benchmark.errors import IntrobenchError
    from benchmark.forecaster_training import train_on_bank
    from benchmark.report import row_cells
    from benchmark.run import run

    bank = tmp_path / "bank"
    for task in ("mnist3", "mnist2"):
        result = run(RunConfig(task=task, reduced=True, steps=100, eval_every=50, bank=str(bank), bank_every=5,
                               bank_per_layer=64, data_dir=str(data_dir)), progress=False)
        assert result.summary["bank_file"].startswith(str(bank / task))
    every = {t.task: t for t in load_bank(bank)}
    assert set(every) == {"mnist3", "mnist2"}
    lenet = every["mnist2"]
    kinds = {d["kind"] for d in lenet.meta["layers"]}
    assert kinds == {"Conv2d", "Linear"} and lenet.steps.tolist() == list(range(0, 101, 5))
    assert lenet.weights.shape == (21, sum(d["count"] for d in lenet.meta["layers"]))
    assert all(d["count"] == min(64, torch.Size(d["shape"]).numel()) for d in lenet.meta["layers"])

    out = tmp_path / "w.safetensors"
    cfg = PipelineConfig(examples=2000, train_steps=200, bank=True)
    got = train_on_bank(cfg, bank, ("mnist2",), out)
    assert got["tasks"] == ["mnist3"] and got["excluded"] == ["mnist2"]
    _, meta = load_net(out)
    assert meta["trained_on"] == ["mnist3"] and meta["excluded"] == ["mnist2"]
    marks = {}
    for task in ("mnist3", "mnist2"):
        r = run(RunConfig(task=task, reduced=True, steps=30, eval_every=10, forecaster="introspection",
                          forecaster_params={"weights": str(out)}, jumps=[20], data_dir=str(data_dir)), progress=False)
        marks[task] = r.summary["trained_on_task"]
    assert marks == {"mnist3": True, "mnist2": False}
    assert "TRAINED ON THIS TASK" in row_cells({**json.loads(json.dumps(_row_stats())), "trained_on_task": True})[0]
    # deltanet on the same bank: trained on mnist3 alone, measured on mnist2 beside the extrapolate control
    from predictors.deltanet import load_deltanet
    from predictors.training import DELTANET_RECIPE

    dcfg = PipelineConfig(bank=True, forecaster="deltanet", **{**DELTANET_RECIPE, "examples": 5000, "train_steps": 200})
    got = train_on_bank(dcfg, bank, ("mnist2",), tmp_path / "d.safetensors")
    assert got["tasks"] == ["mnist3"] and set(got["held_out_tasks"]) == {"mnist2 seed 0"}
    held = got["held_out_tasks"]["mnist2 seed 0"]
    assert set(held) == {"deltanet", "extrapolate", "stay", "deltanet_move", "extrapolate_move"}
    assert held["deltanet_move"] > 0 and held["extrapolate_move"] > 0
    _, dmeta = load_deltanet(tmp_path / "d.safetensors")
    assert dmeta["trained_on"] == ["mnist3"] and dmeta["excluded"] == ["mnist2"]
    assert dmeta["command"].endswith("--forecaster deltanet")
    r = run(RunConfig(task="mnist3", reduced=True, steps=30, eval_every=10, forecaster="deltanet",
                      forecaster_params={"weights": str(tmp_path / "d.safetensors")}, jumps=[20],
                      data_dir=str(data_dir)), progress=False)
    assert r.summary["trained_on_task"] and r.summary["jumps"] == [20]
    with pytest.raises(IntrobenchError, match="--exclude names tasks the bank has no trajectory of: fm16"):
        load_bank(bank, ("fm16",))
    with pytest.raises(IntrobenchError, match="is left to train on"):
        load_bank(bank, ("mnist2", "mnist3"))


def _row_stats() -> dict:
    """A leaderboard row with every field row_cells reads."""
    return {"variant": "introspection @20", "forecaster": "introspection", "finished": 1, "diverged": 0,
            "failed": 0, "scored": 1, "reached": 1, "steps_median": 20, "steps_min": 20, "steps_max": 20,
            "median_curve_step": 20, "speedup_median": None, "speedup_ci95": None, "max_accuracy_median": 0.5,
            "max_accuracy_min": 0.5, "max_accuracy_max": 0.5, "accuracy_at": {}, "jumps_made": 0,
            "wall_clock": 1.0, "forecast_seconds": 0.0, "stopped": 0}
