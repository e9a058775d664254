"""Tasks: data loading (hub or local files) and the official metric of each benchmark.

>>> from xlingual_probe.tasks import TASKS
>>> "xnli" in TASKS and "synthetic-nli" in TASKS
True
"""

from xlingual_probe.tasks import classification, panx, qa_data, synthetic, xnli  # noqa: F401  (registration)
from xlingual_probe.tasks._base import TASKS, DataOptions, Task, TaskData, get_task
from xlingual_probe.tasks._splits import HALVES

__all__ = ["HALVES", "TASKS", "DataOptions", "Task", "TaskData", "get_task"]
