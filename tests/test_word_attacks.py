"""Word-level attacks through TextAttack: offline, identical to stock TextAttack, and reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModel, BertConfig, BertForMaskedLM

from robustbench_nlp.attacks.textattack import offline
from robustbench_nlp.attacks.textattack.recipes import (
    BAE,
    PWWS,
    WORD_METRICS,
    BERTAttack,
    DeepWordBug,
    TextAttackRecipe,
    TextFooler,
    example_seed,
    outcome_fields,
)
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.metrics import reduce_metric
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.backbones import TINY_CONFIG
from robustbench_nlp.resources import layout as resources
from robustbench_nlp.resources.similarity import threshold_for
from robustbench_nlp.run.plugins import attacks
from robustbench_nlp.run.suite import load_suite
from robustbench_nlp.tasks.base import Example, TaskData
from robustbench_nlp.tasks.sentiment import EmbeddedSentiment
from tests.conftest import make_classifier
from tests.helpers import missing as skip_or_fail

TEXTS = [
    "a gripping , beautifully acted film",
    "dull and far too long",
    "the best thing i have seen this year",
    "a mess from start to finish , with no redeeming scene at all",
    "an utterly charming and hilarious movie about friendship",
    "the plot is thin and the acting is wooden",
]


def need(*names: str) -> None:
    missing = [s.name for s in resources.check() if s.name in names and not s.ok]
    if missing:
        skip_or_fail(f"offline resources missing ({', '.join(missing)}): run `{resources.PREPARE}`")


@pytest.fixture
def rows(tiny_classifier) -> list[Example]:
    """Sentences labelled with the tiny model's own predictions, so that none is skipped."""
    probs = tiny_classifier.predict_proba([Example(t, 0) for t in TEXTS])
    return [Example(t, int(p)) for t, p in zip(TEXTS, probs.argmax(-1).tolist(), strict=True)]


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory, tiny_backbone):
    """A randomly initialised tiny BertForMaskedLM saved to disk: its head is in the checkpoint,
    so loading it initialises nothing at random (an explicit user choice, allowed)."""
    folder = tmp_path_factory.mktemp("tiny-mlm")
    tokenizer = tiny_backbone.load_tokenizer()
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=tokenizer.vocab_size, **TINY_CONFIG)).save_pretrained(
        folder
    )
    tokenizer.save_pretrained(folder)
    return str(folder)


def context(rows: list[Example], folder) -> MeasureContext:
    return MeasureContext(
        task=EmbeddedSentiment(),
        data=TaskData(train=rows, eval=rows, source="test"),
        seed=0,
        device="cpu",
        data_dir=None,
        artifact_dir=folder,
        artifact_prefix="cell",
    )


# -- registry and laziness --------------------------------------------------------------------
def test_word_attacks_are_registered_by_name():
    for name in ("deepwordbug", "pwws", "textfooler", "a2t", "bae", "bert_attack", "textattack"):
        assert name in attacks


def test_listing_plugins_does_not_import_textattack():
    code = (
        "import sys\nfrom robustbench_nlp.cli import main\nmain(['list', 'attacks'])\n"
        "assert 'textattack' not in sys.modules, 'textattack imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "textfooler" in done.stdout


# -- faithful to stock TextAttack -------------------------------------------------------------
@pytest.mark.parametrize("attack", [DeepWordBug(), PWWS(), TextFooler()], ids=lambda a: a.builder)
def test_fast_wrapper_gives_the_stock_wrapper_results(attack, tiny_classifier, rows):
    """Same recipe, model and seeds: TextAttack's HuggingFaceModelWrapper (padding every query
    to max length) and ours agree on outcome, adversarial text and query count per example."""
    need(*attack.needs)
    offline.offline_textattack()
    from textattack.shared.utils import set_seed

    from robustbench_nlp.attacks.textattack import components as ta
    from tests import textattack_reference as reference

    outcomes = []
    stock = reference.stock_model_wrapper(tiny_classifier)
    for wrapper in (ta.FastModelWrapper(tiny_classifier), stock):
        with ta.quiet():
            built = ta.build_attack(attack.builder, wrapper, resources.layout(), attack.params())
        results = []
        for index, row in enumerate(rows):
            set_seed(example_seed(0, index))
            result = built.attack(ta.to_attacked_text(row), row.label)
            results.append((*reference.comparable(result), result.perturbed_result.num_queries))
        outcomes.append(results)
    ours, stock = outcomes
    assert ours == stock
    assert {r[0] for r in ours} & {"successful", "failed"}  # something was attacked


def test_query_cache_computes_each_tokenisation_once(tiny_classifier):
    need("stopwords", "wordnet", "textattack-cache")
    offline.offline_textattack()
    from robustbench_nlp.attacks.textattack.components import FastModelWrapper

    wrapper = FastModelWrapper(tiny_classifier, batch_size=2)
    first = wrapper(["A fine film", "a dull film", "A FINE FILM", "a dull film"])
    assert wrapper.forwarded == 2  # the uncased tokenizer maps case variants to the same ids
    assert torch.equal(first[0], first[2])
    again = wrapper(["a fine film"])
    assert wrapper.forwarded == 2 and torch.equal(again[0], first[0])
    expected = tiny_classifier.predict_proba([Example("a fine film", 0)])[0]
    assert torch.allclose(first[0], expected, atol=1e-6)


# -- a cell -----------------------------------------------------------------------------------
def test_deepwordbug_cell_reports_metrics_and_writes_adversarial_examples(
    tiny_classifier, rows, tmp_path
):
    need("stopwords", "wordnet", "textattack-cache")
    result = DeepWordBug().run(tiny_classifier, context(rows, tmp_path))
    assert result.n_examples == len(rows)
    assert result.artifacts == ["cell.adv.jsonl"]
    lines = [json.loads(x) for x in (tmp_path / "cell.adv.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [e.id for e in rows]
    metrics = result.metrics
    assert metrics["clean_accuracy"] == 1.0  # labels are the model's own predictions
    succeeded = [r for r in lines if r["result"] == "successful"]
    assert metrics["attack_accuracy"] == pytest.approx(1 - len(succeeded) / len(rows))
    assert metrics["attack_success_rate"] == pytest.approx(len(succeeded) / len(rows))
    assert metrics["avg_queries"] > 1
    assert succeeded, "the tiny model should fall for some character edits"
    adversarial = [Example(r["adversarial"], r["label"]) for r in succeeded]
    predicted = tiny_classifier.predict_proba(adversarial).argmax(-1).tolist()
    assert all(p != r["label"] for p, r in zip(predicted, succeeded, strict=True))
    assert 0 < metrics["avg_perturbed_fraction"] <= 1
    assert -1 <= metrics["avg_similarity"] <= 1
    main = [c for c in result.columns if c.table == "main"]
    assert [(c.key, c.label, c.percent) for c in main] == [("attack_accuracy", "", True)]
    detail = {c.key: c for c in result.columns if c.table == "detail"}
    assert detail["avg_queries"].percent is False
    assert {"attack_success_rate", "avg_perturbed_fraction", "avg_similarity", "skipped"} <= set(
        detail
    )


def test_workers_shard_examples_with_identical_results(tiny_classifier, rows):
    need("stopwords", "wordnet", "textattack-cache")
    alone, _ = DeepWordBug().attack_examples(tiny_classifier, rows, seed=3)
    sharded, _ = DeepWordBug(workers=2).attack_examples(tiny_classifier, rows, seed=3)
    assert [without_probs(r) for r in sharded] == [without_probs(r) for r in alone]
    for ours, theirs in zip(sharded, alone, strict=True):  # thread counts change rounding only
        assert ours["adversarial_probs"] == pytest.approx(theirs["adversarial_probs"], abs=1e-5)


def test_cells_of_a_process_share_one_worker_pool_and_each_attacks_its_own_model(
    tiny_backbone, tiny_classifier, rows
):
    """The fixed cost (spawning workers, importing TextAttack) is paid once per process, and a
    worker that attacked one cell's model never answers for the next cell's model."""
    from robustbench_nlp.attacks.textattack import workers

    need("stopwords", "wordnet", "textattack-cache")
    other = make_classifier(tiny_backbone, seed=7)
    expected = [DeepWordBug().attack_examples(m, rows, seed=1)[0] for m in (tiny_classifier, other)]
    before = workers.started
    got = [
        DeepWordBug(workers=2).attack_examples(m, rows, seed=1)[0]
        for m in (tiny_classifier, other, tiny_classifier)
    ]
    assert workers.started - before <= 1  # at most the first cell started a pool
    assert expected[0] != expected[1]  # the two models really differ under attack
    for ours, theirs in zip(got, [*expected, expected[0]], strict=True):
        assert [without_probs(r) for r in ours] == [without_probs(r) for r in theirs]


def without_probs(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.endswith("_probs")}


def test_an_example_result_does_not_depend_on_the_examples_after_it(tiny_classifier, rows):
    need("stopwords", "wordnet", "textattack-cache")
    every, _ = DeepWordBug().attack_examples(tiny_classifier, rows, seed=0)
    first, _ = DeepWordBug().attack_examples(tiny_classifier, rows[:2], seed=0)
    assert first == every[:2]


def test_nli_pairs_are_attacked_in_the_hypothesis_only(tiny_backbone):
    need("stopwords", "wordnet", "textattack-cache")
    model = make_classifier(tiny_backbone, num_labels=3)
    offline.offline_textattack()
    from robustbench_nlp.attacks.textattack.components import Session

    premise = "A man is playing a guitar on the stage."
    row = Example(premise, 0, "A person is performing music for a crowd.")
    row = Example(row.text, int(model.predict_proba([row]).argmax()), row.pair)  # not skipped
    from tests import textattack_reference as reference

    with reference.recording():
        session = Session(model, "deepwordbug", resources.layout(), DeepWordBug().params())
    described = session.run(0, row, seed=1)
    queried = [e for batch in session.wrapper.batches for e in batch]
    assert len(queried) > 1
    assert {e.text for e in queried} == {premise}
    assert len({e.pair for e in queried}) > 1
    assert described["pair"] == row.pair


def test_missing_resources_name_the_prepare_command(tiny_classifier, rows, tmp_path, monkeypatch):
    monkeypatch.setenv(resources.RESOURCES_ENV, str(tmp_path / "empty"))
    with pytest.raises(UserError, match="robustbench-nlp resources prepare"):
        DeepWordBug().run(tiny_classifier, context(rows, tmp_path))


NO_NETWORK = """
import socket, sys
import torch

def refuse(*args, **kwargs):
    raise RuntimeError(f"network access attempted: {args[:2]}")

socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
from robustbench_nlp.attacks.textattack.recipes import (
    BAE, PWWS, A2TAttack, BERTAttack, DeepWordBug, TextFooler
)
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.tasks.base import Example

backbone = resolve_backbone("tiny")
model = Classifier(backbone.load_encoder(0), backbone.load_tokenizer(), ClassifierSpec(2)).eval()
rows = [Example("a gripping , beautifully acted film", label) for label in (0, 1)]
mlm = sys.argv[1]
for attack in (
    DeepWordBug(), PWWS(), TextFooler(), A2TAttack(), BAE(mlm=mlm), BERTAttack(mlm=mlm)
):
    results, _ = attack.attack_examples(model, rows, seed=0)
    assert {r["result"] for r in results} - {"skipped"}, attack
print("offline ok")
"""


def test_every_builtin_attack_runs_with_the_network_cut_off(tiny_mlm):
    """A fresh interpreter whose sockets refuse to connect imports TextAttack, builds every
    built-in recipe and attacks an example: nothing tries to download."""
    need(*TextFooler.needs)
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, tiny_mlm],
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "offline ok" in done.stdout


def test_textattack_downloads_are_refused():
    need("stopwords", "wordnet", "textattack-cache")
    offline.offline_textattack()
    import nltk
    import textattack

    with pytest.raises(offline.DownloadRefused, match="nltk.download"):
        nltk.download("omw-1.4")
    with pytest.raises(offline.DownloadRefused, match="download_from_s3"):
        textattack.shared.utils.download_from_s3("word_embeddings/paragramcf")
    with pytest.raises(offline.DownloadRefused):
        textattack.shared.WordEmbedding.counterfitted_GLOVE_embedding()


# -- masked language models -------------------------------------------------------------------
def test_bae_without_mlm_is_refused_at_suite_load(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nbackbone: tiny\ntask: {name: embedded}\nrecipes: [{name: baseline}]\n"
        "attacks: [{name: bae}]\n"
    )
    with pytest.raises(UserError, match="attacks\\[0\\].params.mlm: .*masked language model"):
        load_suite(suite)
    with pytest.raises(ValidationError, match="masked language model"):
        BERTAttack()


@pytest.mark.parametrize("workers", [1, 2])
def test_mlm_without_trained_head_is_refused(
    workers, tiny_classifier, rows, tiny_backbone, tmp_path
):
    """Also from worker processes: the parent raises the worker's UserError."""
    need(*BAE.needs)
    folder = tmp_path / "encoder-only"
    torch.manual_seed(0)
    AutoModel.from_config(tiny_backbone.config()).save_pretrained(folder)
    tiny_backbone.load_tokenizer().save_pretrained(folder)
    with pytest.raises(UserError, match="no trained masked-LM head"):
        BAE(mlm=str(folder), workers=workers).attack_examples(tiny_classifier, rows[:2], seed=0)


@pytest.mark.parametrize("cls", [BAE, BERTAttack], ids=["bae", "bert_attack"])
def test_masked_lm_attacks_run_with_a_saved_mlm(cls, tiny_classifier, rows, tiny_mlm):
    need(*cls.needs)
    results, forwarded = cls(mlm=tiny_mlm).attack_examples(tiny_classifier, rows[:3], seed=0)
    assert [r["result"] for r in results] != ["skipped"] * 3
    assert forwarded > 3
    for row in results:
        if row["result"] == "successful":
            assert row["adversarial"] != row["text"]


# -- any recipe -------------------------------------------------------------------------------
def test_generic_entry_builds_a_recipe_by_name(tiny_classifier, rows):
    need(*TextAttackRecipe.needs)
    named, _ = TextAttackRecipe(recipe="deepwordbug_gao_2018").attack_examples(
        tiny_classifier, rows, 0
    )
    ours, _ = DeepWordBug().attack_examples(tiny_classifier, rows, 0)
    assert named == ours


@pytest.mark.parametrize(
    ("recipe", "message"),
    [("nonsense", "unknown"), ("alzantot", "not available offline"), ("pso", "would download")],
)
def test_generic_entry_refuses_what_it_cannot_run_offline(tiny_classifier, rows, recipe, message):
    need(*TextAttackRecipe.needs)
    with pytest.raises(UserError, match=message):
        TextAttackRecipe(recipe=recipe).attack_examples(tiny_classifier, rows[:1], 0)


# -- offline substitutes ----------------------------------------------------------------------
def test_wordnet_part_of_speech_check():
    need("stopwords", "wordnet", "textattack-cache")
    offline.offline_textattack()
    from robustbench_nlp.attacks.textattack.components import WordNetPartOfSpeech

    check = WordNetPartOfSpeech(allow_verb_noun_swap=True)
    assert check.compatible("good", "great")  # adjectives
    assert check.compatible("film", "movie")
    assert check.compatible("run", "sprint")  # nouns / verbs
    assert not check.compatible("quickly", "house")  # adverb vs noun
    assert check.compatible("xqzt", "zzvq")  # both unknown to WordNet
    assert not check.compatible("film", "xqzt")


def test_wordnet_synonyms_need_no_multilingual_wordnet():
    need("stopwords", "wordnet", "textattack-cache")
    offline.offline_textattack()
    from nltk.corpus import wordnet

    from robustbench_nlp.attacks.textattack.components import OfflineWordSwapWordNet

    swap = OfflineWordSwapWordNet()
    assert "picture" in swap._get_replacement_words("film")
    assert wordnet.langs() == ["eng"]  # Open Multilingual WordNet never loaded


def test_use_thresholds_map_by_sts_quantiles():
    calibration = {"gold": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "cosine": [0.1, 0.2, 0.3, 0.4, 0.5, 0.9]}
    assert threshold_for(0.8, calibration) == (0.5, pytest.approx(2 / 6))  # gold >= 4
    assert threshold_for(0.0, calibration) == (0.1, 1.0)
    assert threshold_for(1.01, calibration)[1] == 0.0


def test_summary_counts_only_attacked_examples():
    rows = [
        {
            "result": "successful",
            "queries": 10,
            "words": 4,
            "perturbed_words": 1,
            "similarity": 0.9,
        },
        {"result": "failed", "queries": 30, "words": 5, "perturbed_words": 0},
        {"result": "skipped", "queries": 0, "words": 3, "perturbed_words": 0},
    ]
    fields = outcome_fields(rows)
    metrics = {m.key: reduce_metric(m, fields, len(rows)) for m in WORD_METRICS}
    assert metrics["clean_accuracy"] == pytest.approx(2 / 3)
    assert metrics["attack_accuracy"] == pytest.approx(1 / 3)
    assert metrics["attack_success_rate"] == 0.5
    assert metrics["avg_queries"] == 20
    assert metrics["avg_perturbed_fraction"] == 0.25
    assert metrics["avg_similarity"] == 0.9
    assert (metrics["succeeded"], metrics["failed"], metrics["skipped"]) == (1, 1, 1)


def test_bert_attack_proposes_48_candidates_as_the_paper_and_textattack(tiny_classifier, tiny_mlm):
    assert BERTAttack(mlm=tiny_mlm).max_candidates == 48
    need(*BERTAttack.needs)
    offline.offline_textattack()
    from robustbench_nlp.attacks.textattack.components import Session

    attack = BERTAttack(mlm=tiny_mlm)
    session = Session(tiny_classifier, attack.builder, resources.layout(), attack.params())
    assert session.attack.transformation.max_candidates == 48
