"""The evaluation contract: a model scored on a fixed set, per example.

An evaluation names its examples (``examples``: the suite task's evaluation split, another
task's, a challenge file) and the label names they use (``label_names``); the base predicts in
batches and records per example whether the model's label, matched to the set's labels *by
name*, is right (``correct``). ``judge`` can change what counts as right (HANS folds neutral and
contradiction into non-entailment). Model mode, selection, batching, progress and metrics come
from ``measure.base.Measure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.measure.base import Measure, MeasureContext
from robustbench_nlp.tasks.base import Example, Task
from robustbench_nlp.tasks.nli import label_index

if TYPE_CHECKING:  # annotations only: importing the classifier imports torch
    from robustbench_nlp.model.classifier import Classifier


class Evaluation(Measure):
    """Base of fixed-set evaluations (see the module docstring)."""

    perturbs: ClassVar[bool] = False
    metric_specs: ClassVar[tuple[Metric, ...]] = (
        Metric("accuracy", field="correct", role="other"),
    )

    def label_names(self, task: Task) -> Sequence[str]:
        """The names of ``Example.label`` in this set (default: the suite task's)."""
        return task.label_names

    def required_labels(self, task: Task) -> Sequence[str]:
        """Label names the model must have for this set to make sense (default: all of the
        set's)."""
        return self.label_names(task)

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        label_index(task.label_names, self.required_labels(task), f"attack {self.plugin_name}")

    def judge(
        self, predicted: Sequence[str], examples: Sequence[Example], names: Sequence[str]
    ) -> list[bool]:
        """Per example: is the predicted label name right?"""
        return [p == names[e.label] for p, e in zip(predicted, examples, strict=True)]

    def measure(
        self, model: Classifier, batch: list[Example], context: MeasureContext
    ) -> dict[str, list[Any]]:
        names = self.label_names(context.task)
        own = context.task.label_names
        predicted = model.predict_proba(batch, self.batch_size).argmax(-1).tolist()
        predicted_names = [own[i] for i in predicted]
        return {"correct": self.judge(predicted_names, batch, names)}
