"""Batches near the padding-free floor: seeded length buckets in training, each example tokenised
once per fit, measurements in length order with outcomes in the original order, and compact
progress lines off a terminal."""

from __future__ import annotations

import random
from collections import Counter
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

from robustbench_nlp.measure.base import Measure, MeasureContext
from robustbench_nlp.model.classifier import Classifier, token_cache
from robustbench_nlp.recipes.base import TrainContext, bucketed_batches
from robustbench_nlp.run.plugins import attacks, recipes, tasks
from robustbench_nlp.tasks.base import Example
from tests.conftest import make_classifier


def padding(lengths: list[int], batches: list[list[int]]) -> float:
    """The share of padding tokens in ``batches`` padded to their longest row."""
    real = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return 1 - real / padded


@pytest.fixture(scope="module")
def embedded():
    return tasks.get("embedded")().load(None)


@pytest.fixture(scope="module")
def lengths(embedded, tiny_backbone) -> list[int]:
    return make_classifier(tiny_backbone).token_lengths(embedded.train)


# -- bucketed_batches -------------------------------------------------------------------------


def test_buckets_use_every_example_once_in_full_batches():
    lengths = [random.Random(1).randint(3, 60) for _ in range(1000)]
    batches = bucketed_batches(lengths, 32, random.Random(0), bucket_batches=5)
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    sizes = Counter(len(batch) for batch in batches)
    assert sizes == {32: 1000 // 32, 1000 % 32: 1}  # only one batch is short


def test_buckets_are_deterministic_for_a_seed_and_differ_between_seeds_and_epochs():
    lengths = [random.Random(1).randint(3, 60) for _ in range(500)]
    first = bucketed_batches(lengths, 16, random.Random(7))
    assert bucketed_batches(lengths, 16, random.Random(7)) == first
    assert bucketed_batches(lengths, 16, random.Random(8)) != first
    rng = random.Random(7)
    epoch_1, epoch_2 = bucketed_batches(lengths, 16, rng), bucketed_batches(lengths, 16, rng)
    assert epoch_1 == first and epoch_2 != epoch_1


def test_buckets_carry_far_less_padding_than_random_batches(lengths):
    shuffled = list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)
    random_batches = [shuffled[i : i + 32] for i in range(0, len(shuffled), 32)]
    bucketed = bucketed_batches(lengths, 32, random.Random(0))
    assert padding(lengths, bucketed) < 0.1 < 0.25 < padding(lengths, random_batches)


def test_batch_order_is_shuffled_not_sorted(lengths):
    batches = bucketed_batches(lengths, 8, random.Random(0))
    longest = [max(lengths[i] for i in batch) for batch in batches]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


# -- Recipe.fit -------------------------------------------------------------------------------


class Recording:
    """A step function that records the batches it is given (and trains the head a little)."""

    def __init__(self) -> None:
        self.batches: list[list[Example]] = []

    def __call__(self, model: Classifier, examples):
        self.batches.append(list(examples))
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        loss = F.cross_entropy(model(batch), labels)
        return loss, {"ce": loss.item()}


def fit_recording(backbone, epochs: int = 2, seed: int = 0, examples=None, **params):
    task = tasks.get("embedded")(train_size=40, eval_size=8)
    context = TrainContext(task, task.load(None), backbone, seed)
    recipe = recipes.get("baseline")(epochs=epochs, batch_size=8, **params)
    model = recipe.build_classifier(context)
    step = Recording()
    recipe.fit(model, examples or context.data.train, step, context, "train")
    return step.batches, context


def test_fit_uses_every_example_once_per_epoch_in_length_buckets(tiny_backbone):
    batches, context = fit_recording(tiny_backbone, epochs=2)
    assert len(batches) == 2 * 5 == context.logs["train"]["steps"]
    for epoch in (batches[:5], batches[5:]):
        assert Counter(e.id for batch in epoch for e in batch) == Counter(
            e.id for e in context.data.train
        )
    assert [[e.id for e in b] for b in batches[:5]] != [[e.id for e in b] for b in batches[5:]]


def test_fit_batches_are_deterministic_for_a_seed(tiny_backbone):
    ids = lambda batches: [[e.id for e in batch] for batch in batches]  # noqa: E731
    first, _ = fit_recording(tiny_backbone, seed=3)
    again, _ = fit_recording(tiny_backbone, seed=3)
    other, _ = fit_recording(tiny_backbone, seed=4)
    assert ids(first) == ids(again) != ids(other)


def test_fit_tokenises_each_example_once(tiny_backbone, monkeypatch):
    encoded: list[int] = []
    original = Classifier._encode

    def counting(self, examples):
        encoded.append(len(examples))
        return original(self, examples)

    monkeypatch.setattr(Classifier, "_encode", counting)
    batches, context = fit_recording(tiny_backbone, epochs=3)
    assert len(batches) == 15
    assert sum(encoded) == len(context.data.train)  # all at once before the first step


def test_token_cache_gives_the_rows_tokenize_gives(tiny_classifier, embedded):
    rows = embedded.train[:12] + [Example("a premise", 1, "and its hypothesis")]
    plain = tiny_classifier.tokenize(rows)
    with token_cache():
        tiny_classifier.tokenize(rows[5:])
        cached = tiny_classifier.tokenize(rows)
    assert plain.keys() == cached.keys()
    for key in plain:
        assert torch.equal(plain[key], cached[key]), key


def test_tokenize_pads_exactly_as_the_tokenizer_does(tiny_classifier, embedded):
    rows = embedded.train[:9]
    ours = tiny_classifier.tokenize(rows)
    theirs = tiny_classifier.tokenizer(
        [e.text for e in rows], padding=True, truncation=True, max_length=128, return_tensors="pt"
    )
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(ours[key], theirs[key]), key


def test_fit_prints_compact_lines_off_a_terminal(tiny_backbone, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    batches, _ = fit_recording(tiny_backbone, epochs=4)  # 20 steps
    lines = capsys.readouterr().err.splitlines()
    assert len(batches) == 20
    assert 2 <= len(lines) <= 11, lines
    assert all("\r" not in line for line in lines)
    assert lines[-1].startswith("baseline train seed=0: 20/20 step (100%")


# -- Measure.run ------------------------------------------------------------------------------


class Lengths(Measure):
    """Records the batches it measures; its outcome is each example's text length."""

    seen: ClassVar[list[list[str]]] = []

    def examples(self, context):
        return list(context.data.eval)

    def measure(self, model, batch, context):
        self.seen.append([e.id for e in batch])
        return {"length": [len(e.text) for e in batch]}


def measure_context(data) -> MeasureContext:
    task = tasks.get("embedded")()
    return MeasureContext(task, data, 0, "cpu", None, ".", "x")


def test_measure_batches_by_length_and_keeps_the_original_order(tiny_classifier, embedded):
    measure = Lengths(batch_size=8)
    Lengths.seen = []
    outcomes = measure.run(tiny_classifier, measure_context(embedded)).outcomes
    assert outcomes.ids == [e.id for e in embedded.eval]
    assert outcomes.fields["length"] == [len(e.text) for e in embedded.eval]
    assert outcomes.fields["label"] == [e.label for e in embedded.eval]
    tokens = tiny_classifier.token_lengths(embedded.eval)
    by_id = dict(zip([e.id for e in embedded.eval], tokens, strict=True))
    measured = [by_id[i] for batch in Lengths.seen for i in batch]
    assert measured == sorted(measured)
    assert sum(len(batch) for batch in Lengths.seen) == len(embedded.eval)


def test_clean_predictions_do_not_depend_on_the_batching(tiny_classifier, embedded):
    clean = attacks.get("clean")
    sorted_batches = clean(batch_size=16).run(tiny_classifier, measure_context(embedded))
    alone = tiny_classifier.predict_proba(embedded.eval, batch_size=1).argmax(-1)
    expected = [int(p) == e.label for p, e in zip(alone, embedded.eval, strict=True)]
    assert sorted_batches.outcomes.fields["correct"] == expected


def test_pgd_padding_is_small_in_length_order(tiny_classifier, embedded):
    pgd = attacks.get("pgd")(batch_size=16)
    ordered = [embedded.eval[i] for i in pgd.order(embedded.eval, tiny_classifier)]
    lengths = tiny_classifier.token_lengths(ordered)
    in_order = [list(range(i, min(i + 16, len(ordered)))) for i in range(0, len(ordered), 16)]
    as_given = tiny_classifier.token_lengths(embedded.eval)
    assert padding(lengths, in_order) < 0.1 < padding(as_given, in_order)
