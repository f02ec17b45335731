"""SAFER and the ``certify`` evaluation: the perturbation sets on a hand-made synonym space, the
certificate against the paper's formula on hand-made votes, a smoothing set of size one giving
the base classifier's prediction, SAFER training on substituted text, the runner end to end,
per-recipe seeds, and bad settings refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from robustbench_nlp.cli import main
from robustbench_nlp.evaluations import certify as certify_module
from robustbench_nlp.evaluations.certify import Certify, certificate, lower_confidence_bound
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.recipes.base import TrainContext
from robustbench_nlp.recipes.safer import SAFER
from robustbench_nlp.report.leaderboard import write_leaderboard
from robustbench_nlp.resources import layout as resources
from robustbench_nlp.resources import perturbation_sets
from robustbench_nlp.resources.perturbation_sets import PerturbationSets, build
from robustbench_nlp.resources.synonyms import SynonymSpace
from robustbench_nlp.run.plugins import attacks, recipes, tasks
from robustbench_nlp.tasks.base import Example
from tests.conftest import TINY_TASK, make_classifier
from tests.helpers import assert_refused, missing, run_suite_records


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def space_of(words: list[str], vectors: np.ndarray) -> SynonymSpace:
    """A synonym space whose neighbour lists are exact (self first, then by cosine)."""
    similarity = vectors @ vectors.T
    order = np.argsort(-similarity, axis=1, kind="stable")
    for row in range(len(order)):  # the word itself first, as the prepared resource
        order[row] = [row, *[i for i in order[row] if i != row]]
    return SynonymSpace(vectors, words, order.astype(np.int32))


# -- the perturbation sets --------------------------------------------------------------------


def chain_space() -> SynonymSpace:
    """a-b-c-d: a chain (cos(a,b) = cos(b,c) = cos(c,d) = 0.9, other pairs lower); e-f: a pair;
    g alone."""
    angles = [0.0, 0.451, 0.902, 1.353]  # consecutive cos(0.451) = 0.9
    rows = [[math.cos(t), math.sin(t), 0.0] for t in angles]
    rows += [[0.0, 0.0, 1.0], [0.0, 0.3, 1.0], [-1.0, -1.0, -0.2]]
    return space_of(list("abcdefg"), unit(*rows))


def test_small_components_are_whole_sets_with_overlap_one():
    sets = build(chain_space(), similarity_threshold=0.85, set_size=10)
    assert sets.sets["a"] == ("a", "b", "c", "d") == sets.sets["d"]
    assert sets.sets["e"] == ("e", "f")
    assert "g" not in sets.sets  # no synonym: never substituted
    assert sets.synonyms["b"] == ("a", "c") and sets.synonyms["a"] == ("b",)
    assert all(sets.overlap[w] == 1.0 for w in "abcdef")


def test_a_component_larger_than_the_set_size_gets_nearest_sets_and_minimum_overlaps():
    sets = build(chain_space(), similarity_threshold=0.85, set_size=2)
    # Each word's set: itself and its nearest word of the component.
    assert sets.sets == {
        "a": ("a", "b"),
        "b": ("a", "b"),  # cos(b,a) == cos(b,c): the stable order keeps a (index 0) first
        "c": ("b", "c"),
        "d": ("c", "d"),
        "e": ("e", "f"),
        "f": ("e", "f"),
    }
    # overlap(w) = min over graph neighbours w' of |P(w) & P(w')| / |P(w)|.
    assert sets.overlap["a"] == 1.0  # neighbour b: {a,b} & {a,b}
    assert sets.overlap["b"] == 0.5  # neighbours a ({a,b}: 2/2) and c ({b,c}: 1/2)
    assert sets.overlap["c"] == 0.5  # b: {b,c}&{a,b} = 1; d: {b,c}&{c,d} = 1
    assert sets.overlap["d"] == 0.5
    assert sets.overlap["e"] == 1.0  # a pair of 2 <= set_size: whole component


def test_delta_multiplies_the_smallest_overlaps():
    sets = PerturbationSets(
        sets={"good": ("good", "fine"), "bad": ("bad", "poor"), "film": ("film", "movie")},
        synonyms={},
        overlap={"good": 0.5, "bad": 0.8, "film": 0.9},
    )
    text = "a good , bad film ."
    assert sets.delta(text) == pytest.approx(1 - 0.5 * 0.8 * 0.9)
    assert sets.delta(text, max_perturbed=1) == pytest.approx(0.5)
    assert sets.delta(text, max_perturbed=2) == pytest.approx(1 - 0.5 * 0.8)
    assert sets.delta("nothing here") == 0.0


def test_a_substitution_draws_each_word_from_its_set_and_keeps_punctuation():
    sets = PerturbationSets({"good": ("great", "fine"), "film": ("movie",)}, {}, {})
    rng = np.random.default_rng(0)
    seen = {sets.substitute("a good film. really", rng) for _ in range(50)}
    assert seen == {"a great movie. really", "a fine movie. really"}


# -- the certificate --------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(95, 100), (60, 64), (1, 10), (10, 10)])
def test_the_lower_bound_is_the_one_sided_clopper_pearson_bound(k, n):
    # One-sided at confidence 0.95 = the lower end of the two-sided exact 0.90 interval.
    expected = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact").low
    assert lower_confidence_bound(k, n, 0.05) == pytest.approx(expected, abs=1e-12)
    assert lower_confidence_bound(0, n, 0.05) == 0.0


@pytest.mark.parametrize(
    ("votes", "gold", "delta", "smoothed", "certified"),
    [
        ([5, 95], 1, 0.0, True, True),  # p >= 0.90 clears 1/2
        ([5, 95], 1, 0.35, True, True),  # 0.9042 - 0.35 > 0.5
        ([5, 95], 1, 0.45, True, False),  # 0.9042 - 0.45 < 0.5: the bound is too loose
        ([5, 95], 0, 0.0, False, False),  # the gold label lost the vote
        ([45, 55], 1, 0.0, True, False),  # a majority, but not a confident one
        ([50, 50], 1, 0.0, False, False),  # a tie goes to the lowest label
        ([2, 60, 2], 1, 0.2, True, True),  # three labels: the same condition p - delta > 1/2
    ],
)
def test_certificate_follows_the_papers_condition(votes, gold, delta, smoothed, certified):
    verdict = certificate(votes, gold, delta, alpha=0.05)
    p_lower = binomtest(votes[gold], sum(votes)).proportion_ci(0.90, method="exact").low
    assert verdict.p_lower == pytest.approx(p_lower)
    # SAFER's evaluation.py: certified if p - 1 + prod(tv) >= 0.5 + margin, i.e. p - delta > 1/2
    # with p here its exact lower bound instead of the estimate minus a fixed margin.
    assert verdict.certified == (p_lower - delta > 0.5) == certified
    assert verdict.smoothed_correct == smoothed


def test_settings_that_can_certify_nothing_are_refused():
    with pytest.raises(ValueError, match="use samples >= 5"):
        Certify(samples=4)
    Certify(samples=5)  # 0.05 ** (1 / 5) = 0.549 > 0.5
    with pytest.raises(ValueError, match="use samples >= 7"):
        Certify(samples=6, alpha=0.01)


# -- certify on a model -----------------------------------------------------------------------


def measure_context(task, data, tmp_path: Path) -> MeasureContext:
    return MeasureContext(task, data, 0, "cpu", None, tmp_path, "c-", label="Certified")


def test_a_smoothing_set_of_size_one_gives_the_base_classifiers_prediction(
    tiny_backbone, tmp_path, monkeypatch
):
    task = tasks.get("embedded")(train_size=8, eval_size=40)
    data = task.load(None)
    model = make_classifier(tiny_backbone, seed=3)
    words = {w.lower() for e in data.eval for w in e.text.split()}
    singletons = PerturbationSets({w: (w,) for w in words}, {w: () for w in words}, {})
    monkeypatch.setattr(perturbation_sets, "shared_sets", lambda *_: singletons)
    result = Certify(samples=8).run(model, measure_context(task, data, tmp_path))
    base = model.predict_proba(data.eval).argmax(-1).tolist()
    right = [p == e.label for p, e in zip(base, data.eval, strict=True)]
    fields = result.outcomes.fields
    assert fields["smoothed_correct"] == right
    # Every vote is the base prediction, delta is 0: certified exactly where f is right.
    assert fields["certified"] == right and set(fields["delta"]) == {0.0}
    assert fields["vote"] == [float(r) for r in right]
    assert result.metrics["certified_accuracy"] == pytest.approx(sum(right) / len(right))
    assert "holds for any base model" in result.notes[0]


def test_votes_are_seeded_per_example_and_cell(tiny_backbone, tmp_path, monkeypatch):
    task = tasks.get("embedded")(train_size=8, eval_size=24)
    data = task.load(None)
    words = sorted({w.lower() for e in data.eval for w in e.text.split()})
    # Every word may become any word: the votes vary with the draws.
    sets = PerturbationSets({w: tuple(words) for w in words}, {}, {w: 0.99 for w in words})
    monkeypatch.setattr(perturbation_sets, "shared_sets", lambda *_: sets)
    model = make_classifier(tiny_backbone, seed=1)
    runs = [
        Certify(samples=16, batch_size=b).run(model, measure_context(task, data, tmp_path))
        for b in (3, 8)
    ]
    assert runs[0].outcomes.fields == runs[1].outcomes.fields  # batching changes nothing
    assert len(set(runs[0].outcomes.fields["vote"])) > 1


# -- SAFER ------------------------------------------------------------------------------------


def test_safer_trains_on_fresh_substitutions_each_step(tiny_backbone, monkeypatch):
    task = tasks.get("embedded")(train_size=12, eval_size=4)
    data = task.load(None)
    words = sorted({w.lower() for e in data.train for w in e.text.split()})
    sets = PerturbationSets({w: (w, w + "_x") for w in words}, {}, {})
    monkeypatch.setattr(perturbation_sets, "shared_sets", lambda *_: sets)
    original = SAFER.classification_loss

    def batches_trained_on(seed: int) -> list[list[Example]]:
        seen: list[list[Example]] = []

        def spy(self, model, examples):
            seen.append(list(examples))
            return original(self, model, examples)

        monkeypatch.setattr(SAFER, "classification_loss", spy)
        SAFER(epochs=2, batch_size=4).train(TrainContext(task, data, tiny_backbone, seed))
        return seen

    seen = batches_trained_on(0)
    assert len(seen) == 6  # 12 examples / 4 per batch x 2 epochs
    originals = {e.text.lower(): e.label for e in data.train}
    trained = [e for batch in seen for e in batch]
    for example in trained:  # each word is itself or its substitute; the label is kept
        assert originals[example.text.replace("_x", "")] == example.label
    assert sum("_x" in e.text for e in trained) == len(trained)  # all but a 1-in-2^n chance
    first, second = seen[:3], seen[3:]  # the two epochs draw different substitutions
    assert sorted(e.text for b in first for e in b) != sorted(e.text for b in second for e in b)
    assert batches_trained_on(0) == seen  # one seed, one training
    assert batches_trained_on(1) != seen


def require_synonyms() -> None:
    if not next(s for s in resources.check() if s.name == "synonyms").ok:
        missing(f"offline synonyms missing: run `{resources.PREPARE}`")


SUITE = """
name: defended
backbone: tiny
task: {name: embedded, params: {train_size: 16, eval_size: 12}}
seeds: [0, 1]
recipes:
  - {name: baseline, params: {max_steps: 2, batch_size: 4}}
  - {name: safer, params: {max_steps: 2, batch_size: 4}, seeds: [1]}
attacks:
  - {name: certify, params: {samples: 8}}
"""


def test_the_runner_boards_safer_and_certify_and_runs_a_recipe_on_its_own_seeds(tmp_path):
    require_synonyms()
    records = run_suite_records(tmp_path, SUITE)
    runs = sorted((r["recipe"]["name"], r["seed"], r["attack"]["name"]) for r in records)
    assert runs == [
        ("baseline", 0, "certify"),
        ("baseline", 0, "clean"),
        ("baseline", 1, "certify"),
        ("baseline", 1, "clean"),
        ("safer", 1, "certify"),
        ("safer", 1, "clean"),
    ]
    paths = write_leaderboard(tmp_path / "out")
    board = json.loads(paths[2].read_text())
    main_columns = {(c["attack"], c["key"]): c for c in board["columns"] if c["table"] == "main"}
    assert main_columns[("Certified", "certified_accuracy")]["label"] == "Certified"
    rows = {row["recipe"]: row for row in board["rows"]}
    assert rows["baseline"]["metrics"]["Certified:certified_accuracy"]["n"] == 2
    assert rows["safer"]["metrics"]["Certified:certified_accuracy"]["n"] == 1  # its one seed
    markdown = paths[0].read_text()
    assert "## Certified: details" in markdown and "smoothed clean" in markdown
    # A certificate is no fixed challenge set: no chance level is claimed for it.
    assert "chance level" not in markdown


def test_a_recipe_seed_outside_the_suites_seeds_is_refused_in_one_line(tmp_path, capsys):
    suite = (
        f"name: bad\nbackbone: tiny\ntask: {TINY_TASK}\nseeds: [0, 1]\n"
        "recipes: [{name: baseline, seeds: [2]}]\n"
    )
    assert_refused(tmp_path, capsys, suite, "recipes[0].seeds: [2] not in the suite's seeds")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ("samples: 3", "use samples >= 5"),
        ("alpha: 0.6", "attacks[0].params.alpha"),
        ("set_size: 0", "attacks[0].params.set_size"),
        ("max_perturbed: 0", "attacks[0].params.max_perturbed"),
    ],
)
def test_bad_certify_settings_are_refused_in_one_line(tmp_path, capsys, params, needle):
    suite = (
        f"name: bad\nbackbone: tiny\ntask: {TINY_TASK}\nrecipes: [{{name: baseline}}]\n"
        f"attacks: [{{name: certify, params: {{{params}}}}}]\n"
    )
    assert_refused(tmp_path, capsys, suite, needle)


def test_list_shows_safer_and_certify(capsys):
    assert main(["list", "recipes"]) == 0
    assert any(line.split()[:1] == ["safer"] for line in capsys.readouterr().out.splitlines())
    assert main(["list", "attacks"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.split()[:1] == ["certify"] for line in listed)
    assert main(["list", "attacks", "certify"]) == 0
    shown = capsys.readouterr().out
    for field in ("samples", "alpha", "similarity_threshold", "set_size", "max_perturbed"):
        assert f"\n  {field} " in shown
    assert attacks.info("certify").description and recipes.info("safer").description
    assert certify_module.Certify.__doc__
