import math

import pytest
import torch
from torch import nn

from benchmark import loop, scoring
from benchmark.config import RunConfig
from benchmark.data import TensorData
from benchmark.errors import ConfigError
from benchmark.run import run


def test_same_seed_same_curve(data_dir):
    cfg = RunConfig(task="mnist3", reduced=True, steps=60, eval_every=20, seed=3, data_dir=str(data_dir))
    a, b = run(cfg, progress=False), run(cfg, progress=False)
    assert [p["accuracy"] for p in a.curve] == [p["accuracy"] for p in b.curve]
    assert [p["loss"] for p in a.curve] == [p["loss"] for p in b.curve]
    other = run(RunConfig(**{**cfg.to_dict(), "seed": 4}), progress=False)
    assert [p["accuracy"] for p in other.curve] != [p["accuracy"] for p in a.curve]


def _toy_data(n=64, channels=1):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, 4, 4), dtype=torch.uint8, generator=g)
    y = (x.float().mean(dim=(1, 2, 3)) > 127).long()
    return TensorData(x, y, x[:32], y[:32], 2)


def test_nan_loss_ends_as_diverged_not_a_crash():
    class BlowsUp(nn.Module):  # fine for three steps, then its loss is NaN
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 2)
            self.calls = 0

        def forward(self, x):
            self.calls += self.training
            out = self.fc(x.flatten(1))
            return out * float("nan") if self.calls > 3 else out

    model = BlowsUp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spec = loop.LoopSpec(steps=50, batch_size=16, eval_every=10, target=0.9)
    result = loop.train(model, opt, _toy_data(), spec, progress=False)
    assert result.summary["status"] == "diverged"
    assert result.curve[-1]["phase"] == "diverged" and not math.isfinite(result.curve[-1]["loss"])
    # the loop reads the loss only at grid evaluations: the NaN from step 4 is caught at step 10
    assert result.curve[-1]["step"] == 10
    assert result.summary["steps_to_target"] is None
    assert scoring.grid_curve(result.curve, 10, 50)[1:] == [{"step": s, "accuracy": 0.0} for s in (10, 20, 30, 40, 50)]


def test_the_loop_reads_nothing_back_from_the_device_between_evaluations(monkeypatch):
    """Every .item()/bool()/float() of a tensor would stall a GPU; only evaluations may read values back."""
    reads = []
    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, _name=name, **k):
            reads.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spec = loop.LoopSpec(steps=200, batch_size=16, eval_every=100, target=0.9)
    loop.train(model, opt, _toy_data(), spec, progress=False)
    # 3 evaluations (steps 0, 100, 200) and 2 grid loss checks; a read per step would make it >= 200
    assert 0 < len(reads) <= 3 * 2 + 2 * 2, reads


def test_summary_is_scored_on_the_grid():
    curve = [{"step": s, "accuracy": a, "phase": "eval"} for s, a in [(0, 0.1), (10, 0.5), (20, 0.9), (30, 0.8), (40, 0.9)]]
    spec = loop.LoopSpec(steps=40, batch_size=1, eval_every=10, target=0.85)
    s = loop.summarize(curve, spec, "finished")
    assert (s["steps_to_target"], s["max_accuracy"], s["max_accuracy_step"], s["eval_every"]) == (20, 0.9, 20, 10)
    assert s["accuracy_at"] == {"25": 0.5, "50": 0.9, "75": 0.8, "100": 0.9}
    spec.target = 0.95
    assert loop.summarize(curve, spec, "finished")["steps_to_target"] is None
    other = [dict(p, accuracy=p["accuracy"] - 0.1) for p in curve]
    third = [dict(p, accuracy=p["accuracy"] + 0.05) for p in curve]
    assert [round(p["accuracy"], 6) for p in scoring.median_curve([curve, other, third])] == [0.1, 0.5, 0.9, 0.8, 0.9]


def test_summary_fields(data_dir):
    result = run(RunConfig(task="mnist3", reduced=True, steps=20, eval_every=10, target=0.2, data_dir=str(data_dir)),
                 progress=False)
    s = result.summary
    for key in ("steps_to_target", "max_accuracy", "max_accuracy_step", "final_accuracy", "wall_clock",
                "seconds_to_target", "peak_memory_bytes", "accuracy_at", "status"):
        assert key in s
    assert s["peak_memory_bytes"] > 0


@pytest.mark.parametrize("field,value", [("steps", 0), ("steps", -5), ("eval_every", 0), ("seed", -1),
                                         ("device", "tpu"), ("target", 1.5)])
def test_bad_run_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        RunConfig(task="mnist3", **{field: value})


def test_stop_at_target_ends_at_the_first_grid_crossing_and_says_so(data_dir):
    cfg = RunConfig(task="mnist3", reduced=True, steps=200, eval_every=20, target=0.6, seed=1,
                    forecaster="extrapolate", forecaster_params={"ratio": 1.3}, jumps=(50, 90),
                    data_dir=str(data_dir))
    full = run(cfg, progress=False)
    stopped = run(RunConfig(**{**cfg.to_dict(), "stop_at_target": True}), progress=False)
    reached = full.summary["steps_to_target"]
    assert reached is not None and reached < 200, "the target must be reached early for this test to mean anything"
    assert stopped.summary["stopped_at"] == stopped.summary["steps_to_target"] == reached
    assert full.summary["stopped_at"] is None and stopped.summary["status"] == "finished"
    assert stopped.curve[-1]["step"] == reached  # nothing trained after the answer was known
    assert [p["accuracy"] for p in stopped.curve] == [p["accuracy"] for p in full.curve[:len(stopped.curve)]]
    assert stopped.summary["accuracy_at"]["100"] is None  # never trained that far: unknown, not the last value
    assert RunConfig(task="mnist3").key() != RunConfig(task="mnist3", stop_at_target=True).key()
    with pytest.raises(ConfigError, match="^stop_at_target: "):
        RunConfig(task="mnist3", stop_at_target="yes")


def test_bf16_and_channels_last_reach_the_model_in_training_and_evaluation():
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(64, 2)
            self.seen = set()

        def forward(self, x):
            h = self.conv(x)
            self.seen.add((self.training, x.is_contiguous(memory_format=torch.channels_last), h.dtype))
            return self.fc(h.float().flatten(1))

    model = Probe().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spec = loop.LoopSpec(steps=20, batch_size=16, eval_every=10, target=None, precision="bf16", channels_last=True)
    result = loop.train(model, opt, _toy_data(channels=3), spec, progress=False)
    assert result.summary["status"] == "finished"
    assert model.seen == {(True, True, torch.bfloat16), (False, True, torch.bfloat16)}
    plain = Probe()
    loop.train(plain, torch.optim.SGD(plain.parameters(), lr=0.1), _toy_data(channels=3),
               loop.LoopSpec(steps=20, batch_size=16, eval_every=10, target=None), progress=False)
    assert plain.seen == {(True, False, torch.float32), (False, False, torch.float32)}


def test_a_run_records_how_it_computed(data_dir):
    from benchmark.run import resolved_config

    cfg = RunConfig(task="mnist1", reduced=True, steps=20, eval_every=10, forecaster="extrapolate", jumps=[10],
                    precision="bf16", channels_last=True, data_dir=str(data_dir))
    assert {k: resolved_config(cfg)[k] for k in ("precision", "channels_last", "deterministic")} == \
        {"precision": "bf16", "channels_last": True, "deterministic": False}
    assert resolved_config(RunConfig(task="mnist1"))["precision"] == "fp32"  # the paper's tasks: fp32, as published
    result = run(cfg, progress=False)
    assert result.summary["status"] == "finished" and result.summary["jumps"] == [10]
    with pytest.raises(ConfigError, match="^precision: must be one of fp32, bf16"):
        RunConfig(task="mnist1", precision="fp8")


def test_a_cpu_evaluates_in_small_batches_and_scores_as_a_batch_of_1000_does(data_dir):
    """The CPU's evaluation batch (loop.EVAL_BATCH) is a speed setting, not a result: on real MNIST, mnist2's
    convolutional network scores the same accuracy at every evaluation as at a batch of 1000 while it learns,
    and evaluates in batches of 100."""
    from benchmark.data import load_dataset
    from tasks import create_task

    task = create_task("mnist2")
    data = load_dataset("mnist", data_dir, train_subset=500, test_subset=1000)
    seen = []

    def curve(eval_batch):
        torch.manual_seed(0)
        model = task.model(10)
        model.register_forward_pre_hook(lambda m, args: None if m.training else seen.append(args[0].shape[0]))
        spec = loop.LoopSpec(steps=40, batch_size=50, eval_every=10, target=None, eval_batch_size=eval_batch)
        out = loop.train(model, task.optimizer(model.parameters()), data, spec, seed=0, progress=False)
        return [p["accuracy"] for p in out.curve]

    small = curve(None)
    assert small == curve(1000) and small[-1] > small[0] + 0.5  # it learned, and scored alike throughout
    assert loop.EVAL_BATCH["cpu"] == 100 and seen == [100] * 50 + [1000] * 5  # 5 evaluations of 1,000 images each
