"""``robustbench-nlp resources prepare``: build every missing offline resource, once."""

from __future__ import annotations

from pathlib import Path

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.resources import mlm, similarity, synonyms
from robustbench_nlp.resources.layout import DATA_RESOURCES, Layout, check, layout
from robustbench_nlp.resources.wordnet import (
    WORDNET_SOURCE,
    prepare_nltk,
    prepare_textattack_cache,
)


def prepare(
    data_dir: Path | None,
    force: bool = False,
    wordnet_source: Path = WORDNET_SOURCE,
    log=print,
    with_data: bool = True,
    with_mlm: bool = False,
) -> Layout:
    """Build every resource that is missing (all of them with ``force``); return the layout.

    ``with_data=False`` builds only what needs no data folder (stopwords, WordNet, the TextAttack
    marker) and says which resources it left out, for machines without ``../shared/data``.
    ``with_mlm`` also trains the masked-LM head (``resources/mlm.py``, minutes), which only BAE
    and BERT-Attack with ``mlm: prepared`` need.
    """
    where = layout()
    where.root.mkdir(parents=True, exist_ok=True)
    status = {s.name: s for s in check(where.root)}
    if force or not (status["stopwords"].ok and status["wordnet"].ok):
        prepare_nltk(where, wordnet_source, force)
        log(f"stopwords + wordnet: {where.nltk_data}")
    if not status["textattack-cache"].ok:
        prepare_textattack_cache(where)
        log(f"textattack cache: {where.textattack_cache}")
    if not with_data:
        for name in DATA_RESOURCES:
            if not status[name].ok:
                log(f"{name}: not built (needs the data folder; rerun with --data-dir)")
        return where
    if force or not status["synonyms"].ok:
        lexicon = _data_file(data_dir, "lexicon", "the synonym embedding (counter-fitting)")
        info = synonyms.build(lexicon, where.synonyms)
        log(
            f"synonym embedding: {info['words']} words, {info['synonym_pairs']} synonym / "
            f"{info['antonym_pairs']} antonym pairs -> {where.synonyms}"
        )
    if force or not status["similarity"].ok:
        sts = _data_file(data_dir, "stsb/sts-dev.csv", "the sentence-similarity calibration")
        info = similarity.build_calibration(sts, where.similarity)
        log(f"similarity calibration: {info['pairs']} STS-B dev pairs -> {where.similarity}")
    if with_mlm and (force or not status["mlm"].ok):
        _data_file(data_dir, "sst2/train.tsv", "the masked-LM head (BAE, BERT-Attack)")
        mlm.build(data_dir, where.mlm, log=log)
    return where


def _data_file(data_dir: Path | None, relative: str, what: str) -> Path:
    if data_dir is None:
        raise UserError(
            f"{what} needs the data folder: pass --data-dir (the layout of ../shared/data) or set "
            "$RBNLP_DATA_DIR."
        )
    path = data_dir / relative
    if not path.exists():
        raise UserError(f"{what} needs {path}, which is missing; check --data-dir.")
    return path
