"""The HANS file format (McCoy et al. 2019, arXiv 1902.01007) and its accuracy breakdown.

HANS is tab separated with the header ``gold_label sentence1_binary_parse sentence2_binary_parse
sentence1_parse sentence2_parse sentence1 sentence2 pairID heuristic subcase template``; gold
labels are ``entailment`` / ``non-entailment``. The reader picks columns by header name, so the
official file and the generator's file (``hans_generator``) go through the same code, and it fails
on the first bad row with file and line. A three-way NLI prediction maps to HANS's two labels as
the authors prescribe: entailment stays entailment; neutral and contradiction are non-entailment.

This module reads and writes; scoring is ``evaluations/hans.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import read_tsv, require_text

HANS_COLUMNS = (
    "gold_label",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "pairID",
    "heuristic",
    "subcase",
    "template",
)
#: The columns the reader needs; the parse columns may be absent.
REQUIRED_COLUMNS = ("gold_label", "sentence1", "sentence2", "heuristic", "subcase")
ENTAILMENT, NON_ENTAILMENT = "entailment", "non-entailment"
HANS_LABELS = (ENTAILMENT, NON_ENTAILMENT)
HEURISTICS = ("lexical_overlap", "subsequence", "constituent")


@dataclass(frozen=True)
class HansExample:
    premise: str
    hypothesis: str
    #: "entailment" or "non-entailment".
    gold: str
    heuristic: str
    subcase: str
    template: str = ""
    pair_id: str = ""


def read_hans(path: Path) -> list[HansExample]:
    """Every row of a HANS-format file, validated (header, labels, sentences, column count)."""
    rows: list[HansExample] = []
    header: list[str] | None = None
    for number, fields in read_tsv(Path(path), header=False):
        where = f"{path}:{number}"
        if header is None:
            header = [field.strip() for field in fields]
            missing = [name for name in REQUIRED_COLUMNS if name not in header]
            if missing:
                raise UserError(
                    f"{where}: the header lacks column(s) {', '.join(missing)}; expected the HANS "
                    f"layout ({' '.join(HANS_COLUMNS)}), tab separated."
                )
            continue
        if len(fields) != len(header):
            raise UserError(
                f"{where}: expected {len(header)} tab-separated columns as in the header, found "
                f"{len(fields)}."
            )
        row = dict(zip(header, fields, strict=True))
        gold = row["gold_label"].strip()
        if gold not in HANS_LABELS:
            raise UserError(
                f"{where}: gold_label {gold!r} is not one of {', '.join(HANS_LABELS)}; fix the row."
            )
        for key in ("heuristic", "subcase"):
            if not row[key].strip():
                raise UserError(f"{where}: the {key} column is empty; fill it in.")
        rows.append(
            HansExample(
                premise=require_text(row["sentence1"], f"{where} (sentence1)"),
                hypothesis=require_text(row["sentence2"], f"{where} (sentence2)"),
                gold=gold,
                heuristic=row["heuristic"].strip(),
                subcase=row["subcase"].strip(),
                template=row.get("template", "").strip(),
                pair_id=row.get("pairID", "").strip(),
            )
        )
    if header is None:
        raise UserError(f"{path}: the file is empty; expected the HANS header and rows.")
    if not rows:
        raise UserError(f"{path}: the file has a header but no examples.")
    return rows


def write_hans(rows: Iterable[dict[str, str]], path: Path) -> None:
    """Write rows (dicts keyed by ``HANS_COLUMNS``) in the official layout."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(HANS_COLUMNS) + "\n")
        for row in rows:
            values = [row[name] for name in HANS_COLUMNS]
            if any("\t" in value or "\n" in value for value in values):
                raise ValueError(f"HANS row {row.get('pairID')} holds a tab or a newline")
            handle.write("\t".join(values) + "\n")
