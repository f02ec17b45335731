"""Certified robust accuracy under synonym substitution: SAFER's randomized-smoothing
certificate (Ye, Gong & Liu 2020, arXiv 2005.14424, Theorem 1; public code
github.com/lushleaf/Structure-free-certified-NLP ``evaluation.py``).

The smoothed classifier g predicts, for a text x, the label most of f's predictions take over
random substitutions of x (every word replaced by a uniform draw from its perturbation set,
``resources.perturbation_sets``). Let p be the probability that f predicts the gold label under
those substitutions, and ``delta`` the bound on the total variation between the substitution
distributions of x and of any x' that replaces words of x by synonyms. Then g predicts the gold
label on every such x' if

    p - delta > 1/2              (binary; in general: p_gold - p_other > 2 delta with
                                  p_other <= 1 - p_gold, the same condition)

Per example this draws ``samples`` substitutions (seeded by the cell seed and the example id),
counts f's votes, and certifies when the one-sided Clopper-Pearson lower bound of p at
confidence ``1 - alpha`` minus ``delta`` exceeds 1/2. Reported: the certified accuracy (main
column), the smoothed classifier's clean accuracy (majority vote right), the mean delta and p.

Choices, stated:

- The public code estimates p from 100000 samples (IMDB) and adds a fixed Monte Carlo margin
  (``mc_error`` 0.01); here N is a parameter and the margin is the exact binomial lower bound,
  so the certificate holds with probability at least ``1 - alpha`` per example whatever N is.
  The gold label is fixed before sampling, so one sample set serves both vote and bound.
- ``delta`` multiplies the overlaps of every word (``max_perturbed`` null), as the public code;
  a number R certifies against at most R substituted words (the R smallest overlaps).
- NLI pairs: only the hypothesis is substituted and certified, as the word attacks perturb it.
- Any model can be certified: the certificate is about its smoothed classifier and holds for any
  base model; a model not trained on random substitutions (only ``safer`` is) usually certifies
  little. The record says so. What is refused is a setting under which nothing can be
  certified (N so small that even N of N votes cannot clear 1/2).
- Identical substitutions of one example are classified once (short sentences repeat).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext, Work
from robustbench_nlp.resources.layout import require
from robustbench_nlp.tasks.base import Example, Task

if TYPE_CHECKING:
    from robustbench_nlp.model.classifier import Classifier


def lower_confidence_bound(successes: int, trials: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower bound of a binomial proportion at confidence 1 - alpha
    (Cohen et al.'s ``lowerConfBound``): the alpha quantile of Beta(k, n - k + 1); 0 when k = 0."""
    from scipy.stats import beta

    if successes <= 0:
        return 0.0
    return float(beta.ppf(alpha, successes, trials - successes + 1))


@dataclass(frozen=True)
class Certificate:
    """One example's verdict from its votes."""

    smoothed_correct: bool
    certified: bool
    #: Lower confidence bound of the gold label's share of the votes.
    p_lower: float


def certificate(votes: Sequence[int], gold: int, delta: float, alpha: float) -> Certificate:
    """The smoothed classifier's verdict on one example from f's ``votes`` per label over its
    random substitutions: right when the gold label has the most votes (ties: the lowest
    label), certified when ``lower_confidence_bound(votes[gold]) - delta > 1/2``."""
    trials = int(sum(votes))
    p_lower = lower_confidence_bound(int(votes[gold]), trials, alpha)
    majority = int(np.argmax(votes))
    return Certificate(majority == gold, p_lower - delta > 0.5, p_lower)


class Certify(Evaluation):
    """Certified robust accuracy under synonym substitution (SAFER's smoothing certificate)."""

    reads_task_eval: ClassVar[bool] = True
    #: A robustness column of the task's own examples, not a fixed challenge set (the board
    #: gives it no chance level), yet no attack of the empirical worst case either
    #: (``ensemble_field`` stays None): a certificate bounds robustness from below.
    perturbs: ClassVar[bool] = True
    #: Substituted texts are new each time: no per-example token cache.
    cache_tokens: ClassVar[bool] = False
    metric_specs: ClassVar[tuple[Metric, ...]] = (
        Metric("certified_accuracy", field="certified", role="other"),
        Metric("smoothed_accuracy", "smoothed clean", table="detail", field="smoothed_correct"),
        Metric("mean_delta", "delta", table="detail", percent=False, field="delta"),
        Metric("mean_vote", "gold vote share", table="detail", percent=False, field="vote"),
    )

    samples: int = Field(64, ge=1, description="Random substitutions N per example.")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="1 - confidence of each certificate.")
    similarity_threshold: float = Field(
        0.8, gt=-1, le=1, description="Cosine of a synonym (edge of the synonym graph)."
    )
    set_size: int = Field(100, ge=1, description="Largest perturbation set K per word.")
    max_perturbed: int | None = Field(
        None, gt=0, description="Certify against at most R substituted words (null: any number)."
    )
    batch_size: int = Field(8, ge=1, description="Examples per batch (x samples texts).")

    @model_validator(mode="after")
    def _can_certify(self) -> Certify:
        best = lower_confidence_bound(self.samples, self.samples, self.alpha)
        if best <= 0.5:
            need = math.ceil(math.log(self.alpha) / math.log(0.5) + 1e-9)
            raise ValueError(
                f"samples {self.samples} at alpha {self.alpha} cannot certify anything (even "
                f"{self.samples} of {self.samples} votes bound p by {best:.3f} <= 0.5); use "
                f"samples >= {need}"
            )
        return self

    def default_label(self, name: str) -> str:
        return "Certified"

    def resource_names(self) -> tuple[str, ...]:
        return ("synonyms",)

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        super().preflight(data_dir, task)
        require("synonyms")

    def planned_work(self, n_examples: int) -> Work:
        return Work(forwards=n_examples * self.samples, fixed_seconds=5.0)

    def examples(self, context: MeasureContext) -> list[Example]:
        return list(context.data.eval)

    def measure(
        self, model: Classifier, batch: list[Example], context: MeasureContext
    ) -> dict[str, Any]:
        from robustbench_nlp.resources.perturbation_sets import shared_sets

        sets = shared_sets(self.similarity_threshold, self.set_size)
        if "notes" not in context.state:
            context.state["notes"] = [
                f"certify: SAFER's certificate for the model's smoothed classifier (majority of "
                f"{self.samples} random substitutions, synonym cosine >= "
                f"{self.similarity_threshold:g}, sets of at most {self.set_size} words, each "
                f"certificate at confidence {1 - self.alpha:g}); it holds for any base model, "
                "and a model not trained on random substitutions (only safer is) certifies "
                "little."
            ]
        unique: dict[Example, int] = {}
        votes_of: list[list[int]] = []
        for example in batch:
            rng = np.random.default_rng(int(stable_hash([context.seed, example.id], 8), 16))
            rows = []
            for _ in range(self.samples):
                variant = _substituted(example, sets, rng)
                rows.append(unique.setdefault(variant, len(unique)))
            votes_of.append(rows)
        variants = list(unique)
        predicted = model.predict_proba(variants, 64).argmax(-1).tolist() if variants else []
        out: dict[str, list] = {"smoothed_correct": [], "certified": [], "delta": [], "vote": []}
        for example, rows in zip(batch, votes_of, strict=True):
            counts = np.bincount([predicted[r] for r in rows], minlength=context.task.num_labels)
            delta = sets.delta(_attacked(example), self.max_perturbed)
            verdict = certificate(counts.tolist(), example.label, delta, self.alpha)
            out["smoothed_correct"].append(verdict.smoothed_correct)
            out["certified"].append(verdict.certified)
            out["delta"].append(round(delta, 6))
            out["vote"].append(round(int(counts[example.label]) / self.samples, 6))
        return out


def _attacked(example: Example) -> str:
    return example.text if example.pair is None else example.pair


def _substituted(example: Example, sets, rng: np.random.Generator) -> Example:
    """``example`` with one random substitution of its attacked column (label kept)."""
    if example.pair is None:
        return Example(sets.substitute(example.text, rng), example.label)
    return Example(example.text, example.label, sets.substitute(example.pair, rng))
