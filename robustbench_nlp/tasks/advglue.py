"""AdvGLUE dev (Wang et al. 2021, arXiv 2111.02840): ``<data>/advglue/dev.json``, or
``AI-Secure/adv_glue`` from the hub without a data folder.

The official dev release is one JSON object keyed by GLUE task (``sst2``, ``qqp``, ``mnli``,
``mnli-mm``, ``qnli``, ``rte``), each a list of records with ``idx``, ``label`` and that task's
GLUE fields. Only the subsets whose labels a task of this harness has are read here: ``sst2``
(``sentence``; 0 negative, 1 positive) and ``mnli`` / ``mnli-mm`` (``premise``, ``hypothesis``;
0 entailment, 1 neutral, 2 contradiction, the SNLI order). A record with a missing field, an
empty sentence or a label out of range fails naming the subset and the record.
"""

from __future__ import annotations

import json
from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import Example, from_hub, read_text, require_text
from robustbench_nlp.tasks.nli import NLI_LABELS

SENTIMENT_LABELS = ("negative", "positive")

#: subset -> (text field, pair field or None, label names)
SUBSETS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "sst2": ("sentence", None, SENTIMENT_LABELS),
    "mnli": ("premise", "hypothesis", NLI_LABELS),
    "mnli-mm": ("premise", "hypothesis", NLI_LABELS),
}
#: The hub's copy (its parquet conversion: the main branch holds a loading script) and config.
ADVGLUE_HUB, ADVGLUE_REVISION = "AI-Secure/adv_glue", "refs/convert/parquet"
HUB_CONFIGS = {"sst2": "adv_sst2", "mnli": "adv_mnli", "mnli-mm": "adv_mnli_mismatched"}


def advglue_path(data_dir: Path) -> Path:
    return data_dir / "advglue" / "dev.json"


def read_advglue(path: Path, subsets: list[str]) -> dict[str, list[Example]]:
    """The examples of each subset in the official dev.json (validated)."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not valid JSON ({error.msg}).") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object keyed by task (sst2, mnli, ...).")
    return {subset: _records(path, subset, data.get(subset)) for subset in subsets}


def _records(path: Path, subset: str, rows: object) -> list[Example]:
    text_field, pair_field, labels = SUBSETS[subset]
    if not isinstance(rows, list) or not rows:
        raise UserError(f"{path}: no {subset!r} records; expected the official AdvGLUE dev.json.")
    fields = ["idx", "label", text_field] + ([pair_field] if pair_field else [])
    examples = []
    for number, row in enumerate(rows):
        where = f"{path}: {subset}[{number}]"
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object ({', '.join(fields)}).")
        missing = [name for name in fields if name not in row]
        if missing:
            raise UserError(
                f"{where}: missing field(s) {', '.join(missing)}; an AdvGLUE {subset} record has "
                f"{', '.join(fields)}."
            )
        label = row["label"]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(labels):
            named = ", ".join(f"{i} {name}" for i, name in enumerate(labels))
            raise UserError(f"{where}: label {label!r} is not one of {named}.")
        text = require_text(str(row[text_field]), f"{where} ({text_field})")
        pair = require_text(str(row[pair_field]), f"{where} ({pair_field})") if pair_field else None
        examples.append(Example(text, label, pair, tags=(("subset", subset),)))
    return examples


def load_advglue(data_dir: Path | None, subsets: list[str]) -> dict[str, list[Example]]:
    """The chosen subsets from the data folder, or from the hub without one."""
    if data_dir is None:
        loaded = {}
        for subset in subsets:
            text_field, pair_field, _ = SUBSETS[subset]
            rows = from_hub(ADVGLUE_HUB, HUB_CONFIGS[subset], "validation", ADVGLUE_REVISION)
            loaded[subset] = _records(
                Path(f"hub:{ADVGLUE_HUB}"), subset, [dict(row) for row in rows]
            )
        return loaded
    path = advglue_path(data_dir)
    if not path.is_file():
        raise UserError(
            f"attack advglue: {path} is missing; --data-dir must hold advglue/dev.json (the "
            "official AdvGLUE dev release), or run without it to load it from the hub."
        )
    return read_advglue(path, subsets)
