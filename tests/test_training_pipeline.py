import pytest
import torch

from benchmark.errors import ConfigError
from predictors import create_forecaster
from predictors.introspection import load_net
from predictors.training import PipelineConfig, build_examples, train_forecaster


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
