"""The task registry. Importing this package registers the paper's tasks."""

from .base import TASKS, Task, count_parameters, create_task, list_tasks, register_task
from . import paper  # noqa: F401  (registers n0, mnist1-4, cifar1, alexnet, inception_v1)
from . import nino  # noqa: F401  (registers NiNo's fm16, c10_16, fm32, c10_32, c100_32)

__all__ = ["TASKS", "Task", "count_parameters", "create_task", "list_tasks", "register_task"]
