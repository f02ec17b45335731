"""Sentence-embedding evaluation on semantic textual similarity (STS12-16 and STS-B test).

Not an attack: it scores the trained encoder's sentence representation the way SentEval /
SimCSE do (Conneau & Kiela 2018; Gao et al. 2021, arXiv 2104.08821). Each sentence is encoded
with ``Classifier.represent`` in eval mode (CLS, mean pooling or the prompt's [MASK] state,
denoised for PromptBERT with denoising; whatever the recipe trained); a pair's prediction is
the cosine similarity of its two sentences; the score is Spearman's rank correlation with the
gold scores, stored as a fraction (shown x 100 on the leaderboard).

- STS12-16 (``<data>/sts/STS1x-en-test``, SentEval layout): per year, SentEval's "all"
  setting, i.e. Spearman over the concatenation of the year's subsets (SimCSE reports this);
  each subset's own Spearman is kept in the record's metrics as ``spearman/STS12/MSRpar`` etc.
  A pair whose gold line is empty has no score and is skipped; sentences are whitespace-
  normalised as SentEval does. STS13 has no SMT subset (as in SentEval).
- STS-B (``<data>/stsb/sts-test.csv``): the test split; columns 5 and 6 are the sentences and
  column 4 the score; trailing extra fields of some rows are ignored.
- ``avg``: the mean of the selected sets' scores (SimCSE's "Avg." without SICK-R, which is not
  in the data folder).
- Sentences are tokenised with up to ``max_length`` tokens (SentEval does not truncate; 128
  covers all but a handful of STS sentences), so a recipe's shorter training ``max_length``
  does not cut evaluation sentences; each distinct sentence is encoded once, in batches sorted
  by length.

``max_examples`` keeps the first N scored pairs of each subset (for quick runs).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from scipy.stats import spearmanr

from robustbench_nlp.attacks.base import Attack, AttackResult, Column
from robustbench_nlp.classifier import Classifier
from robustbench_nlp.errors import UserError
from robustbench_nlp.tasks.base import DATA_DIR_ENV, Example

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
    return path.read_text(encoding="utf-8").splitlines()


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


def read_stsb_test(data_dir: Path) -> Pairs:
    """STS-B test: tab separated, no quoting, score in column 4, sentences in columns 5 and 6."""
    path = data_dir / STSB_FILE
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
            loaded[name] = [read_stsb_test(data_dir)]
        else:
            loaded[name] = [read_year_subset(data_dir, name, subset) for subset in YEARS[name]]
    return loaded


@torch.inference_mode()
def encode(model: Classifier, sentences: list[str], batch_size: int) -> torch.Tensor:
    """``model.represent`` of each sentence in eval mode, batched by length; shape (N, H)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = None
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = model.tokenize([Example(sentences[i], 0) for i in chunk])
        vectors = model.represent(batch).float().cpu()
        if out is None:
            out = torch.empty(len(sentences), vectors.size(-1))
        out[torch.tensor(chunk)] = vectors
    model.train(was_training)
    return out if out is not None else torch.empty(0, 0)


def spearman(predicted: list[float], gold: list[float]) -> float:
    """Spearman's rho; 0.0 where it is undefined (constant predictions or gold scores)."""
    rho = float(spearmanr(predicted, gold)[0])
    return 0.0 if math.isnan(rho) else rho


class STS(Attack):
    """Spearman x 100 of cosine similarity on STS12-16 ("all") and STS-B test, and their mean."""

    sets: list[SetName] = Field(default_factory=lambda: list(ALL_SETS), min_length=1)
    max_length: int = Field(128, ge=8, description="Tokens per sentence at evaluation.")
    batch_size: int = Field(64, ge=1)

    @field_validator("sets")
    @classmethod
    def _unique(cls, sets: list[str]) -> list[str]:
        if len(set(sets)) != len(sets):
            raise ValueError("each set may be listed once")
        return sets

    def run(self, model, context, label):
        data = {
            name: [pairs.head(self.max_examples) for pairs in subsets]
            for name, subsets in load_sts(context.data_dir, self.sets).items()
        }
        encoder_view = self._view(model)
        sentences = sorted(
            {s for subsets in data.values() for p in subsets for s in (*p.first, *p.second)}
        )
        index = {sentence: i for i, sentence in enumerate(sentences)}
        vectors = encode(encoder_view, sentences, self.batch_size)

        def cosine(pairs: Pairs) -> list[float]:
            a = vectors[[index[s] for s in pairs.first]]
            b = vectors[[index[s] for s in pairs.second]]
            return F.cosine_similarity(a, b, dim=-1).tolist()

        metrics: dict[str, float] = {}
        columns: list[Column] = []
        prefix = "" if label == "sts" else f"{label} "  # the default label adds nothing
        n_pairs = 0
        for name, subsets in data.items():
            predicted, gold = [], []
            for pairs in subsets:
                scores = cosine(pairs)
                if len(subsets) > 1:
                    metrics[f"spearman/{pairs.name}"] = spearman(scores, pairs.scores)
                predicted += scores
                gold += pairs.scores
            metrics[f"spearman/{name}"] = spearman(predicted, gold)
            columns.append(Column(f"spearman/{name}", f"{prefix}{name}"))
            n_pairs += len(gold)
        metrics["spearman/avg"] = statistics.fmean(metrics[f"spearman/{n}"] for n in data)
        columns.append(Column("spearman/avg", f"{prefix}STS avg", rank=True))
        return AttackResult(metrics=metrics, columns=columns, n_examples=n_pairs)

    def _view(self, model: Classifier) -> Classifier:
        """``model``, or one sharing its encoder that tokenises up to ``max_length`` tokens."""
        limit = min(self.max_length, model.encoder.config.max_position_embeddings)
        if model.spec.max_length == limit:
            return model
        view = Classifier(model.encoder, model.tokenizer, replace(model.spec, max_length=limit))
        return view.to(model.device)
