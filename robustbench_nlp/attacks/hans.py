"""HANS (McCoy et al. 2019, arXiv 1902.01007): does the model lean on syntactic heuristics?

Reads the official evaluation file (``path``: heuristics_evaluation_set.txt from
github.com/tommccoy1/hans) or, without one, generates a HANS-style set with
``challenge.hans_generator`` (seeded, ``n_per_subcase`` for each of the 30 subcases) and reads it
back through the same loader. A three-way prediction counts as entailment only when it is
entailment (neutral and contradiction are non-entailment, as HANS prescribes).

Columns: overall accuracy in the main table; accuracy per gold label and per heuristic x gold
label in the detail table; per subcase in a second detail table (``detail:subcases``).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from pydantic import Field

from robustbench_nlp.attacks.base import Attack, AttackResult, Column
from robustbench_nlp.attacks.eval_task import predict_labels
from robustbench_nlp.challenge.hans import (
    ENTAILMENT,
    HANS_LABELS,
    HansExample,
    entailment_predictions,
    hans_metrics,
    read_hans,
    write_hans,
)
from robustbench_nlp.errors import UserError
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.nli import label_index

_SHORT = {"lexical_overlap": "lex. overlap", "subsequence": "subseq.", "constituent": "constit."}
_GOLD = {ENTAILMENT: "ent.", "non-entailment": "non-ent."}


def hans_columns(metrics: dict[str, float], label: str) -> list[Column]:
    """Main: overall; detail: per gold label and heuristic x label; detail:subcases."""
    columns = [Column("accuracy", label)]
    for key in metrics:
        if key in HANS_LABELS:
            columns.append(Column(key, f"all {_GOLD[key]}", table="detail"))
        elif key.startswith("subcase/"):
            columns.append(Column(key, key.removeprefix("subcase/"), table="detail:subcases"))
        elif "/" in key:
            heuristic, gold = key.split("/", 1)
            name = _SHORT.get(heuristic, heuristic)
            columns.append(Column(key, f"{name} {_GOLD.get(gold, gold)}", table="detail"))
    return columns


class HANS(Attack):
    """HANS heuristics (McCoy et al. 2019): official file or a generated HANS-style set."""

    path: str | None = Field(
        None,
        description="A HANS-format file; a relative path is also looked up under --data-dir. "
        "Unset: generate a HANS-style set.",
    )
    n_per_subcase: int = Field(100, ge=1, description="Generated examples per subcase (x30).")
    generator_seed: int = Field(0, description="Seed of the generated set.")
    max_examples: int | None = Field(
        None, gt=0, description="A seeded random subset of N examples (files are sorted)."
    )

    def resolve_path(self, data_dir: Path | None) -> Path:
        assert self.path is not None
        path = Path(self.path).expanduser()
        candidates = [path]
        if data_dir is not None and not path.is_absolute():
            candidates.append(data_dir / path)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise UserError(
            f"attack hans: path {self.path}: no such file (looked at "
            f"{', '.join(map(str, candidates))}); get heuristics_evaluation_set.txt from "
            "github.com/tommccoy1/hans, or leave path unset to generate a HANS-style set."
        )

    def hans_examples(self, data_dir: Path | None) -> list[HansExample]:
        if self.path is not None:
            rows = read_hans(self.resolve_path(data_dir))
        else:
            from robustbench_nlp.challenge.hans_generator import generate_hans

            with tempfile.TemporaryDirectory(prefix="rbnlp-hans-") as folder:
                path = Path(folder) / "hans_style.tsv"
                write_hans(generate_hans(self.n_per_subcase, self.generator_seed), path)
                rows = read_hans(path)
        if self.max_examples is not None and self.max_examples < len(rows):
            keep = sorted(random.Random(0).sample(range(len(rows)), self.max_examples))
            rows = [rows[i] for i in keep]
        return rows

    def run(self, model, context, label):
        entailment = label_index(context.task.label_names, (ENTAILMENT,), f"attack '{label}'")
        rows = self.hans_examples(context.data_dir)
        pairs = [Example(text=r.premise, label=0, pair=r.hypothesis) for r in rows]
        predicted = predict_labels(model, pairs, self.batch_size)
        metrics = hans_metrics(rows, entailment_predictions(predicted, entailment[ENTAILMENT]))
        return AttackResult(
            metrics=metrics, columns=hans_columns(metrics, label), n_examples=len(rows)
        )
