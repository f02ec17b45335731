"""Natural language inference: SNLI, SICK, MNLI and the offline SNLI + SICK training mix.

An example is a sentence pair (``text`` = premise, ``pair`` = hypothesis) with three labels in the
SNLI order entailment / neutral / contradiction = 0 / 1 / 2. Local files follow the layout of
``../shared/data`` (see its README); without a data folder the tasks load from the hub through
``datasets`` (hub rows without a gold label, ``label == -1``, are dropped as SNLI's own card says).

The data folder has no SNLI train split and no MNLI, hence ``snli_sick``: the offline way to train
an NLI model (SNLI validation + SICK train) and evaluate it (SNLI test). Each task's
``eval_split`` picks its evaluation set; it is a task parameter and so part of the checkpoint key:
to score one trained model on several sets, use the ``eval_task`` attack instead.

The readers here are shared with the ANLI and HANS suites. They fail on the first bad row with the
file and line: an unknown label, a missing column, an empty sentence. Nothing here trains.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import (
    Example,
    Task,
    from_hub,
    read_text,
    read_tsv,
    require_file,
    require_text,
)

NLI_LABELS = ("entailment", "neutral", "contradiction")

#: Every spelling of an NLI label in the supported files: SNLI/SICK ids, names (SICK's originals
#: are upper case) and ANLI's letters.
_LABELS = {
    **{str(i): i for i in range(3)},
    **{name: i for i, name in enumerate(NLI_LABELS)},
    **{name[0]: i for i, name in enumerate(NLI_LABELS)},
}


def parse_nli_label(value: object, where: str) -> int:
    """0 / 1 / 2 from an id, a name or ANLI's e / n / c; else fail naming the row."""
    label = _LABELS.get(str(value).strip().lower())
    if label is None:
        raise UserError(
            f"{where}: label {value!r} is not an NLI label (0/1/2, "
            f"{'/'.join(NLI_LABELS)} or e/n/c); rows without a gold label ('-') must be removed."
        )
    return label


def _pair(premise: str, hypothesis: str, label: object, where: str) -> Example:
    return Example(
        text=require_text(premise, f"{where} (premise)"),
        pair=require_text(hypothesis, f"{where} (hypothesis)"),
        label=parse_nli_label(label, where),
    )


def read_snli_tsv(path: Path) -> list[Example]:
    """SNLI in the data folder's layout: header ``premise<TAB>hypothesis<TAB>label``."""
    return read_tsv_columns(path, ("premise", "hypothesis", "label"))


def read_glue_nli(path: Path) -> list[Example]:
    """GLUE / MultiNLI TSV (``sentence1``, ``sentence2``, ``gold_label`` among its columns)."""
    return read_tsv_columns(path, ("sentence1", "sentence2", "gold_label"))


def read_tsv_columns(path: Path, names: tuple[str, str, str]) -> list[Example]:
    """Pairs from a TSV with a header, picking (premise, hypothesis, label) columns by name."""
    rows: list[Example] = []
    index: list[int] | None = None
    width = 0
    for number, fields in read_tsv(path, header=False):
        where = f"{path}:{number}"
        if index is None:
            header = [f.strip().lower() for f in fields]
            missing = [name for name in names if name not in header]
            if missing:
                raise UserError(
                    f"{where}: the header lacks column(s) {', '.join(missing)}; expected a header "
                    f"naming {', '.join(names)} (tab separated)."
                )
            index, width = [header.index(name) for name in names], len(header)
            continue
        if len(fields) != width:
            raise UserError(
                f"{where}: expected {width} tab-separated columns as in the header, found "
                f"{len(fields)}."
            )
        rows.append(_pair(*(fields[i] for i in index), where))
    if index is None:
        raise UserError(f"{path}: the file is empty; expected a header and rows.")
    return rows


def read_sick(path: Path) -> list[Example]:
    """SICK in the data folder's layout: no header, ``sentence1<TAB>sentence2<TAB>label``."""
    rows = []
    for number, fields in read_tsv(path, header=False):
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise UserError(
                f"{where}: expected sentence1<TAB>sentence2<TAB>label, found {len(fields)} "
                "column(s)."
            )
        rows.append(_pair(*fields, where))
    return rows


def read_anli_jsonl(path: Path) -> list[Example]:
    """ANLI's official JSON lines (``uid, context, hypothesis, label`` with label e / n / c)."""
    rows = []
    with io.StringIO(read_text(path), newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{where}: not valid JSON ({error.msg}).") from None
            if not isinstance(row, dict):
                raise UserError(f"{where}: expected a JSON object per line.")
            missing = [key for key in ("context", "hypothesis", "label") if key not in row]
            if missing:
                raise UserError(
                    f"{where}: missing field(s) {', '.join(missing)}; expected the ANLI layout "
                    "(uid, context, hypothesis, label)."
                )
            rows.append(_pair(str(row["context"]), str(row["hypothesis"]), row["label"], where))
    return rows


def hub_pairs(
    path: str,
    name: str | None,
    split: str,
    premise: str,
    hypothesis: str,
    revision: str | None = None,
) -> list[Example]:
    """A hub split as pairs; rows whose label is not 0/1/2 (no gold label: -1) are dropped."""
    rows = from_hub(path, name, split, revision)
    return [
        Example(text=row[premise].strip(), pair=row[hypothesis].strip(), label=int(row["label"]))
        for row in rows
        if int(row["label"]) in (0, 1, 2)
    ]


SNLI_HUB = "stanfordnlp/snli"
#: SICK on the hub: sentence_A, sentence_B, label 0/1/2 (SNLI order); splits train / validation /
#: test. The repository's main branch holds a loading script, which datasets 4 refuses, so the
#: hub's parquet conversion branch is read instead.
SICK_HUB, SICK_REVISION = "RobZamp/sick", "refs/convert/parquet"
MNLI_HUB = ("nyu-mll/glue", "mnli")


class NLITask(Task):
    """Base of the three-way NLI tasks (premise, hypothesis)."""

    label_names: ClassVar[tuple[str, ...]] = NLI_LABELS
    is_pair: ClassVar[bool] = True


def _sick(data_dir: Path | None, split: str) -> list[Example]:
    if data_dir is None:
        hub_split = "validation" if split == "dev" else split
        return hub_pairs(SICK_HUB, None, hub_split, "sentence_A", "sentence_B", SICK_REVISION)
    return read_sick(require_file(data_dir, f"sick/{split}.txt", "sick"))


def _snli(data_dir: Path | None, split: str) -> list[Example]:
    if data_dir is None:
        return hub_pairs(SNLI_HUB, None, split, "premise", "hypothesis")
    if split == "train":
        raise UserError(
            "task snli: the data folder has no SNLI train split; use task snli_sick (or snli, "
            "which trains on validation) offline, or run without --data-dir to use the hub."
        )
    return read_snli_tsv(require_file(data_dir, f"snli/{split}.tsv", "snli"))


class SNLISICK(NLITask):
    """Offline NLI: train on SNLI validation + SICK train, evaluate on SNLI test (or SICK test)."""

    eval_split: Literal["snli_test", "sick_test"] = "snli_test"

    def read(self, data_dir):
        train = _snli(data_dir, "validation") + _sick(data_dir, "train")
        if self.eval_split == "snli_test":
            evaluation = _snli(data_dir, "test")
        else:
            evaluation = _sick(data_dir, "test")
        source = str(data_dir) if data_dir else f"hub:{SNLI_HUB}+{SICK_HUB}"
        return train, evaluation, source


class SICK(NLITask):
    """SICK entailment (Marelli et al. 2014): train / test (or dev) from <data>/sick or the hub."""

    eval_split: Literal["test", "dev"] = "test"

    def read(self, data_dir):
        source = str(data_dir) if data_dir else f"hub:{SICK_HUB}"
        return _sick(data_dir, "train"), _sick(data_dir, self.eval_split), source


class SNLI(NLITask):
    """SNLI 1.0 from the hub (train / test); offline it trains on <data>/snli validation.

    The data folder holds only SNLI validation and test, so with ``--data-dir`` the validation
    split is the training set and ``eval_split`` must be ``test``.
    """

    eval_split: Literal["test", "validation"] = "test"

    def read(self, data_dir):
        if data_dir is None:
            train = _snli(None, "train")
            return train, _snli(None, self.eval_split), f"hub:{SNLI_HUB}"
        if self.eval_split == "validation":
            raise UserError(
                "task snli: offline, SNLI validation is the training split (the data folder has "
                "no SNLI train); set eval_split: test."
            )
        return _snli(data_dir, "validation"), _snli(data_dir, "test"), str(data_dir)


class MNLI(NLITask):
    """MultiNLI from the hub (train / validation_matched or _mismatched) or <data>/mnli TSVs."""

    eval_split: Literal["validation_matched", "validation_mismatched"] = "validation_matched"

    def read(self, data_dir):
        if data_dir is None:
            path, name = MNLI_HUB
            train = hub_pairs(path, name, "train", "premise", "hypothesis")
            evaluation = hub_pairs(path, name, self.eval_split, "premise", "hypothesis")
            return train, evaluation, f"hub:{path}/{name}"
        dev = "dev_matched" if self.eval_split == "validation_matched" else "dev_mismatched"
        files = []
        for name in ("train", dev):
            path = data_dir / "mnli" / f"{name}.tsv"
            if not path.is_file():
                raise UserError(
                    f"task mnli: {path} is missing. MNLI is not in ../shared/data: put GLUE's "
                    "MNLI/{train,dev_matched,dev_mismatched}.tsv there, or run without --data-dir "
                    "(with a network) to load it from the hub."
                )
            files.append(read_glue_nli(path))
        return files[0], files[1], str(data_dir)


def label_index(label_names: Sequence[str], wanted: Sequence[str], who: str) -> dict[str, int]:
    """Positions of ``wanted`` label names in a task's labels, or fail saying which are missing."""
    missing = [name for name in wanted if name not in label_names]
    if missing:
        raise UserError(
            f"{who} needs a task with the label(s) {', '.join(missing)}, but the suite's task has "
            f"{', '.join(label_names) or 'none'}; use an NLI task (snli_sick, sick, snli, mnli)."
        )
    return {name: list(label_names).index(name) for name in wanted}
