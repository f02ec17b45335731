"""The synonym embedding of TextFooler-style swaps: build it once, load it as arrays.

Built by ``robustbench-nlp resources prepare`` from all-MiniLM-L6-v2's input word vectors
(whole-word vocabulary entries only) counter-fitted to the PPDB synonyms and the PPDB + WordNet
antonyms in ``<data>/lexicon`` (``counterfit.py``). Stored as unit vectors, the word list, and
the 100 nearest neighbours of every word (TextAttack's ``nn_matrix`` layout), so loading reads
three files and computes nothing. The attack code wraps the arrays as a TextAttack
``WordEmbedding``; this module does not import TextAttack.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from robustbench_nlp.core.files import atomic_folder
from robustbench_nlp.model.backbones import minilm_path
from robustbench_nlp.resources.counterfit import (
    CounterFitConfig,
    counter_fit,
    nearest_neighbours,
    read_pairs,
    whole_words,
)
from robustbench_nlp.resources.layout import FORMAT_VERSION

NEIGHBOURS = 100
SYNONYM_FILES = ("ppdb_synonyms.txt",)
ANTONYM_FILES = ("ppdb_antonyms.txt", "wordnet_antonyms.txt")


@dataclass(frozen=True)
class SynonymSpace:
    """Unit word vectors (N, D), their words, and (N, NEIGHBOURS + 1) nearest neighbours."""

    vectors: np.ndarray
    words: list[str]
    neighbours: np.ndarray

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def build(lexicon: Path, target: Path, config: CounterFitConfig | None = None) -> dict:
    """Counter-fit MiniLM's word vectors to the lexicon and save them in ``target``."""
    config = config or CounterFitConfig()
    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    table = AutoModel.from_pretrained(path).get_input_embeddings().weight.detach()
    entries = whole_words(tokenizer.get_vocab())
    words = [w for w, _ in entries]
    index = {w: i for i, w in enumerate(words)}
    start = table[torch.tensor([i for _, i in entries])]
    synonyms = read_pairs([lexicon / name for name in SYNONYM_FILES], index)
    antonyms = read_pairs([lexicon / name for name in ANTONYM_FILES], index)
    with torch.no_grad():
        vectors = counter_fit(start, synonyms, antonyms, config)
        neighbours = nearest_neighbours(vectors, NEIGHBOURS)
    info = {
        "format_version": FORMAT_VERSION,
        "source": f"{path} input word embeddings",
        "lexicon": str(lexicon),
        "words": len(words),
        "synonym_pairs": len(synonyms) // 2,
        "antonym_pairs": len(antonyms) // 2,
        "counter_fitting": asdict(config),
    }
    with atomic_folder(target) as staging:
        np.save(staging / "vectors.npy", vectors.numpy().astype(np.float32))
        np.save(staging / "neighbours.npy", neighbours.numpy().astype(np.int32))
        (staging / "words.txt").write_text("\n".join(words) + "\n")
        (staging / "info.json").write_text(json.dumps(info, indent=2))
    return info


def load(folder: Path) -> SynonymSpace:
    return SynonymSpace(
        vectors=np.load(folder / "vectors.npy"),
        words=(folder / "words.txt").read_text().split(),
        neighbours=np.load(folder / "neighbours.npy"),
    )
