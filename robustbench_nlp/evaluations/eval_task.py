"""Clean accuracy on another task's evaluation split: one trained model, several test sets.

A suite trains on its own task; ``eval_task`` scores the same checkpoint on any registered task's
evaluation split (SICK test for an SNLI-trained model, MR for an SST-2 one) without retraining,
which changing the suite task's ``eval_split`` would do (task parameters key the checkpoint).
Labels are matched by name, so the other task may order or subset the suite task's labels.

Example::

    - name: eval_task
      label: SICK test
      params: {task: sick, task_params: {eval_split: test}, max_examples: 2000}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.tasks.base import Example, Task


class EvalTask(Evaluation):
    """Clean accuracy on another task's evaluation split (e.g. SICK test for an SNLI model)."""

    task: str = Field(description="A registered task (see `robustbench-nlp list tasks`).")
    task_params: dict[str, Any] = Field(default_factory=dict, description="That task's params.")

    @model_validator(mode="after")
    def _task_is_valid(self) -> EvalTask:
        self.build_task()
        return self

    def build_task(self) -> Task:
        from robustbench_nlp.tasks.registry import tasks

        if self.task not in tasks:
            raise ValueError(tasks.unknown_message(self.task))
        try:
            return tasks.get(self.task)(**self.task_params)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"task_params.{where}: {first['msg']}") from None

    def label_names(self, task: Task) -> tuple[str, ...]:
        return self.build_task().label_names

    def examples(self, context: MeasureContext) -> list[Example]:
        return list(self.build_task().load(context.data_dir).eval)

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        super().preflight(data_dir, task)
        self.build_task().load(data_dir)
