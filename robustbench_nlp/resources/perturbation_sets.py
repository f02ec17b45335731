"""SAFER's perturbation sets over the offline synonym space: the random substitutions a smoothed
classifier votes over, and the per-word overlaps its certificate is computed from.

SAFER (Ye, Gong & Liu 2020, "SAFER: A Structure-free Approach for Certified Robustness to
Adversarial Word Substitutions", arXiv 2005.14424; public code: github.com/lushleaf/
Structure-free-certified-NLP, ``data_process.py`` and ``evaluation.py``) builds them so:

1. a synonym graph: an edge joins two words whose vectors are similar enough
   (``similarity_threshold``); a word's graph neighbours are what an adversary may put in its
   place (the threat model the certificate is for);
2. for each connected component of the graph: if it has at most ``set_size`` words, every word's
   perturbation set is the whole component (then a word and any synonym have the *same* set and
   the overlap is 1); otherwise a word's set is its ``set_size`` most similar words of the
   component, itself included;
3. a word's overlap is ``min |P(w) & P(w')| / |P(w)|`` over its graph neighbours w' (1 in a small
   component, and for a word with no synonym, which is never substituted).

A random substitution replaces every word (independently) by a uniform draw from its set. For
a text whose words an adversary replaces by graph neighbours, the total variation between the
two substitution distributions is at most ``delta = 1 - prod_j overlap(w_j)``, the product over
the perturbed positions (``delta``; the public code multiplies over every word of the text).

Choices of this implementation, stated:

- The space is the project's counter-fitted MiniLM word vectors (``synonyms.py``; whole-word
  vocabulary entries, PPDB synonyms/antonyms) where SAFER uses counter-fitted GloVe after
  "all-but-the-top" post-processing; it is used as it is, by cosine. The defaults
  (``similarity_threshold`` 0.8, ``set_size`` 100) are the public code's (``run.sh``).
- Candidate edges are each word's 100 nearest neighbours in the prepared space (the prepared
  resource keeps 100), kept when their cosine reaches the threshold, made symmetric; SAFER
  scans the whole vocabulary. The two graphs are the same unless some word has all 100 of its
  nearest neighbours above the threshold: ``build`` counts those words (``saturated``), and
  there is none at the default threshold (at 0.8: 7524 words have a set, 147 of them in
  components larger than 100, whose overlaps are 0.81 or more).
- The vocabulary is the whole space (SAFER keeps the words of its dataset seen more than once).
- Words are split on whitespace and looked up lowercased with their trailing punctuation
  removed, as ``calculate_tv.get_tv`` does; a substituted word loses that punctuation mark only
  if it had one, which is put back.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from robustbench_nlp.resources.layout import require
from robustbench_nlp.resources.synonyms import SynonymSpace, load

_PUNCTUATION = set(string.punctuation)


@dataclass(frozen=True)
class PerturbationSets:
    """Per word (lowercase): its perturbation set, its synonyms (the threat model) and its
    overlap; words absent from ``sets`` have no synonym and are never substituted."""

    sets: dict[str, tuple[str, ...]]
    synonyms: dict[str, tuple[str, ...]]
    overlap: dict[str, float]
    #: Words whose 100 prepared neighbours all pass the threshold (their graph may be cut).
    saturated: int = 0

    def words_of(self, text: str) -> list[tuple[str, str]]:
        """(lookup key, trailing punctuation) of each whitespace-separated word of ``text``."""
        out = []
        for token in text.split():
            if len(token) > 1 and token[-1] in _PUNCTUATION:
                out.append((token[:-1].lower(), token[-1]))
            else:
                out.append((token.lower(), ""))
        return out

    def substitute(self, text: str, rng: np.random.Generator) -> str:
        """``text`` with every word replaced by a uniform draw from its perturbation set."""
        words = []
        for token, (key, tail) in zip(text.split(), self.words_of(text), strict=True):
            choices = self.sets.get(key)
            words.append(token if choices is None else choices[rng.integers(len(choices))] + tail)
        return " ".join(words)

    def overlaps(self, text: str) -> list[float]:
        """The overlap of each word of ``text``, smallest first."""
        return sorted(self.overlap.get(key, 1.0) for key, _ in self.words_of(text))

    def delta(self, text: str, max_perturbed: int | None = None) -> float:
        """SAFER's bound on the total variation: ``1 - prod`` of the ``max_perturbed`` smallest
        overlaps of ``text`` (all words when None, as the public code)."""
        chosen = self.overlaps(text)
        if max_perturbed is not None:
            chosen = chosen[:max_perturbed]
        return 1.0 - math.prod(chosen)


def build(space: SynonymSpace, similarity_threshold: float, set_size: int) -> PerturbationSets:
    """SAFER's sets over ``space`` (steps 1-3 of the module docstring)."""
    vectors = space.vectors.astype(np.float32)
    neighbours = space.neighbours[:, 1:] if _has_self(space) else space.neighbours
    rows = np.repeat(np.arange(len(vectors)), neighbours.shape[1])
    cols = neighbours.reshape(-1).astype(np.int64)
    cosine = np.einsum("ij,ij->i", vectors[rows], vectors[cols])
    keep = (cosine >= similarity_threshold) & (rows != cols)
    saturated = int(keep.reshape(len(vectors), -1).all(axis=1).sum())
    rows, cols = rows[keep], cols[keep]
    n = len(vectors)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    graph = ((graph + graph.T) > 0).tocsr()
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for word in np.unique(graph.nonzero()[0]):
        members.setdefault(int(component[word]), []).append(int(word))
    words = space.words
    sets: dict[str, tuple[str, ...]] = {}
    index_sets: dict[int, frozenset[int]] = {}
    divided: set[int] = set()
    for group in members.values():
        if len(group) <= set_size:
            for word in group:
                index_sets[word] = frozenset(group)
            continue
        matrix = vectors[group]
        for word in group:
            order = np.argsort(-(matrix @ vectors[word]), kind="stable")[:set_size]
            index_sets[word] = frozenset(group[i] for i in order)
            divided.add(word)
    synonyms, overlap = {}, {}
    for word, members_of in index_sets.items():
        sets[words[word]] = tuple(words[i] for i in sorted(members_of))
        adjacent = graph.indices[graph.indptr[word] : graph.indptr[word + 1]]
        synonyms[words[word]] = tuple(words[i] for i in sorted(adjacent))
        if word in divided:
            overlap[words[word]] = min(
                len(members_of & index_sets[int(other)]) / len(members_of) for other in adjacent
            )
        else:
            overlap[words[word]] = 1.0
    return PerturbationSets(sets, synonyms, overlap, saturated)


def _has_self(space: SynonymSpace) -> bool:
    """Whether the prepared neighbour lists start with the word itself (they do: k + 1)."""
    first = space.neighbours[: min(50, len(space.neighbours)), 0]
    return bool((first == np.arange(len(first))).all())


@functools.lru_cache(maxsize=4)
def shared_sets(similarity_threshold: float, set_size: int) -> PerturbationSets:
    """The sets over the prepared synonym space, built once per process and setting."""
    return build(load(require("synonyms").synonyms), similarity_threshold, set_size)


def example_texts(texts: Sequence[str], sets: PerturbationSets, rng: np.random.Generator):
    """One random substitution of each of ``texts`` (a convenience for training batches)."""
    return [sets.substitute(text, rng) for text in texts]
