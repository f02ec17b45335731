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

from collections.abc import Sequence
from typing import Any

from pydantic import Field, ValidationError, model_validator

from robustbench_nlp.attacks.base import Attack, AttackResult, Column
from robustbench_nlp.classifier import Classifier
from robustbench_nlp.tasks.base import Example, Task
from robustbench_nlp.tasks.nli import label_index


def predict_labels(model: Classifier, examples: Sequence[Example], batch_size: int) -> list[int]:
    """The model's label id for each example (eval mode, batched, dynamic padding)."""
    return model.predict_proba(examples, batch_size).argmax(-1).tolist()


def accuracy_by_name(
    predicted: Sequence[int], examples: Sequence[Example], own: Sequence[str], model_labels
) -> float:
    """Accuracy when examples use label names ``own`` and predictions ``model_labels``."""
    hits = sum(model_labels[own[e.label]] == p for e, p in zip(examples, predicted, strict=True))
    return hits / len(examples)


class EvalTask(Attack):
    """Clean accuracy on another task's evaluation split (e.g. SICK test for an SNLI model)."""

    task: str = Field(description="A registered task (see `robustbench-nlp list tasks`).")
    task_params: dict[str, Any] = Field(default_factory=dict, description="That task's params.")

    @model_validator(mode="after")
    def _task_is_valid(self) -> EvalTask:
        self.build_task()
        return self

    def build_task(self) -> Task:
        from robustbench_nlp.plugins import tasks  # the registry imports this module's base

        if self.task not in tasks:
            raise ValueError(tasks.unknown_message(self.task))
        try:
            return tasks.get(self.task)(**self.task_params)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"task_params.{where}: {first['msg']}") from None

    def run(self, model, context, label):
        other = self.build_task()
        model_labels = label_index(
            context.task.label_names, other.label_names, f"attack '{label}' (task {self.task})"
        )
        rows = other.load(context.data_dir).eval
        rows = rows if self.max_examples is None else rows[: self.max_examples]
        predicted = predict_labels(model, rows, self.batch_size)
        score = accuracy_by_name(predicted, rows, other.label_names, model_labels)
        return AttackResult(
            metrics={"accuracy": score},
            # Another clean test set: a main column, but not a robustness score.
            columns=[Column("accuracy", label, robust=False)],
            n_examples=len(rows),
        )
