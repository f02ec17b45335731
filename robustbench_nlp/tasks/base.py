"""What a task is: a labelled train split and an evaluation split, validated on load.

A task never trains or evaluates anything; it only turns files (or the hub) into ``Example``
lists and fails with the file and line of the first bad row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.plugin import Plugin

DATA_DIR_ENV = "RBNLP_DATA_DIR"


@dataclass(frozen=True)
class Example:
    """One labelled input: a sentence, or a pair (premise ``text``, hypothesis ``pair``)."""

    text: str
    label: int
    pair: str | None = None
    #: Facts about the example that per-example outcomes keep beside it (an ANLI round, a HANS
    #: heuristic, an STS gold score); not part of its id.
    tags: tuple[tuple[str, Any], ...] = ()

    @cached_property
    def id(self) -> str:
        """A stable id from the text, the pair and the label: the same example has the same id
        in every split, file copy and run (per-example outcomes are keyed by it)."""
        return stable_hash([self.text, self.pair, self.label], length=12)


@dataclass(frozen=True)
class TaskData:
    train: list[Example]
    eval: list[Example]
    #: Where the data came from, for records (a folder, "embedded" or a hub id).
    source: str


class Task(Plugin):
    """Base: a classification task with fixed label names."""

    kind: ClassVar[str] = "task"
    label_names: ClassVar[tuple[str, ...]] = ()
    #: True when examples are sentence pairs (NLI).
    is_pair: ClassVar[bool] = False

    train_size: int | None = Field(None, gt=0, description="Random training subset (all if null).")
    eval_size: int | None = Field(None, gt=0, description="Random evaluation subset (all if null).")
    subset_seed: int = Field(0, description="Seed of the subsets; fixed so recipes share data.")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def load(self, data_dir: Path | None) -> TaskData:
        """Read, validate and subset the task's data."""
        train, evaluation, source = self.read(data_dir)
        for split, rows in (("train", train), ("eval", evaluation)):
            if not rows:
                name = self.plugin_name or type(self).__name__
                raise UserError(f"task {name}: the {split} split from {source} is empty.")
        return TaskData(
            train=self._subset(train, self.train_size),
            eval=self._subset(evaluation, self.eval_size),
            source=source,
        )

    def read(self, data_dir: Path | None) -> tuple[list[Example], list[Example], str]:
        """Return (train, eval, source); subclasses implement it."""
        raise NotImplementedError

    def _subset(self, rows: list[Example], size: int | None) -> list[Example]:
        if size is None or size >= len(rows):
            return rows
        return random.Random(self.subset_seed).sample(rows, size)

    def check_label(self, label: object, where: str) -> int:
        """Parse a label that must be an integer in range, or fail naming the row."""
        try:
            value = int(str(label).strip())
        except ValueError:
            value = -1
        if not 0 <= value < self.num_labels:
            raise UserError(
                f"{where}: label {label!r} is not one of 0..{self.num_labels - 1} "
                f"({', '.join(self.label_names)}); fix the row or pick the right task."
            )
        return value


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The data folder from ``--data-dir``, else ``$RBNLP_DATA_DIR``, else None (hub)."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        source = "--data-dir" if data_dir is not None else f"${DATA_DIR_ENV}"
        raise UserError(f"{source} {path}: no such folder; point it at the data folder.")
    return path


def require_file(data_dir: Path, relative: str, task: str) -> Path:
    path = data_dir / relative
    if not path.is_file():
        raise UserError(
            f"task {task}: {path} is missing; --data-dir must hold the layout of ../shared/data."
        )
    return path


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A data file's text; a file that is not in ``encoding`` fails naming the file and line."""
    data = Path(path).read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(
            f"{path}:{line}: not {encoding.upper()} text (byte 0x{data[error.start]:02x}); "
            f"save the file as {encoding.upper()}."
        ) from None


def read_tsv(
    path: Path, encoding: str = "utf-8", header: bool = True
) -> Iterable[tuple[int, list]]:
    """(line number, fields) for each row of a tab-separated file without quoting."""
    with io.StringIO(read_text(path, encoding), newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for number, row in enumerate(reader, start=1):
            if header and number == 1:
                continue
            if row:
                yield number, row


def require_text(value: str, where: str) -> str:
    text = value.strip()
    if not text:
        raise UserError(f"{where}: the sentence is empty; remove or fill the row.")
    return text


#: Seconds to wait for the hub before loading a dataset from the local cache only.
HUB_TIMEOUT = 5.0


def _hub_answers(path: str) -> bool:
    """Does the Hugging Face hub answer (anything, even "no such dataset") within
    ``HUB_TIMEOUT``?"""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HfHubHTTPError

    try:
        HfApi().dataset_info(path, timeout=HUB_TIMEOUT)
    except HfHubHTTPError:  # an answer: not found, gated, ...
        return True
    except Exception:  # offline, a timeout, a proxy
        return False
    return True


@contextlib.contextmanager
def _cache_only() -> Iterator[None]:
    """``datasets`` and the hub client in offline mode: the local cache, or an error at once
    (instead of retrying a network that is not there)."""
    import datasets.config
    import huggingface_hub.constants

    owners = [datasets.config, huggingface_hub.constants]
    saved = [owner.HF_HUB_OFFLINE for owner in owners]
    for owner in owners:
        owner.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for owner, value in zip(owners, saved, strict=True):
            owner.HF_HUB_OFFLINE = value


def from_hub(
    path: str, name: str | None, split: str, revision: str | None = None
) -> Sequence[dict]:
    """Load a split through ``datasets`` (needs a network or a warm hub cache); ``revision``
    picks a branch, e.g. ``refs/convert/parquet`` for a repository that still holds a script.
    When the hub does not answer within ``HUB_TIMEOUT`` seconds, only the local cache is
    tried, so an offline run without a data folder fails in seconds, not after retries."""
    try:
        import datasets

        online = _hub_answers(path)
        with contextlib.nullcontext() if online else _cache_only():
            return datasets.load_dataset(path, name, split=split, revision=revision)
    except Exception as error:
        raise UserError(
            f"could not load {path} {split} from the hub ({type(error).__name__}); "
            f"offline, pass --data-dir or set ${DATA_DIR_ENV}."
        ) from error
