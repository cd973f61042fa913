import json
import os
import subprocess
import sys
import textwrap

import pytest

from benchmark import scoring
from benchmark.cli import main
from tests.test_tasks import PAPER_TASKS


def introbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_tasks_lists_every_paper_task(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in PAPER_TASKS:
        assert name in out
    assert "3,274,634" in out  # mnist1's parameter count


def test_forecasters_lists_parameters(capsys):
    assert main(["forecasters"]) == 0
    out = capsys.readouterr().out
    assert "extrapolate" in out and "ratio=1.3, base=0.7" in out and "quadratic" in out


def test_run_json_on_real_mnist(capsys, data_dir):
    assert main(["run", "mnist3", "--reduced", "--steps", "20", "--eval-every", "10", "--json", "--no-progress",
                 "--data-dir", str(data_dir)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "mnist3" and summary["status"] == "finished" and summary["steps"] == 20
    # what the numbers depend on beyond the config: the same seed on another make of CPU rounds otherwise
    import torch

    assert summary["platform"]["torch"] == torch.__version__ and summary["platform"]["cpu"]
    assert summary["platform"]["kernels"] == torch.backends.cpu.get_cpu_capability()  # AVX2, AVX512, ...


def test_a_table_prints_square_brackets_as_text(capsys):
    from benchmark.cli import _table

    _table("mnist3 [adam:1e-4]: leaderboard", ["experiment [x]"], [["mnist3 [gate 0.1]"], ["none [precision=bf16]"]])
    out = capsys.readouterr().out
    assert "mnist3 [adam:1e-4]" in out and "[x]" in out and "mnist3 [gate 0.1]" in out and "[precision=bf16]" in out


def test_a_guarded_run_prints_each_jumps_decision_and_losses(capsys, data_dir):
    assert main(["run", "mnist3", "--reduced", "--steps", "30", "--eval-every", "10", "--no-progress", "--forecaster",
                 "extrapolate", "--ratio", "2.0", "--jumps", "10,20", "--guard", "line", "--data-dir",
                 str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "guard" in out and "loss before / jumped / after" in out
    from benchmark.cli import _guard_cells

    scaled = {"guard": "scaled", "scale": 0.25, "loss_before": 1.0, "loss_jumped": 2.0,
              "loss_at": {"1": 2.0, "0.5": 1.5, "0.25": 0.9, "0.125": 0.95}}
    assert _guard_cells(scaled) == ["scaled x0.25", "1.0000 / 2.0000 / 0.9000"]
    settled = {"guard": "undone", "loss_before": 1.0, "loss_jumped": 2.0, "loss_settled": 1.1}
    assert _guard_cells(settled) == ["undone", "1.0000 / 2.0000 / 1.1000"]
    assert _guard_cells({"guard": "kept", "loss_before": 1.0, "loss_jumped": 0.9}) == ["kept", "1.0000 / 0.9000 / -"]


@pytest.mark.parametrize("args,message", [
    (["run", "mnist9"], "unknown task 'mnist9'; valid names: alexnet"),
    (["run", "mnist3", "--forecaster", "oracle"], "unknown forecaster 'oracle'; valid names:"),
    (["run", "mnist3", "--forecaster", "quadratic", "--jumps", "6000,6000"], "duplicated jump points"),
    (["run", "mnist3", "--forecaster", "quadratic", "--jumps", "8000,6000"], "increasing order"),
    (["run", "mnist3", "--forecaster", "quadratic", "--jumps", "6000,99000"], "past the budget of 15000"),
    (["run", "mnist3", "--forecaster", "quadratic", "--jumps", "0,6000"], "jumps must come after step 0"),
    (["run", "mnist3", "--forecaster", "quadratic", "--ratio", "1.0"], "ratio: must be a number > 1"),
    (["run", "mnist3", "--forecaster", "none", "--std", "0.1"], "'none' takes no parameter 'std'"),
    (["run", "mnist3", "--data-dir", "/nonexistent/x"], "MNIST not found in /nonexistent/x"),
    (["suite", "run", "smoke", "--device", "cuda"], "--device cuda needs --gpus-per-trial > 0"),
    (["suite", "run", "smoke", "--device", "cpu", "--gpus-per-trial", "1"], "--device cpu with --gpus-per-trial"),
])
def test_bad_input_is_one_clear_error(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["run", "mnist3", "--steps", "-3"], ["run", "mnist3", "--eval-every", "0"]])
def test_bad_numbers_rejected_by_the_parser(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "must be a positive whole number" in capsys.readouterr().err


def test_seeds_option_reads_lists_and_ranges_and_refuses_anything_else(capsys):
    from benchmark.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["suite", "run", "smoke", "--seeds", "3,0-1, 1"]).seeds == (0, 1, 3)
    assert parser.parse_args(["suite", "status", "smoke", "--seeds", "4"]).seeds == (4,)
    for bad, message in (("2-x", "expected seeds like 2,3 or 2-4, got '2-x'"), ("3-1", "a range low-high, got '3-1'"),
                         (",", "expected seeds like 2,3 or 2-4, got ','"), ("-1", "like 2,3 or 2-4, got '-1'")):
        with pytest.raises(SystemExit) as exc:
            main(["suite", "run", "smoke", "--seeds", bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "argument --seeds" in err and message in err, err


PLUGIN = textwrap.dedent('''
    from benchmark.data import TensorData
    from tasks import Task, create_task, register_task

    @register_task("tiny_mlp")
    def tiny_mlp():
        base = create_task("mnist3")
        return base.replace(name="tiny_mlp", steps=12, eval_every=6, jumps=(6,), train_subset=1000, test_subset=200)
''')


def test_plugin_file_registers_a_task_and_runs(tmp_path, data_dir):
    plugin = tmp_path / "my_tasks.py"
    plugin.write_text(PLUGIN)
    proc = introbench("run", "tiny_mlp", "--plugin", str(plugin), "--forecaster", "extrapolate", "--json",
                      "--no-progress", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["task"] == "tiny_mlp" and summary["jump_points"] == [6] and len(summary["jump_events"]) == 1
    listed = introbench("--plugin", str(plugin), "tasks")
    assert "tiny_mlp" in listed.stdout


def test_plugin_that_registers_a_name_twice(tmp_path):
    plugin = tmp_path / "dup.py"
    plugin.write_text("from tasks import register_task\n\n@register_task('mnist3')\ndef again():\n    pass\n")
    proc = introbench("tasks", "--plugin", str(plugin))
    assert proc.returncode == 2
    assert f"plugin {plugin}: task 'mnist3' is registered twice" in proc.stderr and "Traceback" not in proc.stderr


def test_plugin_that_fails_to_import(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text("import no_such_module_anywhere\n")
    proc = introbench("tasks", "--plugin", str(plugin))
    assert proc.returncode == 2
    assert f"plugin {plugin} failed to import: ModuleNotFoundError" in proc.stderr
    proc = introbench("tasks", "--plugin", "no.such.module")
    assert "plugin no.such.module failed to import" in proc.stderr


def test_compare_baseline_reports_both_speedups(capsys, data_dir):
    assert main(["run", "mnist3", "--reduced", "--forecaster", "extrapolate", "--compare-baseline", "--json",
                 "--no-progress", "--target", "0.3", "--data-dir", str(data_dir)]) == 0
    s = json.loads(capsys.readouterr().out)
    vs = s["vs_baseline_max"]
    # the baseline reaches its own max on the grid, at the step the max was first seen
    assert vs["target"] == s["baseline"]["max_accuracy"] and vs["baseline_steps"] == s["baseline"]["max_accuracy_step"]
    expected = scoring.paired_speedup(vs["baseline_steps"], vs["steps"], s["steps"], 0)
    assert (vs["speedup"], vs["speedup_lower_bound"]) == (pytest.approx(expected.value), False)
    assert s["steps_to_target"] and s["baseline"]["steps_to_target"]  # 30% is within reach of both
    assert s["speedup"] == pytest.approx(s["baseline"]["steps_to_target"] / s["steps_to_target"])


DATASET_PLUGIN = textwrap.dedent('''
    from benchmark.data import DatasetSpec, load_dataset, register_dataset
    from tasks import create_task, register_task


    @register_dataset("mnist_evens")
    def mnist_evens():
        def load(root, download, image_size):
            data = load_dataset("mnist", root, download=download)
            keep, test = data.y_train % 2 == 0, data.y_test % 2 == 0
            return type(data)(data.x_train[keep], data.y_train[keep] // 2, data.x_test[test], data.y_test[test] // 2, 5)

        return DatasetSpec("mnist_evens", load, 5, "MNIST/raw/ (even digits only)", (0.1307,), (0.3081,))


    @register_task("mnist3_evens")
    def mnist3_evens():
        return create_task("mnist3", reduced=True).replace(name="mnist3_evens", dataset="mnist_evens", normalize=True)
''')


def test_a_plugin_dataset_and_task_run_with_no_patching(tmp_path, data_dir):
    plugin = tmp_path / "evens.py"
    plugin.write_text(DATASET_PLUGIN)
    proc = introbench("run", "mnist3_evens", "--plugin", str(plugin), "--json", "--no-progress", "--data-dir",
                      str(data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["max_accuracy"] > 0.2  # above chance (1 in 5) after 30 steps
    suite = tmp_path / "evens.yaml"
    suite.write_text("experiments:\n  - task: mnist3_evens\n    forecasters: [none, extrapolate]\n    target: 0.3\n")
    proc = introbench("suite", "run", str(suite), "--plugin", str(plugin), "--results", str(tmp_path / "r"),
                      "--no-progress", "--wandb", "disabled", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mnist_evens" in introbench("datasets", "--plugin", str(plugin)).stdout
