"""Adversarial NLI (Nie et al. 2020, arXiv 1910.14599): accuracy on rounds R1, R2 and R3.

ANLI's examples were written by people to fool strong NLI models, round after round; a model
trained on SNLI alone scores near chance, so the suite measures robustness to a human adversary.
The official files are read from ``<data>/anli/R{1,2,3}/<split>.jsonl`` (``uid, context,
hypothesis, label`` with e / n / c), or ``facebook/anli`` from the hub without a data folder.
Overall accuracy pools every example of the chosen rounds (as ANLI's "A1-A3" column);
``max_examples`` caps each round. Contexts are long: they are truncated to the model's
``max_length`` together with the hypothesis (longest first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from robustbench_nlp.attacks.base import Attack, AttackResult, Column
from robustbench_nlp.attacks.eval_task import accuracy_by_name, predict_labels
from robustbench_nlp.errors import UserError
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.nli import NLI_LABELS, hub_pairs, label_index, read_anli_jsonl

ANLI_HUB = "facebook/anli"


def load_anli_round(data_dir: Path | None, round_: int, split: str) -> list[Example]:
    """One round's examples (labels in SNLI order) from the data folder or the hub."""
    if data_dir is None:
        return hub_pairs(ANLI_HUB, None, f"{split}_r{round_}", "premise", "hypothesis")
    path = data_dir / "anli" / f"R{round_}" / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(
            f"attack anli: {path} is missing; --data-dir must hold anli/R1..R3/{split}.jsonl "
            "(the official ANLI v1.0 layout), or run without it to load facebook/anli."
        )
    return read_anli_jsonl(path)


class ANLI(Attack):
    """Adversarial NLI rounds R1-R3 (dev by default): accuracy per round and overall."""

    rounds: list[Literal[1, 2, 3]] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    split: Literal["dev", "test"] = "dev"

    @field_validator("rounds")
    @classmethod
    def _sorted_unique(cls, rounds: list[int]) -> list[int]:
        return sorted(set(rounds))

    def run(self, model, context, label):
        model_labels = label_index(context.task.label_names, NLI_LABELS, f"attack '{label}'")
        metrics, columns, hits, total = {}, [], 0.0, 0
        for round_ in self.rounds:
            rows = load_anli_round(context.data_dir, round_, self.split)
            rows = rows if self.max_examples is None else rows[: self.max_examples]
            predicted = predict_labels(model, rows, self.batch_size)
            score = accuracy_by_name(predicted, rows, NLI_LABELS, model_labels)
            metrics[f"accuracy_r{round_}"] = score
            columns.append(Column(f"accuracy_r{round_}", f"R{round_}", table="detail"))
            hits, total = hits + score * len(rows), total + len(rows)
        metrics["accuracy"] = hits / total
        columns.insert(0, Column("accuracy", label))
        return AttackResult(metrics=metrics, columns=columns, n_examples=total)
