"""Tasks load and subset deterministically; checkpoints round-trip exactly."""

from __future__ import annotations

import torch

from robustbench_nlp.model.checkpoints import CheckpointStore
from robustbench_nlp.run.plugins import tasks


def test_embedded_task_ships_in_the_package_and_is_balanced():
    data = tasks.get("embedded")().load(None)
    assert (len(data.train), len(data.eval)) == (320, 80)
    assert data.source == "embedded"
    labels = [e.label for e in data.train + data.eval]
    assert labels.count(0) == labels.count(1) == 200
    assert not {e.text for e in data.train} & {e.text for e in data.eval}


def test_subsets_are_deterministic_and_shared_across_recipes():
    task = tasks.get("embedded")(train_size=50, eval_size=10)
    first, second = task.load(None), task.load(None)
    assert first.train == second.train and len(first.train) == 50 and len(first.eval) == 10
    other = tasks.get("embedded")(train_size=50, subset_seed=1).load(None)
    assert other.train != first.train


def test_sst2_reads_the_real_files(shared_data):
    data = tasks.get("sst2")().load(shared_data)
    assert (len(data.train), len(data.eval)) == (67349, 872)
    assert {e.label for e in data.eval} == {0, 1}
    assert data.eval[0].text == "one long string of cliches ."


def test_mr_reads_latin1_and_holds_out_ten_percent(shared_data):
    data = tasks.get("mr")().load(shared_data)
    assert len(data.train) + len(data.eval) == 10662
    assert abs(len(data.eval) - 1066) <= 1


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, tiny_classifier, sentences):
    store = CheckpointStore(tmp_path)
    store.save("k", tiny_classifier, {"note": "test"})
    loaded = store.load("k")
    assert store.exists("k") and store.meta("k") == {"note": "test"}
    assert loaded.spec == tiny_classifier.spec
    assert torch.equal(loaded.predict_proba(sentences), tiny_classifier.predict_proba(sentences))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left behind"


def test_dynamic_padding_pads_to_the_longest_sentence_only(tiny_classifier, sentences):
    batch = tiny_classifier.tokenize(sentences)
    longest = max(len(tiny_classifier.tokenizer(e.text)["input_ids"]) for e in sentences)
    assert batch["input_ids"].shape[1] == longest
    padded = batch["attention_mask"] == 0
    assert not batch["perturb_mask"][padded].any()


def test_predictions_do_not_depend_on_batch_padding(tiny_classifier, sentences):
    together = tiny_classifier.predict_proba(sentences, batch_size=4)
    alone = torch.cat([tiny_classifier.predict_proba([s]) for s in sentences])
    assert torch.allclose(together, alone, atol=1e-5)
