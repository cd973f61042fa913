import pytest

from benchmark.errors import ConfigError
from benchmark.tracking import _history, resolve_mode, wandb_env


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


def test_jump_points_merge_into_one_row_per_step():
    curve = [{"step": 0, "accuracy": 0.1, "loss": None, "phase": "eval"},
             {"step": 10, "accuracy": 0.5, "loss": 1.0, "phase": "pre_jump"},
             {"step": 10, "accuracy": 0.4, "loss": 1.0, "phase": "post_jump"},
             {"step": 20, "accuracy": 0.6, "loss": 0.8, "phase": "eval"}]
    events = [{"step": 10, "mean_abs_change": 0.01, "seconds": 0.2}]
    rows = dict(_history(curve, events))
    assert list(rows) == [0, 10, 20]
    assert rows[10] == {"accuracy_before_jump": 0.5, "accuracy": 0.4, "loss": 1.0, "jump": 1,
                        "jump_mean_abs_change": 0.01, "jump_seconds": 0.2}
