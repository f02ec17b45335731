"""AdvGLUE (Wang et al. 2021, arXiv 2111.02840): accuracy on GLUE examples made adversarial.

AdvGLUE applies 14 textual attacks (word-, sentence- and human-crafted) to GLUE dev examples and
keeps, after human validation, those that still carry their label but fool strong models; the
dev release is public and the test set is scored by the authors only. The suite's task decides
the subsets: a sentiment task (negative / positive) is scored on ``sst2``; a three-way NLI task
on ``mnli`` and ``mnli-mm`` (matched / mismatched). A task with neither label set is refused in
preflight. Each subset is a column of the main table with its CI; chance level is the share of
the subset's most frequent gold label (shown beside the board).

Data: ``<data>/advglue/dev.json`` (the official file, see ``tasks.advglue``), or the hub
(``AI-Secure/adv_glue``) through ``datasets`` without a data folder.

Published reference (AdvGLUE leaderboard, BERT-large, accuracy %): SST-2 33.0, MNLI-m 28.9,
MNLI-mm 27.0 (against 93.2 / 85.8 / 85.6 on GLUE dev). Those models are attacked by the very
attacks that built AdvGLUE (transferred from BERT/RoBERTa-based surrogates), so a model of
another family may score higher without being more robust; the numbers compare models, not
attacks.
"""

from __future__ import annotations

from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.tasks.advglue import SUBSETS, load_advglue
from robustbench_nlp.tasks.base import Example, Task

#: The subsets' own part of their column titles (after the attack's label: "AdvGLUE MNLI-m").
TITLES = {"sst2": "SST-2", "mnli": "MNLI-m", "mnli-mm": "MNLI-mm"}


def advglue_subsets(task: Task) -> list[str]:
    """The subsets whose label names are the task's (in order), else fail in one line."""
    chosen = [name for name, (_, _, labels) in SUBSETS.items() if labels == task.label_names]
    if not chosen:
        raise UserError(
            f"attack advglue: task {task.plugin_name or type(task).__name__} has labels "
            f"({', '.join(task.label_names)}); AdvGLUE applies to sentiment (negative, positive: "
            "sst2) and three-way NLI (entailment, neutral, contradiction: mnli, mnli-mm) tasks."
        )
    return chosen


class AdvGLUE(Evaluation):
    """AdvGLUE dev (Wang et al. 2021): accuracy per subset the task decides (SST-2; MNLI-m/-mm)."""

    def default_label(self, name: str) -> str:
        return "AdvGLUE"

    def metrics(self, outcomes):
        subsets = list(dict.fromkeys(v for v in outcomes.fields.get("subset", []) if v))
        return [
            Metric(
                f"accuracy_{subset.replace('-', '_')}",
                TITLES[subset],
                field="correct",
                where=f"subset={subset}",
            )
            for subset in subsets
        ]

    def examples(self, context: MeasureContext) -> list[Example]:
        loaded = load_advglue(context.data_dir, advglue_subsets(context.task))
        return [e for rows in loaded.values() for e in rows]

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        subsets = advglue_subsets(task)
        super().preflight(data_dir, task)
        if data_dir is not None:
            load_advglue(data_dir, subsets)
