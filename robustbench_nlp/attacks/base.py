"""The attack-suite contract: a trained classifier in, metrics and their columns out.

An attack suite never trains and never renders: it returns numbers (``metrics``), says which of
them the leaderboard shows and how (``columns``), and may write artifacts (adversarial examples)
into the folder it is given. The record keeps all of it, so the leaderboard needs no plugin code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field

from robustbench_nlp.classifier import Classifier
from robustbench_nlp.plugin import Plugin
from robustbench_nlp.store import Column
from robustbench_nlp.tasks.base import Example, Task, TaskData


@dataclass
class AttackContext:
    task: Task
    data: TaskData
    seed: int
    device: str
    data_dir: Path | None
    #: Folder for this cell's artifacts; file names written there go in ``AttackResult.artifacts``.
    artifact_dir: Path
    #: Prefix for artifact file names, unique per cell.
    artifact_prefix: str


@dataclass
class AttackResult:
    metrics: dict[str, float]
    columns: list[Column]
    n_examples: int
    artifacts: list[str] = field(default_factory=list)


class Attack(Plugin):
    """Base: evaluates a classifier and reports metrics."""

    kind: ClassVar[str] = "attack"

    max_examples: int | None = Field(None, gt=0, description="Evaluate the first N examples.")
    batch_size: int = Field(32, ge=1)

    def examples(self, context: AttackContext) -> list[Example]:
        rows = context.data.eval
        return rows if self.max_examples is None else rows[: self.max_examples]

    def run(self, model: Classifier, context: AttackContext, label: str) -> AttackResult:
        """Evaluate ``model``; ``label`` is the suite's name for this attack (column titles)."""
        raise NotImplementedError


def accuracy(model: Classifier, examples: list[Example], batch_size: int = 64) -> float:
    probs = model.predict_proba(examples, batch_size)
    labels = torch.tensor([e.label for e in examples])
    return (probs.argmax(-1) == labels).float().mean().item()


class Clean(Attack):
    """Clean accuracy on the task's evaluation split (no attack)."""

    def run(self, model, context, label):
        rows = self.examples(context)
        return AttackResult(
            metrics={"clean_accuracy": accuracy(model, rows, self.batch_size)},
            columns=[Column("clean_accuracy", "clean")],
            n_examples=len(rows),
        )
