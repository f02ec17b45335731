"""Clean accuracy on the suite task's evaluation split (no attack)."""

from __future__ import annotations

from typing import ClassVar

from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.tasks.base import Example


class Clean(Evaluation):
    """Clean accuracy on the task's evaluation split (no attack)."""

    reads_task_eval: ClassVar[bool] = True
    metric_specs: ClassVar[tuple[Metric, ...]] = (
        Metric("clean_accuracy", field="correct", role="clean"),
    )

    def examples(self, context: MeasureContext) -> list[Example]:
        return list(context.data.eval)
