"""The masked-LM head made here (``resources/mlm.py``): BERT's masking, a frozen encoder, a
standard BertForMaskedLM folder that BAE / BERT-Attack load, and no evaluation sentence in its
training text."""

from __future__ import annotations

import json
import random

import pytest
import torch

from robustbench_nlp.resources import mlm
from tests.test_word_attacks import need

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "rug",
    "big",
    "small",
    "red",
    "blue",
    "film",
    "good",
    "bad",
]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A tiny random BERT encoder (MiniLM's tokenizer) saved as a folder, like MiniLM's."""
    from transformers import BertConfig, BertModel

    from robustbench_nlp.model.backbones import TINY_CONFIG, resolve_backbone

    tokenizer = resolve_backbone("tiny").load_tokenizer()
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("encoder")
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, **TINY_CONFIG)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) for _ in range(n)]


def test_masking_is_berts(tiny_encoder):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    sentences = corpus(400)
    held = mlm.mask_sentences(tokenizer, sentences, random.Random(1), 64, replace=False)
    special = set(tokenizer.all_special_ids)
    for (masked, positions, originals), sentence in zip(held, sentences, strict=True):
        ids = tokenizer(sentence)["input_ids"]
        words = [i for i, t in enumerate(ids) if t not in special]
        assert len(positions) == max(1, round(0.15 * len(words)))
        assert set(positions) <= set(words)  # never [CLS] / [SEP]
        assert all(masked[p] == tokenizer.mask_token_id for p in positions)
        assert originals == [ids[p] for p in positions]
        assert [t for i, t in enumerate(masked) if i not in positions] == [
            t for i, t in enumerate(ids) if i not in positions
        ]
    trained = mlm.mask_sentences(tokenizer, corpus(3000), random.Random(1), 64, replace=True)
    selected = [(m[p], o) for m, ps, os in trained for p, o in zip(ps, os, strict=True)]
    share_masked = sum(t == tokenizer.mask_token_id for t, _ in selected) / len(selected)
    share_kept = sum(t == o for t, o in selected) / len(selected)
    assert 0.76 < share_masked < 0.84 and 0.07 < share_kept < 0.14  # 80% [MASK], ~10% kept


def test_build_trains_the_head_only_and_saves_a_loadable_masked_lm(tiny_encoder, tmp_path):
    from transformers import BertModel

    from robustbench_nlp.attacks.textattack.offline import offline_textattack

    need("stopwords", "wordnet", "textattack-cache")
    offline_textattack()  # TextAttack imports offline (the resources folder), as an attack does
    from robustbench_nlp.attacks.textattack.components import load_masked_lm

    target = tmp_path / "mlm"
    info = mlm.build(
        None,
        target,
        encoder_path=tiny_encoder,
        sentences=corpus(1200),
        held_out=200,
        epochs=4,
        batch_size=64,
    )
    assert json.loads((target / "info.json").read_text()) == info
    accuracy = info["held_out_accuracy"]
    assert accuracy["positions"] >= 200 and 0 <= accuracy["top1"] <= accuracy["top10"] <= 1
    # 17 words: a head that learnt the word distribution puts nearly all of them in its top 10
    assert accuracy["top10"] > 0.5
    model, tokenizer = load_masked_lm(str(target), "bae")  # refuses a randomly initialised head
    assert tokenizer.mask_token is not None
    source = BertModel.from_pretrained(tiny_encoder).state_dict()
    saved = model.bert.state_dict()
    assert all(torch.equal(saved[k], source[k]) for k in saved)  # the encoder stayed frozen
    assert model.cls.predictions.decoder.weight.data_ptr() == (
        model.bert.embeddings.word_embeddings.weight.data_ptr()
    )  # the decoder is tied to the word embeddings


def test_training_the_head_beats_its_random_start(tiny_encoder):
    from transformers import AutoTokenizer, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    model = BertForMaskedLM.from_pretrained(tiny_encoder).eval()
    masked = mlm.mask_sentences(tokenizer, corpus(800), random.Random(0), 64, replace=False)
    states, targets = mlm.encode_positions(model.bert, masked, "test")
    before = mlm.top_k_accuracy(model.cls, states, targets)
    mlm.train_head(model, states, targets, seed=0, epochs=3, batch_size=64)
    after = mlm.top_k_accuracy(model.cls, states, targets)
    assert after["top10"] > before["top10"] + 0.3


def test_the_same_seed_gives_the_same_head(tiny_encoder, tmp_path):
    heads = []
    for name in ("a", "b"):
        mlm.build(
            None,
            tmp_path / name,
            encoder_path=tiny_encoder,
            sentences=corpus(300),
            held_out=50,
            epochs=1,
            log=lambda _: None,
        )
        heads.append((tmp_path / name / "model.safetensors").read_bytes())
    assert heads[0] == heads[1]


def test_training_text_holds_no_board_evaluation_sentence(shared_data):
    sentences, counts = mlm.training_text(shared_data)
    from robustbench_nlp.tasks.sentiment import SST2

    sst2_dev = SST2().read(shared_data)[1]
    dev = {mlm.normalise(e.text) for e in sst2_dev}
    evaluation = {mlm.normalise(s) for s in mlm.evaluation_sentences(shared_data, sst2_dev)}
    assert dev <= evaluation
    assert not evaluation & set(sentences)
    assert len(set(sentences)) == len(sentences) == sum(counts.values())
    assert counts["sst2/train.tsv"] > 50_000 and counts["snli/validation.tsv"] > 5_000


def test_mlm_prepared_names_the_head_built_here(tiny_encoder, tmp_path, monkeypatch):
    """``mlm: prepared`` is the resource: required (one line naming the command) while missing,
    part of the cells' resource fingerprint, and loaded from the resources folder once built."""
    from robustbench_nlp.attacks.textattack.offline import offline_textattack
    from robustbench_nlp.attacks.textattack.recipes import BAE, BERTAttack
    from robustbench_nlp.core.errors import UserError
    from robustbench_nlp.resources.layout import RESOURCES_ENV, Layout, fingerprint

    need("stopwords", "wordnet", "textattack-cache")
    offline_textattack()  # from the real resources folder, before pointing it elsewhere
    from robustbench_nlp.attacks.textattack.components import load_masked_lm

    monkeypatch.setenv(RESOURCES_ENV, str(tmp_path))
    attack = BERTAttack(mlm="prepared")
    assert "mlm" in attack.resource_names()
    assert "mlm" not in BAE(mlm=str(tiny_encoder)).resource_names()
    with pytest.raises(UserError, match=r"missing: .*mlm.*resources prepare --mlm"):
        attack.preflight(None, None)
    empty = fingerprint("mlm")
    mlm.build(
        None,
        Layout(tmp_path).mlm,
        encoder_path=tiny_encoder,
        sentences=corpus(300),
        held_out=50,
        epochs=1,
        log=lambda _: None,
    )
    assert fingerprint("mlm") != empty
    model, _ = load_masked_lm("prepared", "bert_attack")
    assert model.config.hidden_size == 32  # the tiny head built above
