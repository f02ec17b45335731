"""STS file formats: SemEval STS12-16 in the SentEval layout and the STS Benchmark csv.

- STS12-16 (``<data>/sts/STS1x-en-test``): input lines ``s1<TAB>s2``, gold lines a score or
  empty (no score: the pair is skipped); sentences are whitespace-normalised as SentEval does.
  STS13 has no SMT subset (as in SentEval).
- STS-B (``<data>/stsb/sts-{train,dev,test}.csv``): columns 5 and 6 are the sentences and
  column 4 the score; trailing extra fields of some rows are ignored.

Readers only: scoring lives in ``evaluations/sts.py``, the similarity calibration of the word
attacks in ``resources/similarity.py``; both read STS-B through ``read_stsb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.tasks.base import DATA_DIR_ENV, read_text

#: SentEval's subsets of each STS year (file STS.input.<subset>.txt / STS.gs.<subset>.txt).
YEARS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}
STSB = "STS-B"
STSB_FILE = "stsb/sts-test.csv"
SetName = Literal["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B"]
ALL_SETS: tuple[str, ...] = (*YEARS, STSB)


@dataclass(frozen=True)
class Pairs:
    """Scored sentence pairs of one subset (``name`` as "STS12/MSRpar" or "STS-B")."""

    name: str
    first: list[str]
    second: list[str]
    scores: list[float]

    def head(self, n: int | None) -> Pairs:
        if n is None:
            return self
        return Pairs(self.name, self.first[:n], self.second[:n], self.scores[:n])


def _missing(path: Path) -> UserError:
    return UserError(
        f"sts: {path} is missing; --data-dir (or ${DATA_DIR_ENV}) must point at a folder with "
        "sts/STS12-en-test ... sts/STS16-en-test and stsb/sts-test.csv, e.g. ../shared/data."
    )


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise _missing(path)
    return read_text(path).splitlines()


def _score(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{where}: gold score {text!r} is not a number.") from None


def read_year_subset(data_dir: Path, year: str, subset: str) -> Pairs:
    """One SentEval STS subset: input lines ``s1<TAB>s2``, gold lines a score or empty (skip)."""
    folder = data_dir / "sts" / f"{year}-en-test"
    inputs = folder / f"STS.input.{subset}.txt"
    gold = folder / f"STS.gs.{subset}.txt"
    input_lines, gold_lines = _lines(inputs), _lines(gold)
    if len(input_lines) != len(gold_lines):
        raise UserError(
            f"{gold}: {len(gold_lines)} lines for {len(input_lines)} pairs in {inputs.name}; "
            "the two files must have one line per pair."
        )
    first, second, scores = [], [], []
    for number, (pair, score) in enumerate(zip(input_lines, gold_lines, strict=True), start=1):
        if not score.strip():
            continue
        fields = pair.split("\t")
        if len(fields) < 2:
            raise UserError(f"{inputs}:{number}: expected sentence1<TAB>sentence2.")
        first.append(" ".join(fields[0].split()))
        second.append(" ".join(fields[1].split()))
        scores.append(_score(score.strip(), f"{gold}:{number}"))
    return Pairs(f"{year}/{subset}", first, second, scores)


def read_stsb(path: Path) -> Pairs:
    """An STS-B csv (train, dev or test): tab separated, no quoting, score in column 4 and the
    sentences in columns 5 and 6; trailing extra fields of some rows are ignored."""
    first, second, scores = [], [], []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 7:
            raise UserError(
                f"{path}:{number}: expected genre, file, year, id, score, sentence1, sentence2 "
                f"(tab separated), found {len(fields)} field(s)."
            )
        scores.append(_score(fields[4].strip(), f"{path}:{number}"))
        first.append(" ".join(fields[5].split()))
        second.append(" ".join(fields[6].split()))
    return Pairs(STSB, first, second, scores)


def sts_files(data_dir: Path, sets: tuple[str, ...] | list[str] = ALL_SETS) -> list[Path]:
    """Every file the requested sets read (for preflight and the data fingerprint)."""
    files = []
    for name in sets:
        if name == STSB:
            files.append(data_dir / STSB_FILE)
            continue
        folder = data_dir / "sts" / f"{name}-en-test"
        for subset in YEARS[name]:
            files += [folder / f"STS.input.{subset}.txt", folder / f"STS.gs.{subset}.txt"]
    return files


def load_sts(data_dir: Path | None, sets: tuple[str, ...] | list[str] = ALL_SETS) -> dict:
    """``{set: [Pairs of each subset]}`` for the requested sets, every file checked first."""
    if data_dir is None:
        raise UserError(
            f"sts reads STS12-16 and STS-B from files: pass --data-dir ../shared/data (or set "
            f"${DATA_DIR_ENV}) to a folder with sts/ and stsb/."
        )
    loaded: dict[str, list[Pairs]] = {}
    for name in sets:
        if name == STSB:
            loaded[name] = [read_stsb(data_dir / STSB_FILE)]
        else:
            loaded[name] = [read_year_subset(data_dir, name, subset) for subset in YEARS[name]]
    return loaded
