"""The paper's tasks on the real datasets, at budgets a CPU runs in seconds."""

import pytest

from benchmark.config import RunConfig
from benchmark.run import run


@pytest.mark.parametrize("task,steps,floor", [("mnist3", 3000, 0.90), ("mnist2", 1000, 0.95), ("cifar1", 150, 0.30)])
def test_reaches_accuracy_on_real_data(task, steps, floor, data_dir):
    result = run(RunConfig(task=task, steps=steps, eval_every=steps, data_dir=str(data_dir)), progress=False)
    assert result.summary["status"] == "finished"
    assert result.summary["final_accuracy"] > floor, result.summary
