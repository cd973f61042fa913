import copy
import dataclasses

import pytest
import torch
from torch import nn

from benchmark.config import RunConfig
from benchmark.errors import ConfigError
from benchmark.jumps import JumpEngine, snapshot_step, validate_jumps
from benchmark.run import run
from predictors import create_forecaster


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8)
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(torch.relu(self.bn(self.fc(x)))) * self.frozen.sum()


def train(model, engine, steps, opt=None):
    opt = opt or torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    engine.on_start(model, opt)
    g = torch.Generator().manual_seed(0)
    for step in range(1, steps + 1):
        x = torch.randn(16, 8, generator=g)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        engine.on_step(step, model, opt, evaluate=lambda phase: 0.5)
    return opt


def test_jump_changes_exactly_the_trainable_parameters():
    torch.manual_seed(0)
    model = Net()
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [20], steps=20)
    train(model, engine, 19)
    before_params = {n: p.detach().clone() for n, p in model.named_parameters()}
    before_buffers = {n: b.clone() for n, b in model.named_buffers()}
    w7 = {n: engine.history.snapshots[14][i] for i, (n, p) in enumerate(
        (n, p) for n, p in model.named_parameters() if p.requires_grad)}
    # Step 20 by hand: one optimizer step, then the jump.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    at_t = {n: p.detach().clone() for n, p in model.named_parameters()}
    engine.on_step(20, model, opt, evaluate=lambda phase: 0.5)
    for n, p in model.named_parameters():
        if p.requires_grad:
            expected = at_t[n] + (1.0 / 0.3) * (at_t[n] - w7[n])
            assert torch.allclose(p, expected, atol=1e-6), n
            assert not torch.equal(p, before_params[n])
        else:
            assert torch.equal(p, before_params[n])
    for n, b in model.named_buffers():
        assert torch.equal(b, before_buffers[n]), f"buffer {n} was touched"


def test_history_holds_only_what_the_schedule_needs():
    model = Net()
    jumps = [10, 20, 30]
    engine = JumpEngine(create_forecaster("quadratic"), jumps, steps=30)
    engine.on_start(model, None)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    needed = {snapshot_step(f, t) for t in jumps for f in (0.0, 0.4, 0.7)}
    seen_counts = []
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    g = torch.Generator().manual_seed(0)
    for step in range(1, 31):
        model(torch.randn(4, 8, generator=g)).sum().backward()
        opt.step()
        opt.zero_grad()
        engine.on_step(step, model, opt, evaluate=lambda phase: 0.0)
        held = set(engine.history.snapshots)
        assert held <= needed
        # nothing is held once no later jump reads it
        assert all(any(s in engine.plan[t] for t in jumps if t > step) for s in held)
        assert engine.history.bytes == len(held) * param_bytes
        seen_counts.append(len(held))
    assert engine.history.snapshots == {}
    # jumps 10, 20, 30 need {0,4,7}, {8,14}, {12,21}: at most 0,4,7,8 held before jump 10, then 0,8,12,14
    assert max(seen_counts) == 4
    assert engine.summary()["history_peak_copies"] == 4.0


def test_optimizer_state_kept_unless_reset():
    for reset in (False, True):
        torch.manual_seed(0)
        model = Net()
        engine = JumpEngine(create_forecaster("extrapolate"), [10], steps=10, reset_optimizer=reset)
        opt = train(model, engine, 10)
        assert (len(opt.state) == 0) is reset


def test_history_on_host_gives_the_same_jump():
    results = []
    for on_host in (False, True):
        torch.manual_seed(0)
        model = Net()
        train(model, JumpEngine(create_forecaster("quadratic"), [10, 15], steps=20, history_on_host=on_host), 20)
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_chunking_does_not_change_the_result():
    results = []
    for chunk in (1 << 18, 7):
        torch.manual_seed(0)
        model = Net()
        train(model, JumpEngine(create_forecaster("introspection"), [10, 15], steps=20, chunk_size=chunk), 20)
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("jumps,message", [([], "at least one jump"), ([0, 5], "after step 0"),
                                           ([5, 200], "past the budget"), ([8, 5], "increasing order"),
                                           ([5, 5], "duplicated"), ([1], "too early")])
def test_impossible_schedules(jumps, message):
    with pytest.raises(ConfigError, match=message):
        validate_jumps(jumps, 100, (0.0, 0.4, 0.7))


def test_run_logs_each_jump_and_evaluates_around_it(data_dir):
    result = run(RunConfig(task="mnist3", reduced=True, forecaster="extrapolate", steps=30, eval_every=10,
                           data_dir=str(data_dir)), progress=False)
    events = result.events
    assert [e["step"] for e in events] == [10, 15, 20]
    for e in events:
        assert set(e) == {"step", "seconds", "mean_abs_change", "accuracy_before", "accuracy_after"}
        assert e["mean_abs_change"] > 0
    phases = [(p["step"], p["phase"]) for p in result.curve]
    assert (15, "pre_jump") in phases and (15, "post_jump") in phases
    assert result.summary["forecast_seconds"] > 0 and result.summary["jumps"] == [10, 15, 20]


def test_baseline_never_jumps_even_with_jump_points(data_dir):
    result = run(RunConfig(task="mnist3", reduced=True, forecaster="none", jumps=(5, 10), steps=20, eval_every=10,
                           data_dir=str(data_dir)), progress=False)
    assert result.events == [] and result.summary["jump_points"] == []


@pytest.mark.parametrize("forecaster", ["introspection", "extrapolate"])
def test_a_jump_on_channels_last_weights_equals_the_jump_on_contiguous_ones(forecaster):
    """The engine flattens each weight in its memory order; the result must not depend on the layout, nor on a
    snapshot kept in another layout than the weight (a pinned host copy is contiguous)."""
    def conv_net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 1), nn.Conv2d(4, 4, 3, groups=4))

    def trajectory(model, engine, relayout_snapshots=False):
        params = [p for p in model.parameters() if p.requires_grad]
        start = [p.detach().clone() for p in params]
        engine.on_start(model, None)
        for step in range(1, 11):
            with torch.no_grad():  # a made-up trajectory, the same logical values in either layout
                for p, p0 in zip(params, start):
                    p.copy_(p0 * (1 + 0.05 * step) + 0.01 * step ** 2)
            if relayout_snapshots:
                engine.history.snapshots = {s: [c.contiguous() for c in v] for s, v in engine.history.snapshots.items()}
            engine.on_step(step, model, None, evaluate=lambda phase: 0.5)
        return [p.detach() for p in params]

    plain = trajectory(conv_net(), JumpEngine(create_forecaster(forecaster), [10], steps=10, chunk_size=7))
    for relayout in (False, True):
        model = conv_net().to(memory_format=torch.channels_last)
        assert not model[0].weight.is_contiguous()
        cl = trajectory(model, JumpEngine(create_forecaster(forecaster), [10], steps=10, chunk_size=7), relayout)
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last)  # still channels_last after it
        for a, b in zip(plain, cl):
            assert torch.allclose(a, b, atol=1e-6)
        assert not all(torch.allclose(a, p0) for a, p0 in zip(cl, [p.detach() for p in conv_net().parameters()]))


@pytest.mark.parametrize("mode,losses,decision,scale", [
    ("halve", [1.0, 0.5], "kept", 1.0), ("halve", [1.0, 2.0, 0.9], "halved", 0.5),
    ("halve", [1.0, 2.0, 1.5], "undone", 0.0),
    # line: the losses at 1, 1/2, 1/4, 1/8 of the jump; the lowest wins, unless none beats not jumping
    ("line", [1.0, 0.9, 0.95, 0.97, 0.99], "kept", 1.0), ("line", [1.0, 1.2, 0.8, 0.7, 0.9], "scaled", 0.25),
    ("line", [1.0, 0.8, 0.8, 0.9, 0.9], "kept", 1.0), ("line", [1.0, 2.0, 1.5, 1.2, 1.1], "undone", 0.0)])
def test_a_guarded_jump_keeps_the_part_of_it_the_loss_allows(mode, losses, decision, scale):
    """The guard's loss before the jump, then at the fractions of it its rule tries: exactly the chosen
    fraction of the jump remains (w_t + scale (forecast - w_t))."""
    torch.manual_seed(0)
    model = Net()
    answers = iter(losses)
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [20], steps=20,
                        guard=lambda m: next(answers), guard_mode=mode)
    train(model, engine, 19)
    params = [p for p in model.parameters() if p.requires_grad]
    w_t = [p.detach().clone() for p in params]
    forecast = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [20], steps=20)
    forecast.on_start(model, None)
    forecast.history.snapshots = dict(engine.history.snapshots)  # the same history: the unguarded jump's weights
    forecast.jump(20)
    jumped = [p.detach().clone() for p in params]
    for p, w in zip(params, w_t):
        p.data.copy_(w)
    engine.on_step(20, model, torch.optim.SGD(params, lr=0.0), evaluate=lambda phase: 0.5)
    assert next(answers, None) is None  # every loss the rule needed was asked for, and no more
    for p, w, j in zip(params, w_t, jumped):
        assert torch.allclose(p, w + scale * (j - w), atol=1e-6)
    event = engine.events[-1]
    assert event["guard"] == decision and event["loss_before"] == 1.0 and event["loss_jumped"] == losses[1]
    assert engine.summary()["guard"][decision] == 1
    if mode == "line":
        assert event["scale"] == scale and event["loss_at"] == dict(zip(("1", "0.5", "0.25", "0.125"), losses[1:]))
    with pytest.raises(ConfigError, match="^guard: must be one of halve, line, settle"):
        JumpEngine(create_forecaster("extrapolate"), [20], steps=20, guard=lambda m: 0.0, guard_mode="tight")


@pytest.mark.parametrize("settled,decision", [(1.2, "undone"), (0.9, "kept")])
def test_a_settling_guard_judges_a_jump_later_and_undoes_it_whole(settled, decision):
    """guard settle: the jump at 10 stands while training goes on; at the next jump point (40, sooner than
    10 + SETTLE_STEPS) its loss is judged against the loss before it. Above it, the weights and the optimizer's
    state go back to those of step 10, and the snapshot taken since (step 28, read by the jump at 40) is of w_10
    too, so the jump at 40 forecasts no move at all; at or below it, training goes on from where it is. The jump
    at 40 is never judged: the run ends first."""
    torch.manual_seed(0)
    model = Net()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-2)
    # the guard's losses: before and after the jump at 10, when judging it, before and after the jump at 40
    answers = iter([1.0, 3.0, settled, 1.0, 3.0])
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [10, 40], steps=40,
                        guard=lambda m: next(answers), guard_mode="settle")
    engine.on_start(model, opt)
    g = torch.Generator().manual_seed(0)
    phases = []
    for step in range(1, 41):
        loss = model(torch.randn(16, 8, generator=g)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 10:
            w_10 = [p.detach().clone() for p in params]
            state_10 = copy.deepcopy(opt.state_dict())
        engine.on_step(step, model, opt, evaluate=lambda phase: phases.append((step, phase)) or 0.5)
        if step == 10:
            assert engine.events[0]["guard"] == "pending" and not all(torch.equal(p, w) for p, w in zip(params, w_10))
    assert next(answers, None) is None
    first = engine.events[0]
    assert first["guard"] == decision and first["settled_at"] == 40 and first["loss_settled"] == settled
    undone = decision == "undone"
    assert ((40, "post_undo") in phases) == undone and ("accuracy_undone" in first) == undone
    assert all(torch.allclose(p, w, atol=1e-6) for p, w in zip(params, w_10)) == undone
    if undone:
        for a, b in zip(opt.state_dict()["state"].values(), state_10["state"].values()):
            assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
    assert engine.summary()["guard"] == {"kept": int(not undone), "undone": int(undone), "unsettled": 1}


def test_a_settling_guard_waits_settle_steps_when_set():
    """settle_steps=15: the jump at 10 is judged at step 25, not at the next jump (40), and undone there;
    the run's config names the wait (500 spelled out is the default: same key, no mark in the label)."""
    torch.manual_seed(0)
    model = Net()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-2)
    answers = iter([1.0, 3.0, 2.0, 1.0, 3.0])
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [10, 40], steps=40,
                        guard=lambda m: next(answers), guard_mode="settle", settle_steps=15)
    engine.on_start(model, opt)
    phases = []
    for step in range(1, 41):
        model(torch.randn(16, 8)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
        engine.on_step(step, model, opt, evaluate=lambda phase: phases.append((step, phase)) or 0.5)
    first = engine.events[0]
    assert first["settled_at"] == 25 and first["guard"] == "undone" and (25, "post_undo") in phases
    assert engine.summary()["guard"] == {"kept": 0, "undone": 1, "unsettled": 1}  # the run ended before 55
    cfg = RunConfig(task="mnist3", forecaster="extrapolate", jumps=[6000], guard="settle", settle_steps=1000)
    assert cfg.key() != dataclasses.replace(cfg, settle_steps=None).key()
    assert dataclasses.replace(cfg, settle_steps=500).key() == dataclasses.replace(cfg, settle_steps=None).key()
    assert dataclasses.replace(cfg, settle_steps=500).settle_steps is None
    with pytest.raises(ConfigError, match="^settle_steps: sets how long the settling guard waits, so it needs "
                                          "guard settle; got guard 'line'"):
        dataclasses.replace(cfg, guard="line")
    with pytest.raises(ConfigError, match="^settle_steps: must be a positive integer, got 0"):
        dataclasses.replace(cfg, settle_steps=0)


@pytest.mark.parametrize("guard,decisions", [(True, ("kept", "halved", "undone")),
                                             ("line", ("kept", "scaled", "undone")),
                                             ("settle", ("kept", "undone", "unsettled"))])
def test_a_guarded_run_records_each_decision_and_has_its_own_key(data_dir, guard, decisions):
    cfg = RunConfig(task="mnist3", reduced=True, steps=30, eval_every=10, forecaster="extrapolate",
                    forecaster_params={"ratio": 2.0}, jumps=[10, 20], guard=guard, data_dir=str(data_dir))
    result = run(cfg, progress=False)
    assert [e["guard"] in decisions for e in result.events] == [True, True]
    assert set(result.summary["guard"]) == set(decisions)
    assert sum(result.summary["guard"].values()) == 2
    import dataclasses

    assert len({dataclasses.replace(cfg, guard=g).key() for g in (False, True, "line", "settle")}) == 4
    with pytest.raises(ConfigError, match="^guard: must be true, false, line or settle, got 1"):
        dataclasses.replace(cfg, guard=1)


def test_a_jump_the_guard_undoes_leaves_training_exactly_as_without_it(data_dir):
    """Guarded variants are paired with the baseline on its seeds: an undone jump must be a no-op, its probe
    of the training loss touching neither the weights, the optimizer, nor the batches that follow."""
    base = dict(task="mnist3", reduced=True, steps=30, eval_every=5, data_dir=str(data_dir))
    plain = run(RunConfig(**base), progress=False)
    guarded = run(RunConfig(**base, forecaster="extrapolate", forecaster_params={"ratio": 50.0}, jumps=[10, 20],
                            guard=True), progress=False)
    assert [e["guard"] for e in guarded.events] == ["undone", "undone"]

    def curve(result):
        return [(c["step"], c["accuracy"], c["loss"]) for c in result.curve if c["phase"] in ("eval", "post_jump")]

    assert curve(guarded) == curve(plain)


def test_a_parameter_that_is_a_strided_view_still_jumps():
    """A parameter need not own dense memory (a slice of a larger buffer): the jump goes through a copy."""
    class Sliced(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 6)[:, ::2])  # strides (6, 2): not dense

    model = Sliced()
    assert not model.w.is_contiguous()
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [10], steps=10)
    start = model.w.detach().clone()
    engine.on_start(model, None)
    for step in range(1, 11):
        with torch.no_grad():
            model.w.copy_(start + 0.1 * step)
        engine.on_step(step, model, None, evaluate=lambda phase: 0.5)
    # w_10 + (1 / 0.3) (w_10 - w_7) = start + 1.0 + (1 / 0.3) * 0.3 = start + 2.0
    assert torch.allclose(model.w, start + 2.0, atol=1e-5)


def test_the_plateau_gate_jumps_only_once_the_training_loss_stops_falling():
    from benchmark.jumps import PlateauGate

    gate = PlateauGate(0.05, window=3)
    assert gate(100) == (False, "no loss trend yet")
    gate.observe({"step": 0, "loss": None, "phase": "eval"})
    for i, step in enumerate(range(100, 700, 100)):  # halving every interval
        gate.observe({"step": step, "loss": 0.5 ** i, "phase": "eval"})
    gate.observe({"step": 600, "loss": 1e-6, "phase": "pre_jump"})  # only regular evaluations count
    go, why = gate(600)
    assert go is False and why == "loss still falling 87.5% over the last 300 steps"
    # flat from here: the gate opens once the last window's mean is flat against the one before (a rise
    # reads as a negative fall)
    for step, loss in [(700, 0.03), (800, 0.03), (900, 0.03), (1000, 0.03), (1100, 0.03), (1200, 0.04)]:
        gate.observe({"step": step, "loss": loss, "phase": "eval"})
        assert gate(step)[0] is (step >= 1100), step
    assert gate(1200) == (True, "loss fell -11.1% over the last 300 steps (< 5%)")
    with pytest.raises(ConfigError, match="^gate: must be a fraction in"):
        PlateauGate(1.5)


def test_a_gated_schedule_skips_candidates_and_frees_their_snapshots():
    torch.manual_seed(0)
    model = Net()
    answers = {10: (False, "still falling"), 15: (True, "flat")}
    engine = JumpEngine(create_forecaster("extrapolate", ratio=2.0), [10, 15], steps=20,
                        gate=lambda step: answers[step])
    train(model, engine, 20)
    assert [e["step"] for e in engine.events] == [15]
    assert engine.summary()["gate_skipped"] == [{"step": 10, "why": "still falling"}]
    assert engine.history.snapshots == {}  # the skipped candidate's snapshot (step 7) went with it
