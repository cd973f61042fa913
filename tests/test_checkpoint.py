"""Trial checkpoints: a run killed halfway resumes from its checkpoint and ends exactly as if never stopped."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from benchmark import loop
from benchmark.checkpoint import Checkpoint, progress_path
from benchmark.config import RunConfig
from benchmark.data import load_dataset
from benchmark.recorder import load_history
from benchmark.run import load_run, run

TIMING = ("seconds", "wall_clock", "eval_seconds", "peak_memory_bytes", "forecast_seconds")


class Killed(Exception):
    pass


def untimed(items):
    return [{k: v for k, v in item.items() if k not in TIMING} for item in items]


def kill_at(step):
    def on_eval(point):  # the process dies at this step's first evaluation, before its checkpoint
        if point["step"] >= step:
            raise Killed

    return on_eval


# Each case crosses what a checkpoint must carry: snapshots still to be read by a later jump, a settling guard's
# jump still to be judged (killed at 12: saved at 10, judged at 15 after the resume), a line search, dropout and
# Adam (n0's global random state and moments), a learning-rate schedule and momentum (mnist2), flips (c10_16).
CASES = {
    "mnist3 introspection, settling guard": (dict(task="mnist3", forecaster="introspection", guard="settle",
                                                  settle_steps=8), 12),
    "mnist2 deltanet, line-search guard": (dict(task="mnist2", forecaster="deltanet", guard="line"), 17),
    "c10_16 extrapolate, halving guard": (dict(task="c10_16", forecaster="extrapolate", guard=True), 13),
    "n0 baseline (dropout, Adam)": (dict(task="n0"), 22),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_killed_halfway_resumes_from_its_checkpoint_and_ends_as_the_uninterrupted_run(case, tmp_path, data_dir):
    settings, kill = CASES[case]
    config = RunConfig(**settings, reduced=True, seed=3, eval_every=5, record_every=5)
    whole = run(config, progress=False, out_dir=tmp_path / "whole")
    path = tmp_path / "ck.pt"
    with pytest.raises(Killed):
        run(config, progress=False, checkpoint=path, checkpoint_every=0, on_eval=kill_at(kill))
    saved = torch.load(path, weights_only=True)
    assert saved["step"] == (kill - 1) // 5 * 5 > 0  # the last grid evaluation before the kill
    # how far it stands, beside it, for `suite status` (which reads no model)
    assert json.loads(progress_path(path).read_text()) == {"step": saved["step"], "steps": 30}
    seen, jumps = [], []
    resumed = run(config, progress=False, checkpoint=path, checkpoint_every=0, out_dir=tmp_path / "resumed",
                  on_eval=seen.append, on_jump=jumps.append)
    assert untimed(resumed.curve) == untimed(whole.curve)
    assert untimed(resumed.events) == untimed(whole.events)
    if whole.events:
        assert any("guard" in e for e in whole.events)
    # the live trackers heard the whole run: the restored part replayed, then the rest as it trained; the
    # replayed evaluations are marked (a pace counts only the steps this attempt trains), and only they
    marks = [seen_point.pop("restored", False) for seen_point in seen]
    n = sum(marks)
    assert marks == [True] * n + [False] * (len(seen) - n)
    assert seen[n - 1]["step"] == saved["step"] < seen[n]["step"]
    assert untimed(seen) == untimed(whole.curve) and untimed(jumps) == untimed(whole.events)
    assert resumed.summary.pop("seconds_before_resume") == saved["elapsed"] > 0
    extra = {k: resumed.summary.pop(k) for k in ("resumed_from", "checkpoint_note")}
    assert extra == {"resumed_from": saved["step"], "checkpoint_note": f"resumed from its checkpoint at step "
                                                                       f"{saved['step']}"}
    assert {k: v for k, v in resumed.summary.items() if k not in TIMING} == \
        {k: v for k, v in whole.summary.items() if k not in TIMING}
    # the weights' trajectory, every 5 steps to the last: bitwise the uninterrupted run's
    a, b = load_history(tmp_path / "whole"), load_history(tmp_path / "resumed")
    assert torch.equal(a["steps"], b["steps"]) and torch.equal(a["weights"], b["weights"])
    assert not path.exists() and not progress_path(path).exists()  # ended: its result is what is kept


def test_a_checkpoint_of_another_run_or_a_torn_one_is_never_resumed_from(tmp_path, data_dir):
    config = RunConfig(task="mnist3", forecaster="extrapolate", reduced=True, seed=1)
    path = tmp_path / "ck.pt"
    with pytest.raises(Killed):
        run(config, progress=False, checkpoint=path, checkpoint_every=0, on_eval=kill_at(20))
    other = RunConfig(task="mnist3", forecaster="extrapolate", reduced=True, seed=2)
    fresh = run(other, progress=False)
    result = run(other, progress=False, checkpoint=path)
    assert untimed(result.curve) == untimed(fresh.curve) and "resumed_from" not in result.summary
    assert result.summary["checkpoint_note"].startswith(f"checkpoint {path} is of another run")
    assert not path.exists()
    path.write_bytes(b"half a file")
    result = run(other, progress=False, checkpoint=path)
    assert untimed(result.curve) == untimed(fresh.curve)
    assert result.summary["checkpoint_note"].startswith(f"checkpoint {path} unreadable")


def test_a_run_resumed_on_another_machine_names_both_in_order(tmp_path, data_dir, monkeypatch):
    import benchmark.run as run_module

    config = RunConfig(task="mnist3", forecaster="extrapolate", reduced=True, seed=1)
    avx512, avx2 = ({"cpu": "AMD EPYC", "kernels": k, "torch": "2.14.1"} for k in ("AVX512", "AVX2"))
    for first, then, named in ((avx512, avx2, [avx512, avx2]), (avx2, avx2, None)):
        path = tmp_path / f"{first['kernels']}-{then['kernels']}.pt"
        monkeypatch.setattr(run_module, "platform_of", lambda device, p=first: p)
        with pytest.raises(Killed):
            run(config, progress=False, checkpoint=path, checkpoint_every=0, on_eval=kill_at(20))
        monkeypatch.setattr(run_module, "platform_of", lambda device, p=then: p)
        result = run(config, progress=False, checkpoint=path)
        assert result.summary["resumed_from"] > 0 and result.summary["platform"] == then
        # its curve holds both machines' steps; on one machine, nothing more to say
        assert result.summary.get("platforms") == named


def test_a_streamed_dataset_keeps_no_checkpoint_and_says_why(tiny_imagefolder, tmp_path):
    data = load_dataset("imagenet", tiny_imagefolder, image_size=16, workers=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, data.num_classes))
    spec = loop.LoopSpec(steps=4, batch_size=4, eval_every=1, target=None, image_size=16)
    saver = Checkpoint(tmp_path / "ck.pt", "k", every=0)
    result = loop.train(model, torch.optim.SGD(model.parameters(), lr=0.1), data, spec, progress=False,
                        checkpoint=saver)
    assert result.summary["status"] == "finished" and not saver.path.exists()
    assert saver.note == "a streamed dataset cannot resume mid-epoch: this run keeps no checkpoint"


def test_the_cli_run_killed_with_sigkill_resumes_where_its_checkpoint_stood(tmp_path, data_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "benchmark.cli", "run", "mnist3", "--reduced", "--steps", "3000",
            "--forecaster", "extrapolate", "--jumps", "1000,2000", "--no-progress", "--json"]
    path = tmp_path / "ck.pt"
    bad = subprocess.run([*args, "--checkpoint-every", "5"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "--checkpoint-every needs --checkpoint FILE" in bad.stderr
    proc = subprocess.Popen([*args, "--checkpoint", str(path), "--checkpoint-every", "0.01", "--out",
                             str(tmp_path / "cut")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: what is on disk is all there is
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    step = torch.load(path, weights_only=True)["step"]
    assert 0 < step < 3000
    again = subprocess.run([*args, "--checkpoint", str(path), "--out", str(tmp_path / "resumed")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"introbench: resumed from its checkpoint at step {step}" in again.stderr
    whole = subprocess.run([*args, "--out", str(tmp_path / "whole")], capture_output=True, text=True, env=env,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    a, b = load_run(tmp_path / "whole"), load_run(tmp_path / "resumed")
    assert untimed(b["curve"]) == untimed(a["curve"]) and untimed(b["events"]) == untimed(a["events"])
    assert json.loads(again.stdout)["steps_to_target"] == json.loads(whole.stdout)["steps_to_target"]
    assert not path.exists()


def test_a_committed_store_keeps_its_cut_trials_checkpoints_in_git_but_not_its_forks():
    # the next session's machine is a new one: a checkpoint left out of git would be a cut trial lost
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=root).returncode == 0

    assert not ignored("docs/results/paper-cifar/checkpoints/0123456789abcdef.pt")
    assert not ignored("docs/results/paper-cifar/checkpoints/0123456789abcdef.progress.json")
    assert ignored("docs/results/paper-cifar/checkpoints/forks/0123456789abcdef/w-0.pt")  # written again
    assert ignored("docs/results/paper-cifar/checkpoints/0123456789abcdef.pt.tmp")
    assert ignored("results/checkpoints/0123456789abcdef.pt")  # a user's own results folder stays theirs
