"""The ``hf_classifier`` recipe: a model saved with ``save_pretrained`` outside the harness,
evaluated as it is, gives the same predictions as ``transformers`` itself, and every attack runs
on it.

The model is a seeded random ``BertForSequenceClassification`` of the tiny backbone's shape
(``tests.helpers.save_tiny_hf_classifier``): what matters here is that the harness reads the
folder exactly as ``transformers`` does, not that the model is any good.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from robustbench_nlp.attacks.embedding_pgd import pgd_delta
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.hf_classifier import (
    HFClassifier,
    load_hf_classifier,
    map_labels,
    weights_fingerprint,
)
from robustbench_nlp.run.runner import Runner, plan, preflight
from robustbench_nlp.run.store import ResultsStore
from robustbench_nlp.run.suite import load_suite
from robustbench_nlp.tasks.sentiment import EmbeddedSentiment
from tests.helpers import save_tiny_hf_classifier

EVAL_SIZE = 40


def suite_file(folder: Path, model: Path, attacks: str, extra: str = "") -> Path:
    path = folder / "suite.yaml"
    path.write_text(
        "name: hf\nbackbone: tiny\n"
        f"task: {{name: embedded, params: {{eval_size: {EVAL_SIZE}}}}}\n"
        f"recipes:\n  - name: hf_classifier\n    params: {{model: '{model}'{extra}}}\n"
        f"attacks:\n{attacks}\nseeds: [0]\noutput: {folder / 'out'}\n"
    )
    return path


def direct_predictions(folder: Path, examples, max_length: int = 128) -> list[int]:
    """``transformers`` alone: the folder's tokenizer and model, padded batch, argmax."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(
        [e.text for e in examples],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        return model(**encoded).logits.argmax(-1).tolist()


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    return save_tiny_hf_classifier(tmp_path_factory.mktemp("hf") / "model")


def records(output: Path) -> dict[str, dict]:
    """attack label -> its record (as JSON), from the suite's manifest."""
    store = ResultsStore(output)
    found = {}
    for cell in store.manifest()["cells"]:
        data = json.loads(store.record_path(cell).read_text())
        found[data["attack"]["label"]] = data
    return found


def test_clean_accuracy_equals_transformers_and_pgd_and_deepwordbug_run(hf_folder, tmp_path):
    attacks = (
        "  - name: clean\n"
        "  - {name: pgd, params: {eps: [0.0, 2.0], steps: 3}}\n"
        "  - {name: deepwordbug, params: {max_examples: 3}}"
    )
    summary = Runner(load_suite(suite_file(tmp_path, hf_folder, attacks)), None).run()
    assert len(summary.computed) == 3 and not summary.failed
    examples = EmbeddedSentiment(eval_size=EVAL_SIZE).load(None).eval
    names = ("negative", "positive")
    expected = [
        names[i] == names[e.label]
        for i, e in zip(direct_predictions(hf_folder, examples), examples, strict=True)
    ]
    assert 0 < sum(expected) < len(expected)  # both right and wrong: the comparison has bite
    got = records(tmp_path / "out")
    assert got["clean"]["metrics"]["clean_accuracy"] == pytest.approx(sum(expected) / len(expected))
    outcomes = json.loads((tmp_path / "out" / "records" / got["clean"]["outcomes"]).read_text())
    by_id = dict(zip(outcomes["ids"], outcomes["fields"]["correct"], strict=True))
    assert [by_id[e.id] for e in examples] == expected  # example by example, not just the mean
    pgd = got["pgd"]["metrics"]
    assert pgd["robust_accuracy@eps=0"] == pytest.approx(sum(expected) / len(expected))
    assert pgd["robust_accuracy@eps=2"] < pgd["robust_accuracy@eps=0"]  # the attack bites
    assert got["deepwordbug"]["status"] == "ok" and got["deepwordbug"]["n_examples"] == 3


def test_a_second_run_reloads_the_model_from_its_folder(hf_folder, tmp_path):
    path = suite_file(tmp_path, hf_folder, "  - name: clean")
    Runner(load_suite(path), None).run()
    first = records(tmp_path / "out")["clean"]
    (tmp_path / "out" / "records" / f"{first['cell_id']}.json").unlink()
    Runner(load_suite(path), None).run()
    again = records(tmp_path / "out")["clean"]
    assert again["checkpoint_reused"] is True
    assert again["metrics"] == first["metrics"]


def test_embedding_attacks_go_through_the_models_own_embeddings(hf_folder):
    model = load_hf_classifier(hf_folder, [0, 1], 128)
    examples = EmbeddedSentiment().load(None).eval[:6]
    batch = model.tokenize(examples)
    table = model.model.bert.embeddings.word_embeddings
    assert torch.equal(model.word_embeddings(batch["input_ids"]), table(batch["input_ids"]))
    with torch.no_grad():  # running from the embedding vectors is running from the ids
        from_ids = model(batch)
        from_vectors = model(batch, inputs_embeds=model.word_embeddings(batch["input_ids"]))
    assert torch.allclose(from_ids, from_vectors, atol=1e-5)
    labels = torch.tensor([e.label for e in examples])
    delta = pgd_delta(
        model, batch, labels, eps=1.0, steps=2, generator=torch.Generator().manual_seed(0)
    )
    assert delta.abs().sum() > 0
    special = ~batch["perturb_mask"]  # [CLS], [SEP] and padding
    assert special.any() and delta[special].abs().sum() == 0


def test_logits_follow_the_task_label_order(tmp_path):
    """A model whose outputs are (positive, negative) answers in the task's order."""
    folder = save_tiny_hf_classifier(tmp_path / "m", labels=("POSITIVE", "Negative"))
    indices = map_labels(("negative", "positive"), ("POSITIVE", "Negative"), None, "x")
    assert indices == [1, 0]
    model = load_hf_classifier(folder, indices, 128)
    examples = EmbeddedSentiment().load(None).eval[:8]
    raw = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = model.tokenize(examples)
    with torch.no_grad():
        ours = model(batch)
        theirs = raw(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).logits
    assert torch.allclose(ours, theirs[:, [1, 0]])


def test_label_map_default_explicit_and_refused():
    task = ("negative", "positive")
    assert map_labels(task, ("Negative", "POSITIVE"), None, "x") == [0, 1]
    assert map_labels(task, ("LABEL_0", "LABEL_1"), {"negative": 1, "positive": 0}, "x") == [1, 0]
    assert map_labels(task, ("neg", "pos"), {"negative": "neg", "positive": "POS"}, "x") == [0, 1]
    with pytest.raises(UserError, match=r"do not match.*LABEL_0, LABEL_1.*label_map"):
        map_labels(task, ("LABEL_0", "LABEL_1"), None, "x")
    with pytest.raises(UserError, match=r"unknown label\(s\) good.*task labels \(negative"):
        map_labels(task, ("a", "b"), {"good": 0, "negative": 1}, "x")
    with pytest.raises(UserError, match="3 outputs and the task 2 labels"):
        map_labels(task, ("a", "b", "c"), None, "x")
    with pytest.raises(UserError, match="two task labels to one output"):
        map_labels(task, ("a", "b"), {"negative": 0, "positive": 0}, "x")
    with pytest.raises(UserError, match="neither an output index"):
        map_labels(task, ("a", "b"), {"negative": 0, "positive": 2}, "x")


def test_replacing_the_weights_changes_the_checkpoint_key_and_the_cells(tmp_path):
    model = save_tiny_hf_classifier(tmp_path / "model", seed=0)
    path = suite_file(tmp_path, model, "  - name: clean")

    def keys():
        suite = load_suite(path)
        return [(c.checkpoint_key, c.cell_id) for c in plan(suite, preflight(suite, None))]

    before = keys()
    assert keys() == before  # the same files: the same identity
    fingerprint = weights_fingerprint(model)
    save_tiny_hf_classifier(model, seed=1)  # same names, same sizes, other weights
    assert weights_fingerprint(model) != fingerprint
    after = keys()
    assert after[0][0] != before[0][0] and after[0][1] != before[0][1]


def test_relabelling_the_config_alone_changes_the_checkpoint_key(tmp_path):
    """Same weights, id2label swapped: the outputs mean other labels, so it is another model."""
    model = save_tiny_hf_classifier(tmp_path / "model", labels=("negative", "positive"))
    path = suite_file(tmp_path, model, "  - name: clean")
    suite = load_suite(path)
    before = plan(suite, preflight(suite, None))[0].checkpoint_key
    config = json.loads((model / "config.json").read_text())
    config["id2label"] = {"0": "positive", "1": "negative"}
    config["label2id"] = {"positive": 0, "negative": 1}
    weights = weights_fingerprint(model)
    (model / "config.json").write_text(json.dumps(config))
    assert weights_fingerprint(model) == weights
    suite = load_suite(path)
    assert plan(suite, preflight(suite, None))[0].checkpoint_key != before


def test_trust_remote_code_is_noted_on_every_record(hf_folder, tmp_path):
    path = suite_file(tmp_path, hf_folder, "  - name: clean", ", trust_remote_code: true")
    Runner(load_suite(path), None).run()
    notes = records(tmp_path / "out")["clean"]["notes"]
    assert any("trust_remote_code" in note for note in notes)


def test_the_model_is_an_hf_classifier_with_the_tasks_labels(hf_folder):
    model = load_hf_classifier(hf_folder, [0, 1], 64)
    assert isinstance(model, HFClassifier) and model.spec.num_labels == 2
    long = EmbeddedSentiment().load(None).eval[0].__class__("word " * 200, 0)
    assert model.token_lengths([long]) == [64]  # max_length truncates


def test_a_seed_placeholder_gives_each_seed_its_own_model(tmp_path):
    """``model: .../seed{seed}``: each seed of the row reads its own folder (its own weights in
    its checkpoint key), so the board's statistics pool independently trained models."""
    for seed in (0, 1):
        save_tiny_hf_classifier(tmp_path / f"model-seed{seed}", seed=seed)
    path = suite_file(tmp_path, tmp_path / "model-seed{seed}", "  - name: clean")
    path.write_text(path.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    suite = load_suite(path)
    checked = preflight(suite, None)
    files = [checked.recipes[("hf_classifier", seed)]["weights"] for seed in (0, 1)]
    assert files == [weights_fingerprint(tmp_path / f"model-seed{s}") for s in (0, 1)]
    assert files[0] != files[1]
    Runner(suite, None).run()
    trained = [
        json.loads(p.read_text())
        for p in sorted((tmp_path / "out" / "records").glob("*__clean__*[0-9a-f].json"))
    ]
    assert sorted(r["training"]["train"]["model"] for r in trained) == [
        str((tmp_path / f"model-seed{s}").resolve()) for s in (0, 1)
    ]
    (tmp_path / "model-seed1").rename(tmp_path / "gone")
    with pytest.raises(UserError, match="model-seed1"):
        preflight(load_suite(path), None)
