"""The attack contract: a perturbation of the suite task's evaluation examples.

An attack gets the model and one batch of examples and returns, per example, whether the model
was right before the attack (``clean_correct``) and is still right after it (``correct``), plus
what it cost (queries, perturbation size, the adversarial text). Model mode, selection, batching,
progress and the metrics come from ``measure.base.Measure``; the attack file holds the
algorithm only (torchattacks style).
"""

from __future__ import annotations

from typing import ClassVar

from robustbench_nlp.measure.base import Measure, MeasureContext
from robustbench_nlp.tasks.base import Example


class Attack(Measure):
    """Base of perturbation attacks (see the module docstring)."""

    #: Attacks perturb the input; the ensemble of issue "worst case" is built from these.
    perturbs: ClassVar[bool] = True
    reads_task_eval: ClassVar[bool] = True

    def examples(self, context: MeasureContext) -> list[Example]:
        return list(context.data.eval)

    def ensemble_field(self) -> str | None:
        return "correct"
