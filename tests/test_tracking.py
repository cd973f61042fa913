import pytest

from benchmark.errors import ConfigError
from benchmark.tracking import resolve_mode, wandb_env


def test_offline_unless_a_key(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert resolve_mode("auto") == ("offline", None)
    mode, note = resolve_mode("online")
    assert mode == "offline" and "no WANDB_API_KEY" in note
    assert resolve_mode("disabled") == ("disabled", None)
    with pytest.raises(ConfigError, match="wandb: must be one of auto, online, offline, disabled"):
        resolve_mode("cloud")


def test_unreachable_server_stays_offline_without_hanging(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there: refused at once
    mode, note = resolve_mode("auto")
    assert mode == "offline" and "127.0.0.1 is not reachable" in note


def test_every_wandb_path_is_under_the_results_folder(tmp_path):
    env = wandb_env(tmp_path)
    for key in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        assert env[key].startswith(str(tmp_path))


def wandb_records(run_dir) -> list[dict]:
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(run_dir)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def history_rows(run_dir) -> dict[int, dict]:
    """step -> the metrics W&B holds for it (and its _runtime), read back from the run's own log."""
    rows = {}
    for rec in wandb_records(run_dir):
        if rec.get("type") == "history":
            item = dict(rec["history"]["item"])
            step = int(item.pop("_step"))
            rows[step] = {k: v for k, v in item.items() if k != "_timestamp"}
    return rows


def test_a_trial_run_logs_each_evaluation_and_jump_as_it_happens(tmp_path):
    from benchmark.tracking import TrialRun, log_resolution, segments, wandb_environment

    trial = {"suite": "s", "key": "abc123", "label": "mnist3 extrapolate s0", "target_mode": "baseline_max"}
    with wandb_environment(tmp_path):
        live = TrialRun(trial, {"task": "mnist3", "steps": 20, "jumps": [10], "target": None}, "offline", attempt=2)
        live.evaluation({"step": 0, "accuracy": 0.1, "loss": None, "phase": "eval"})
        live.evaluation({"step": 10, "accuracy": 0.5, "loss": 1.0, "phase": "pre_jump"})
        live.evaluation({"step": 10, "accuracy": 0.4, "loss": 1.0, "phase": "post_jump"})
        live.jump({"step": 10, "mean_abs_change": 0.01, "seconds": 0.2})
        live.evaluation({"step": 20, "accuracy": 0.6, "loss": 0.8, "phase": "eval"})
        folder = live.finish(summary={"status": "finished", "steps_to_target": None, "max_accuracy": 0.6})
        rows = history_rows(folder)
        assert list(rows) == [0, 10, 20]
        assert rows[10].pop("_runtime") >= 0
        assert rows[10] == {"accuracy_before_jump": 0.5, "accuracy": 0.4, "loss": 1.0, "jump": 1,
                            "jump_mean_abs_change": 0.01, "jump_seconds": 0.2}  # one row per step, merged
        later = log_resolution(folder, trial, {"target": 0.55}, {"status": "finished", "steps_to_target": 20,
                                                                  "target": 0.55}, "offline")
    assert [str(p) for p in segments(folder)] == [folder, later]  # one run id, two segments for `wandb sync`
    from tests.test_sweep import wandb_inspect

    first, last = wandb_inspect(folder), wandb_inspect(later)
    assert first["config"]["attempt"] == 2 and first["summary"]["max_accuracy"] == 0.6
    assert last["summary"]["target"] == 0.55 and last["summary"]["steps_to_target"] == 20


def test_a_copied_trial_gets_a_wandb_run_replayed_from_its_stored_curve(tmp_path):
    from benchmark.tracking import log_copy, wandb_environment
    from tests.test_sweep import wandb_inspect

    trial = {"suite": "beyond", "key": "k1", "label": "mnist1 none s0", "target_mode": "baseline_max"}
    curve = [{"step": 0, "accuracy": 0.1, "loss": None, "phase": "eval"},
             {"step": 10, "accuracy": 0.5, "loss": 1.0, "phase": "pre_jump"},
             {"step": 10, "accuracy": 0.4, "loss": 1.0, "phase": "post_jump"},
             {"step": 20, "accuracy": 0.6, "loss": 0.8, "phase": "eval"}]
    row = {"config": {"task": "mnist1", "steps": 20, "target": 0.55}, "curve": curve,
           "events": [{"step": 10, "mean_abs_change": 0.01, "seconds": 0.2}],
           "summary": {"status": "finished", "steps_to_target": 20, "max_accuracy": 0.6, "target": 0.55,
                       "copied_from": "/elsewhere/results.sqlite"}}
    assert log_copy(trial, row, "disabled") is None
    with wandb_environment(tmp_path):
        folder = log_copy(trial, row, "offline")
    assert folder.startswith(str(tmp_path))
    rows = history_rows(folder)
    assert list(rows) == [0, 10, 20] and rows[20]["accuracy"] == 0.6
    assert {k: rows[10][k] for k in ("accuracy_before_jump", "accuracy", "jump")} == {
        "accuracy_before_jump": 0.5, "accuracy": 0.4, "jump": 1}
    run = wandb_inspect(folder)
    assert run["config"]["copied_from"] == "/elsewhere/results.sqlite" and run["config"]["trial_key"] == "k1"
    assert run["summary"]["steps_to_target"] == 20 and run["summary"]["target"] == 0.55
