"""HANS (McCoy et al. 2019, arXiv 1902.01007): does the model lean on syntactic heuristics?

Reads the official evaluation file (``path``: heuristics_evaluation_set.txt from
github.com/tommccoy1/hans) or, without one, generates a HANS-style set with
``generators.hans`` (seeded, ``n_per_subcase`` for each of the 30 subcases) and reads it
back through the same loader. A three-way prediction counts as entailment only when it is
entailment (neutral and contradiction are non-entailment, as HANS prescribes).

Columns: overall accuracy in the main table; accuracy per gold label and per heuristic x gold
label in the detail table; per subcase in a second detail table (``detail:subcases``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext, Outcomes
from robustbench_nlp.tasks.base import Example, Task
from robustbench_nlp.tasks.hans import (
    ENTAILMENT,
    HANS_LABELS,
    HEURISTICS,
    HansExample,
    read_hans,
    write_hans,
)

_SHORT = {"lexical_overlap": "lex. overlap", "subsequence": "subseq.", "constituent": "constit."}
_GOLD = {ENTAILMENT: "ent.", "non-entailment": "non-ent."}


def _ordered(values, preferred: Sequence[str]) -> list[str]:
    seen = [v for v in dict.fromkeys(values) if v is not None]
    return [v for v in preferred if v in seen] + sorted(v for v in seen if v not in preferred)


def hans_columns(outcomes: Outcomes, generated: bool) -> list[Metric]:
    """Main: overall (titled "(generated)" for the HANS-style set, so that it is never read as
    the official HANS); detail: per gold label and heuristic x label; detail:subcases."""
    fields = outcomes.fields
    columns = [Metric("accuracy", "(generated)" if generated else "", field="correct")]
    for gold in HANS_LABELS:
        columns.append(
            Metric(
                gold, f"all {_GOLD[gold]}", table="detail", field="correct", where=f"gold={gold}"
            )
        )
    for heuristic in _ordered(fields.get("heuristic", []), HEURISTICS):
        for gold in HANS_LABELS:
            columns.append(
                Metric(
                    f"{heuristic}/{gold}",
                    f"{_SHORT.get(heuristic, heuristic)} {_GOLD[gold]}",
                    table="detail",
                    field="correct",
                    where=f"heuristic_gold={heuristic}/{gold}",
                )
            )
    for subcase in dict.fromkeys(fields.get("subcase", [])):  # file order
        columns.append(
            Metric(
                f"subcase/{subcase}",
                subcase,
                table="detail:subcases",
                field="correct",
                where=f"subcase={subcase}",
            )
        )
    return columns


def _example(row: HansExample) -> Example:
    tags = (
        ("gold", row.gold),
        ("heuristic", row.heuristic),
        ("subcase", row.subcase),
        ("heuristic_gold", f"{row.heuristic}/{row.gold}"),
    )
    return Example(row.premise, HANS_LABELS.index(row.gold), row.hypothesis, tags=tags)


class HANS(Evaluation):
    """HANS heuristics (McCoy et al. 2019): official file or a generated HANS-style set."""

    path: str | None = Field(
        None,
        description="A HANS-format file; a relative path is also looked up under --data-dir. "
        "Unset: generate a HANS-style set.",
    )
    n_per_subcase: int = Field(100, ge=1, description="Generated examples per subcase (x30).")
    generator_seed: int = Field(0, description="Seed of the generated set.")

    def label_names(self, task: Task) -> tuple[str, ...]:
        return HANS_LABELS

    def default_label(self, name: str) -> str:
        return "HANS" if self.path is not None else "HANS-style"

    def required_labels(self, task: Task) -> tuple[str, ...]:
        return (ENTAILMENT,)

    def judge(self, predicted, examples, names):
        """Only an entailment prediction counts as entailment (HANS's rule)."""
        return [
            (p == ENTAILMENT) == (names[e.label] == ENTAILMENT)
            for p, e in zip(predicted, examples, strict=True)
        ]

    def metrics(self, outcomes: Outcomes) -> list[Metric]:
        return hans_columns(outcomes, generated=self.path is None)

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
            return read_hans(self.resolve_path(data_dir))
        from robustbench_nlp.generators.hans import generate_hans

        with tempfile.TemporaryDirectory(prefix="rbnlp-hans-") as folder:
            path = Path(folder) / "hans_style.tsv"
            write_hans(generate_hans(self.n_per_subcase, self.generator_seed), path)
            return read_hans(path)

    def examples(self, context: MeasureContext) -> list[Example]:
        return [_example(row) for row in self.hans_examples(context.data_dir)]

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        super().preflight(data_dir, task)
        if self.path is not None:
            read_hans(self.resolve_path(data_dir))
