"""Binary sentiment tasks: SST-2, MR (rotten tomatoes) and the embedded default set.

Local files follow the layout of ``../shared/data`` (see its README); without a data folder SST-2
and MR load from the hub through ``datasets``. The embedded set ships inside the package so the
quickstart runs on a fresh machine with neither a data folder nor a network.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import (
    Example,
    Task,
    from_hub,
    read_tsv,
    require_file,
    require_text,
)


class SentimentTask(Task):
    """Base of the binary sentiment tasks."""

    label_names: ClassVar[tuple[str, ...]] = ("negative", "positive")

    def _read_label_sentence(self, path: Path, encoding: str = "utf-8") -> list[Example]:
        rows = []
        for number, fields in read_tsv(path, encoding=encoding):
            where = f"{path}:{number}"
            if len(fields) != 2:
                raise_columns(where, fields, "label<TAB>sentence")
            rows.append(Example(require_text(fields[1], where), self.check_label(fields[0], where)))
        return rows


def raise_columns(where: str, fields: list, expected: str) -> None:
    raise UserError(f"{where}: expected {expected}, found {len(fields)} column(s).")


class SST2(SentimentTask):
    """GLUE SST-2 binary sentiment (train / dev) from <data>/sst2 or the hub."""

    def read(self, data_dir):
        if data_dir is None:
            train = from_hub("glue", "sst2", "train")
            dev = from_hub("glue", "sst2", "validation")
            as_examples = [
                [Example(row["sentence"].strip(), int(row["label"])) for row in split]
                for split in (train, dev)
            ]
            return as_examples[0], as_examples[1], "hub:glue/sst2"
        train = require_file(data_dir, "sst2/train.tsv", "sst2")
        dev = require_file(data_dir, "sst2/dev.tsv", "sst2")
        return self._read_label_sentence(train), self._read_label_sentence(dev), str(data_dir)


class MR(SentimentTask):
    """Movie Review polarity (Pang & Lee), split 90/10 with a fixed seed; <data>/mr or the hub."""

    eval_fraction: float = Field(0.1, gt=0, lt=1, description="Share held out for evaluation.")

    def read(self, data_dir):
        if data_dir is None:
            train = from_hub("cornell-movie-review-data/rotten_tomatoes", None, "train")
            test = from_hub("cornell-movie-review-data/rotten_tomatoes", None, "test")
            return (
                [Example(r["text"].strip(), int(r["label"])) for r in train],
                [Example(r["text"].strip(), int(r["label"])) for r in test],
                "hub:rotten_tomatoes",
            )
        rows = []
        for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
            path = require_file(data_dir, f"mr/{name}", "mr")
            with path.open(encoding="latin-1") as handle:
                for number, line in enumerate(handle, start=1):
                    rows.append(Example(require_text(line, f"{path}:{number}"), label))
        random.Random(1234).shuffle(rows)
        cut = int(len(rows) * (1 - self.eval_fraction))
        return rows[:cut], rows[cut:], str(data_dir)


class EmbeddedSentiment(SentimentTask):
    """400 hand-written movie-review sentences shipped in the package (320 train / 80 eval)."""

    def read(self, data_dir):
        resource = resources.files("robustbench_nlp") / "data" / "embedded_sentiment.tsv"
        with resources.as_file(resource) as path:
            rows = self._read_label_sentence(Path(path))
        return rows[:320], rows[320:], "embedded"
