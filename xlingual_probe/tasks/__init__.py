"""Tasks: data loading (hub or local files) and the official metric of each benchmark.

>>> from xlingual_probe.tasks import TASKS
>>> "xnli" in TASKS
True
"""

import xlingual_probe.synthetic.tasks  # noqa: F401  (registration of synthetic-nli/ner/qa)
from xlingual_probe.tasks import classification, panx, qa_data, xnli  # noqa: F401  (registration)
from xlingual_probe.tasks._base import TASKS, DataOptions, Task, TaskData, get_task

__all__ = ["TASKS", "DataOptions", "Task", "TaskData", "get_task"]
