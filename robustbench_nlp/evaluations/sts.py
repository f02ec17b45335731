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

``max_examples`` selects N pairs from all the chosen sets together (for quick runs).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from scipy.stats import spearmanr

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.evaluations.base import Evaluation
from robustbench_nlp.measure.base import MeasureContext, Outcomes
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.tasks.base import Example, Task
from robustbench_nlp.tasks.sts import ALL_SETS, SetName, load_sts


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
    """Spearman's rho; NaN where it is undefined (constant predictions or gold scores, or
    fewer than two pairs), never a number that was not measured."""
    if len(predicted) < 2 or len(set(predicted)) < 2 or len(set(gold)) < 2:
        return math.nan
    return float(spearmanr(predicted, gold)[0])


class STS(Evaluation):
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

    def required_labels(self, task: Task) -> tuple[str, ...]:
        return ()

    def examples(self, context: MeasureContext) -> list[Example]:
        rows = []
        for name, subsets in load_sts(context.data_dir, self.sets).items():
            for pairs in subsets:
                for first, second, gold in zip(
                    pairs.first, pairs.second, pairs.scores, strict=True
                ):
                    tags = (("set", name), ("subset", pairs.name), ("gold", gold))
                    rows.append(Example(first, 0, second, tags=tags))
        return rows

    def preflight(self, data_dir: Path | None, task: Task) -> None:
        load_sts(data_dir, self.sets)

    def measure(self, model, batch, context):
        view = self._view(model)
        first = encode(view, [e.text for e in batch], self.batch_size)
        second = encode(view, [e.pair or "" for e in batch], self.batch_size)
        return {
            "cosine": [round(v, 6) for v in F.cosine_similarity(first, second, dim=-1).tolist()]
        }

    def metrics(self, outcomes: Outcomes) -> list[Metric]:
        sets = [s for s in self.sets if s in set(outcomes.fields.get("set", []))]
        columns = [Metric(f"spearman/{name}", name, field=None, role="other") for name in sets]
        columns.append(Metric("spearman/avg", "STS avg", field=None, role="score"))
        return columns

    def extra_metrics(self, outcomes: Outcomes, context: MeasureContext) -> dict[str, float]:
        """Spearman per subset, per set (SentEval "all") and their mean. An undefined
        correlation is left out of the metrics (the board shows "—") and named in the cell's
        notes; the average is then undefined too."""
        fields = outcomes.fields
        scores: dict[str, float] = {}

        def rho(key: str, value) -> float:
            keep = [i for i, v in enumerate(fields[key]) if v == value]
            return spearman([fields["cosine"][i] for i in keep], [fields["gold"][i] for i in keep])

        sets = [s for s in self.sets if s in set(fields["set"])]
        for name in sets:
            pairs = zip(fields["set"], fields["subset"], strict=True)
            subsets = list(dict.fromkeys(sub for st, sub in pairs if st == name))
            if len(subsets) > 1:
                for subset in subsets:
                    scores[f"spearman/{subset}"] = rho("subset", subset)
            scores[f"spearman/{name}"] = rho("set", name)
        per_set = [scores[f"spearman/{n}"] for n in sets]
        scores["spearman/avg"] = statistics.fmean(per_set) if per_set else math.nan
        notes = context.state.setdefault("notes", [])
        for key, value in scores.items():
            if math.isnan(value):
                notes.append(
                    f"{key}: Spearman undefined (constant predictions or gold scores); not scored"
                )
        return {key: value for key, value in scores.items() if not math.isnan(value)}

    def _view(self, model: Classifier) -> Classifier:
        """``model``, or one sharing its encoder that represents single sentences (its
        sentence template when it was trained on pairs) with up to ``max_length`` tokens."""
        limit = min(self.max_length, model.encoder.config.max_position_embeddings)
        spec = model.spec
        if spec.template is not None and "[Y]" in spec.template:
            if spec.sentence_template is None:
                raise UserError(
                    f"attack sts: the model reads sentence pairs through {spec.template!r} and "
                    "has no single-sentence template; STS needs one sentence per input: score "
                    "a model trained on a single-sentence task."
                )
            spec = replace(spec, template=spec.sentence_template)
        if spec == model.spec and spec.max_length == limit:
            return model
        view = Classifier(model.encoder, model.tokenizer, replace(spec, max_length=limit))
        return view.to(model.device)
