"""Transfer: replay the adversarial examples a word attack found against one recipe on another.

For a word attack W of the suite (``attack: W``), the transfer cell of recipe B and seed s reads
the adversarial-example files (``<cell>.adv.jsonl``) that W wrote against every recipe A of the
suite at seed s and scores B on A's *successful* adversarial examples, without any new search:
the accuracy of B on them is the (B, A) entry of W's transfer matrix (row B: the model scored;
column A: the recipe the examples were found against). The board shows it as a detail table
(``TABLE``: mean ± std over seeds: only examples found at the same seed are replayed, so
"averaged over matching seeds"), and a heatmap in the report.

Choices, stated:

- Only successful adversarial examples count (those that fooled A); A's failed and skipped
  examples carry no adversarial text.
- The adversarial text replaces the attacked column: the sentence, or the hypothesis of an NLI
  pair (the word attacks perturb the hypothesis only).
- The diagonal (B on its own examples) is replayed too, as a check of the replay: it is 0
  except where a prediction within rounding of the decision boundary flips between the
  attack's batching and this one's.
- A source cell that has not finished (or wrote no adversarial examples) fails this cell with
  its name; rerunning the suite retries it once the source is there.

The runner runs transfer cells after every cell of W at the same seed and hands them the
source cells' files (``MeasureContext.inputs``); their identity includes the source cell ids,
so a recomputed source recomputes the transfer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import (
    ADVERSARIAL_SUFFIX,
    MeasureContext,
    MeasureResult,
    Outcomes,
)
from robustbench_nlp.tasks.base import Example

#: The detail table the matrix is shown in (one column per source recipe), titled after the
#: attack's label: "DeepWordBug transfer: on each recipe's adversarial examples".
TABLE = "detail:on each recipe's adversarial examples"


@dataclass(frozen=True)
class ReplayedExample(Example):
    """An adversarial example found against ``source``; its id is unique per (source,
    original example), since two recipes' attacks may find the same adversarial text."""

    source: str = ""
    original_id: str = ""

    @cached_property
    def id(self) -> str:
        return stable_hash([self.source, self.original_id], length=12)


def read_adversarial(path: Path, source: str) -> list[ReplayedExample]:
    """The successful adversarial examples of one word-attack cell, in file order."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"{path}: cannot read the adversarial examples ({error}).") from None
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            if row["result"] != "successful":
                continue
            adversarial, pair = row["adversarial"], row.get("pair")
            text, pair = (row["text"], adversarial) if pair is not None else (adversarial, None)
            rows.append(
                ReplayedExample(
                    text=text,
                    label=int(row["label"]),
                    pair=pair,
                    tags=(("source", source), ("example", row["id"])),
                    source=source,
                    original_id=row["id"],
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(
                f"{path}:{number}: not an adversarial-example row ({error}); delete the file "
                "and its record to recompute that attack cell."
            ) from None
    return rows


class Transfer(Evaluation):
    """Transfer matrix: accuracy on the adversarial examples a word attack found per recipe.

    One cell per (recipe scored, seed); see the module docstring.
    """

    #: 2: the matrix's table is titled "on each recipe's adversarial examples".
    version: ClassVar[int] = 2

    attack: str = Field(description="Label of the suite's word attack whose examples to replay.")

    def default_label(self, name: str) -> str:
        return f"{self.attack} transfer"

    def reads_attack(self) -> str | None:
        return self.attack

    def examples(self, context: MeasureContext) -> list[Example]:
        rows: list[Example] = []
        for source, files in context.inputs.items():
            adversarial = [f for f in files or [] if f.name.endswith(ADVERSARIAL_SUFFIX)]
            if not adversarial:
                raise UserError(
                    f"{context.label}: the {self.attack} cell of recipe {source!r} (seed "
                    f"{context.seed}) has not finished or wrote no adversarial examples; run "
                    "the suite again once it has."
                )
            rows += read_adversarial(adversarial[0], source)
        return rows

    def fingerprint(self, context: MeasureContext) -> str:
        """The examples are the source cells' (their ids join the cell's identity in the
        runner), so this is the replayed attack alone."""
        return stable_hash(["transfer", self.attack])

    def finish(self, outcomes: Outcomes, context: MeasureContext) -> MeasureResult:
        """Columns for every source recipe, in the suite's order, also one whose attack found
        no adversarial example (its count is 0 and its accuracy undefined: "—")."""
        result = super().finish(outcomes, context)
        sources = list(context.inputs)
        result.columns = self.source_columns(sources)
        for source in sources:
            result.metrics.setdefault(f"n:{source}", 0.0)
        return result

    def metrics(self, outcomes: Outcomes) -> list[Metric]:
        return self.source_columns(list(dict.fromkeys(outcomes.fields.get("source", []))))

    @staticmethod
    def source_columns(sources: list[str]) -> list[Metric]:
        return [
            Metric(f"from:{source}", source, table=TABLE, field="correct", where=f"source={source}")
            for source in sources
        ] + [
            Metric(
                f"n:{source}",
                f"{source} examples",
                table="hidden",
                percent=False,
                field="",
                reduce="count",
                where=f"source={source}",
            )
            for source in sources
        ]
