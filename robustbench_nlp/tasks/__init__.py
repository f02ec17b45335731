"""Tasks: labelled datasets that recipes train on and attacks evaluate on."""

from robustbench_nlp.tasks.base import Example, Task, TaskData

__all__ = ["Example", "Task", "TaskData"]
