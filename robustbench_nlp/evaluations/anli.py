"""Adversarial NLI (Nie et al. 2020, arXiv 1910.14599): accuracy on rounds R1, R2 and R3.

ANLI's examples were written by people to fool strong NLI models, round after round; a model
trained on SNLI alone scores near chance, so the suite measures robustness to a human adversary.
The official files are read from ``<data>/anli/R{1,2,3}/<split>.jsonl`` (``uid, context,
hypothesis, label`` with e / n / c), or ``facebook/anli`` from the hub without a data folder.
Overall accuracy pools every example of the chosen rounds (as ANLI's "A1-A3" column);
``max_examples`` selects from the pooled rounds. Contexts are long: they are truncated to
the model's ``max_length`` together with the hypothesis (longest first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.tasks.anli import load_anli_round
from robustbench_nlp.tasks.base import Example, Task
from robustbench_nlp.tasks.nli import NLI_LABELS


class ANLI(Evaluation):
    """Adversarial NLI rounds R1-R3 (dev by default): accuracy per round and overall."""

    rounds: list[Literal[1, 2, 3]] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    split: Literal["dev", "test"] = "dev"

    @field_validator("rounds")
    @classmethod
    def _sorted_unique(cls, rounds: list[int]) -> list[int]:
        return sorted(set(rounds))

    def label_names(self, task: Task) -> tuple[str, ...]:
        return NLI_LABELS

    def metrics(self, outcomes):
        rounds = [
            Metric(f"accuracy_r{r}", f"R{r}", table="detail", field="correct", where=f"round={r}")
            for r in self.rounds
        ]
        return [Metric("accuracy", field="correct"), *rounds]

    def examples(self, context: MeasureContext) -> list[Example]:
        rows = []
        for round_ in self.rounds:
            for e in load_anli_round(context.data_dir, round_, self.split):
                rows.append(Example(e.text, e.label, e.pair, tags=(("round", round_),)))
        return rows

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        super().preflight(data_dir, task)
        if data_dir is not None:
            for round_ in self.rounds:
                load_anli_round(data_dir, round_, self.split)
