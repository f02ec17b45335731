"""Sentence similarity with MiniLM: the offline stand-in for the Universal Sentence Encoder.

TextFooler, BAE and BERT-Attack keep a swap only if the Universal Sentence Encoder (USE, a TF-Hub
download) finds the new text similar enough to the old one. Here the encoder is
all-MiniLM-L6-v2 with mean pooling (its sentence-transformers configuration) and cosine
similarity; the same encoder scores the similarity of finished adversarial examples.

USE's thresholds mean nothing on MiniLM's scale, so each is mapped by one documented rule,
quantile matching on the STS-B dev set (1,500 human-scored pairs):

1. read the recipe's USE threshold on the STS gold scale: similarity 1 is a gold score of 5, so
   a threshold ``t`` (cosine, or angular similarity for TextFooler) becomes the score ``5 t``;
2. ``f`` = the fraction of dev pairs whose gold score is at least ``5 t``: the share of real
   sentence pairs that a judge of USE's strictness would accept;
3. the MiniLM threshold is the cosine that accepts the same fraction ``f`` of dev pairs (the
   ``f``-th upper quantile of MiniLM's cosines).

The rule assumes only that USE's similarity tracks the gold scale and that both encoders rank
pairs alike (MiniLM's cosine has Spearman 0.87 with the dev gold scores); it needs no copy of
USE. With the STS-B dev set as shipped (computed by ``robustbench-nlp resources prepare``):

============  =====================  ===========  ==================  ================
recipe        USE threshold          gold level   dev pairs accepted  MiniLM threshold
============  =====================  ===========  ==================  ================
TextFooler    0.8408 (angular)       4.20         11.4 %              0.892
BAE           0.9363 (cosine)        4.68         5.9 %               0.933
BERT-Attack   0.2 (cosine)           1.00         77.1 %              0.336
============  =====================  ===========  ==================  ================

A suite can set ``similarity_threshold`` to override the mapped value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from robustbench_nlp.core.files import atomic_write_text
from robustbench_nlp.model.backbones import minilm_path
from robustbench_nlp.resources.layout import FORMAT_VERSION
from robustbench_nlp.tasks.sts import read_stsb

ENCODER_NAME = "all-MiniLM-L6-v2 (mean pooling, cosine)"


class MiniLMSimilarity:
    """Mean-pooled all-MiniLM-L6-v2 sentence vectors (unit length), batched and cached."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, max_length: int = 256):
        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self._cache: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        """(N, 384) unit vectors; repeated sentences are encoded once."""
        todo = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            batch = self.tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            for sentence, vector in zip(chunk, pooled, strict=True):
                self._cache[sentence] = vector
        if not sentences:
            return torch.empty(0, self.model.config.hidden_size)
        return torch.stack([self._cache[s] for s in sentences])

    def cosine(self, first: Sequence[str], second: Sequence[str]) -> torch.Tensor:
        """Row-wise cosine similarity of two equally long lists of sentences."""
        a, b = self.encode(first), self.encode(second)
        return (a * b).sum(-1)

    def clear_cache(self) -> None:
        self._cache.clear()


_SHARED: dict[str, MiniLMSimilarity] = {}


def shared_similarity() -> MiniLMSimilarity:
    """The process's one MiniLM similarity encoder: every attack session and cell of a process
    uses it, so loading MiniLM (a fraction of a second) is paid once, not once per cell; its
    cache maps a sentence to its vector and does not depend on the model under attack."""
    key = str(minilm_path())
    if key not in _SHARED:
        _SHARED[key] = MiniLMSimilarity(key)
    return _SHARED[key]


def clear_shared_caches() -> None:
    """Forget the shared encoder's sentence vectors (a new attack session starts empty, as it
    did with an encoder of its own, so memory does not grow from cell to cell)."""
    for encoder in _SHARED.values():
        encoder.clear_cache()


def build_calibration(stsb_dev: Path, target: Path) -> dict:
    """Score the STS-B dev pairs with MiniLM and save (gold, cosine) for ``threshold_for``."""
    pairs = read_stsb(stsb_dev)
    encoder = MiniLMSimilarity()
    cosines = encoder.cosine(pairs.first, pairs.second)
    info = {
        "format_version": FORMAT_VERSION,
        "encoder": ENCODER_NAME,
        "source": str(stsb_dev),
        "pairs": len(pairs.scores),
        "gold": list(pairs.scores),
        "cosine": [round(float(c), 6) for c in cosines],
    }
    atomic_write_text(target, json.dumps(info))
    return info


def threshold_for(use_threshold: float, calibration: dict) -> tuple[float, float]:
    """(MiniLM cosine threshold, accepted fraction of STS-B dev) for a USE threshold (cosine or
    angular similarity, both in [0, 1]): the quantile-matching rule of the module docstring."""
    gold = calibration["gold"]
    cosine = sorted(calibration["cosine"], reverse=True)
    fraction = sum(score >= 5 * use_threshold for score in gold) / len(gold)
    accepted = round(fraction * len(cosine))
    if accepted == 0:
        return cosine[0] + 1e-6, 0.0
    return cosine[accepted - 1], fraction


def load_calibration(path: Path) -> dict:
    return json.loads(Path(path).read_text())
