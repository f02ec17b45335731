"""Counter-fitting (Mrkšić et al. 2016, arXiv 1603.00892): synonym vectors for word-swap attacks.

TextFooler swaps words for their nearest neighbours in counter-fitted word vectors (Paragram-SL999
vectors counter-fitted to PPDB and WordNet). Those vectors are a download, so this module builds
the same kind of space offline: the backbone's input word vectors restricted to whole-word
vocabulary entries, then counter-fitted to the linguistic constraints of the paper
(``<data>/lexicon``). Three terms shape the space, each a hinge on cosine distance d = 1 - cos:

- antonym repel (k1): push antonyms apart until d >= delta (1.0, i.e. cos <= 0);
- synonym attract (k2): pull synonyms together while d > gamma (0.0);
- vector space preservation (k3): pairs closer than rho (0.2) in the original space may not
  drift further apart than they started.

The update is the paper's full-batch step (each word's gradient terms averaged, unit length
restored after every step, 20 steps), vectorised with ``index_add_``. This module only computes
vectors; it never reads a model's head and never downloads anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

WORD = re.compile(r"^[a-z]+$")


@dataclass(frozen=True)
class CounterFitConfig:
    """The paper's hyperparameters (its defaults)."""

    antonym_weight: float = 0.1  # k1
    synonym_weight: float = 0.1  # k2
    preserve_weight: float = 0.1  # k3
    delta: float = 1.0
    gamma: float = 0.0
    rho: float = 0.2
    steps: int = 20


def whole_words(vocab: dict[str, int], min_length: int = 2) -> list[tuple[str, int]]:
    """(word, token id) for vocabulary entries that are whole lowercase words (no ``##`` pieces,
    special tokens, digits or punctuation), in id order."""
    rows = [(w, i) for w, i in vocab.items() if len(w) >= min_length and WORD.match(w)]
    return sorted(rows, key=lambda row: row[1])


def read_pairs(paths: Iterable[Path], index: dict[str, int]) -> torch.Tensor:
    """Word pairs from ``word1 word2`` lines, both directions, both words in ``index``: (P, 2)."""
    pairs: set[tuple[int, int]] = set()
    for path in paths:
        with Path(path).open(encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) < 2 or parts[0] == parts[1]:
                    continue
                a, b = index.get(parts[0]), index.get(parts[1])
                if a is not None and b is not None:
                    pairs.update({(a, b), (b, a)})
    return torch.tensor(sorted(pairs), dtype=torch.long).view(-1, 2)


def normalise(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-6)


def close_pairs(vectors: torch.Tensor, rho: float, chunk: int = 2048) -> torch.Tensor:
    """Ordered pairs (i, j), i != j, of unit vectors with cosine distance <= rho: (P, 2)."""
    found = []
    for start in range(0, len(vectors), chunk):
        sims = vectors[start : start + chunk] @ vectors.T
        rows, cols = torch.nonzero(sims >= 1 - rho, as_tuple=True)
        rows = rows + start
        keep = rows != cols
        found.append(torch.stack([rows[keep], cols[keep]], dim=1))
    return torch.cat(found) if found else torch.empty(0, 2, dtype=torch.long)


def _partial(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """d(1 - u.v)/du projected as in the paper's code for unit vectors: u (u.v) - v."""
    return u * (u * v).sum(1, keepdim=True) - v


def counter_fit(
    vectors: torch.Tensor,
    synonyms: torch.Tensor,
    antonyms: torch.Tensor,
    config: CounterFitConfig | None = None,
) -> torch.Tensor:
    """Counter-fit ``vectors`` (N, D) to synonym and antonym pairs (P, 2) of row indices.

    Returns unit-length vectors. A pair listed as both synonym and antonym counts as antonym.
    """
    config = config or CounterFitConfig()
    start = normalise(vectors.float())
    if len(antonyms) and len(synonyms):
        antonym_set = {tuple(p) for p in antonyms.tolist()}
        keep = [tuple(p) not in antonym_set for p in synonyms.tolist()]
        synonyms = synonyms[torch.tensor(keep, dtype=torch.bool)]
    preserve = close_pairs(start, config.rho) if config.preserve_weight > 0 else None
    if preserve is not None and len(antonyms):
        antonym_set = {tuple(p) for p in antonyms.tolist()}
        keep = [tuple(p) not in antonym_set for p in preserve.tolist()]
        preserve = preserve[torch.tensor(keep, dtype=torch.bool)]
    original = (
        1 - (start[preserve[:, 0]] * start[preserve[:, 1]]).sum(1) if preserve is not None else None
    )
    current = start.clone()
    for _ in range(config.steps):
        update = torch.zeros_like(current)
        count = torch.zeros(len(current))
        # Antonyms: for word i, move away from j while d(i, j) < delta.
        if len(antonyms):
            i, j = antonyms[:, 0], antonyms[:, 1]
            active = 1 - (current[i] * current[j]).sum(1) < config.delta
            i, j = i[active], j[active]
            update.index_add_(0, i, config.antonym_weight * _partial(current[i], current[j]))
            count.index_add_(0, i, torch.ones(len(i)))
        # Synonyms: for word j, move towards i while d(i, j) > gamma.
        if len(synonyms):
            i, j = synonyms[:, 0], synonyms[:, 1]
            active = 1 - (current[i] * current[j]).sum(1) > config.gamma
            i, j = i[active], j[active]
            update.index_add_(0, j, -config.synonym_weight * _partial(current[j], current[i]))
            count.index_add_(0, j, torch.ones(len(j)))
        # Preservation: close pairs may not drift further apart than they were.
        if preserve is not None and len(preserve):
            i, j = preserve[:, 0], preserve[:, 1]
            active = 1 - (current[i] * current[j]).sum(1) > original
            i, j = i[active], j[active]
            update.index_add_(0, i, -config.preserve_weight * _partial(current[i], current[j]))
            count.index_add_(0, i, torch.ones(len(i)))
        moved = count > 0
        current[moved] += update[moved] / count[moved].unsqueeze(1)
        current = normalise(current)
    return current


def nearest_neighbours(vectors: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """(N, k + 1) row indices by descending cosine; column 0 is the row itself (TextAttack's
    ``nn_matrix`` layout)."""
    unit = normalise(vectors)
    rows = []
    for start in range(0, len(unit), chunk):
        sims = unit[start : start + chunk] @ unit.T
        index = torch.arange(start, min(start + chunk, len(unit)))
        sims[torch.arange(len(index)), index] = float("inf")  # self first, whatever the ties
        rows.append(sims.topk(k + 1, dim=1).indices)
    return torch.cat(rows)
