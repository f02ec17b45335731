"""Transfer cells: a word attack's adversarial examples replayed against every recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.evaluations.transfer import Transfer, read_adversarial
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.checkpoints import CheckpointStore
from robustbench_nlp.run.runner import Runner, plan, preflight
from robustbench_nlp.run.store import ResultsStore
from robustbench_nlp.run.suite import load_suite
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.sentiment import EmbeddedSentiment
from tests.test_word_attacks import need

RECIPES = (
    "  - {name: baseline, label: A, params: {max_steps: 6, batch_size: 4}}\n"
    "  - {name: baseline, label: B, params: {max_steps: 3, batch_size: 4, lr: 1.0e-3}}\n"
)


def write_suite(tmp_path: Path, attacks: str, seeds: str = "[0]") -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nbackbone: tiny\ntask: {name: embedded, params: {train_size: 32, eval_size: 24}}\n"
        f"recipes:\n{RECIPES}seeds: {seeds}\nattacks:\n{attacks}"
        f"output: {tmp_path / 'out'}\ncheckpoint_dir: {tmp_path / 'checkpoints'}\n"
    )
    return suite


WORD = "  - {name: deepwordbug, label: DWB}\n  - {name: transfer, params: {attack: DWB}}\n"


def records_by_prefix(out: Path) -> dict[str, dict]:
    store = ResultsStore(out)
    found = {}
    for cell in store.manifest()["cells"]:
        found[cell.rsplit("__", 1)[0]] = json.loads(store.record_path(cell).read_text())
    return found


def test_transfer_cells_replay_each_recipes_adversarial_examples_on_every_recipe(tmp_path):
    need("stopwords", "wordnet", "textattack-cache")
    path = write_suite(tmp_path, WORD, seeds="[0, 1]")
    suite = load_suite(path)
    cells = plan(suite, preflight(suite, None))
    labels = [(c.recipe.label, c.seed, c.attack.label) for c in cells]
    for seed in (0, 1):  # a seed's transfer cells come after every DWB cell of that seed
        of_seed = [x for x in labels if x[1] == seed]
        last_dwb = max(i for i, x in enumerate(of_seed) if x[2] == "DWB")
        first_transfer = min(i for i, x in enumerate(of_seed) if x[2] == "DWB transfer")
        assert last_dwb < first_transfer
    summary = Runner(suite, None).run()
    assert not summary.failed and len(summary.computed) == len(cells) == 2 * 2 * 3

    got = records_by_prefix(tmp_path / "out")
    records_dir = tmp_path / "out" / "records"
    store = CheckpointStore(tmp_path / "checkpoints")
    compared = 0
    for seed in (0, 1):
        for target in ("A", "B"):
            record = got[f"{target.lower()}__seed{seed}__dwb-transfer"]
            assert record["status"] == "ok"
            model = store.load(record["checkpoint"], "cpu")
            for source in ("A", "B"):
                dwb = got[f"{source.lower()}__seed{seed}__dwb"]
                adversarial = read_adversarial(records_dir / dwb["artifacts"][0], source)
                found = len(adversarial)
                assert record["metrics"][f"n:{source}"] == found
                if not found:
                    assert f"from:{source}" not in record["metrics"]
                    continue
                predicted = model.predict_proba(adversarial).argmax(-1).tolist()
                right = [p == e.label for p, e in zip(predicted, adversarial, strict=True)]
                assert record["metrics"][f"from:{source}"] == pytest.approx(sum(right) / found)
                if source == target:  # its own adversarial examples fool it
                    assert record["metrics"][f"from:{source}"] == 0.0
                compared += 1
    assert compared >= 4, "the tiny models should fall for some character edits"

    again = Runner(load_suite(path), None).run()  # resumed like any other cell
    assert not again.computed and len(again.reused) == len(cells)


def test_a_changed_source_attack_makes_new_transfer_cells(tmp_path):
    def ids(attacks: str) -> dict[tuple[str, str], str]:
        suite = load_suite(write_suite(tmp_path, attacks))
        return {
            (c.recipe.label, c.attack.label): c.cell_id for c in plan(suite, preflight(suite, None))
        }

    before = ids(WORD)
    after = ids(WORD.replace("label: DWB}", "label: DWB, params: {max_examples: 5}}"))
    assert before[("A", "DWB transfer")] != after[("A", "DWB transfer")]
    assert before[("A", "clean")] == after[("A", "clean")]


@pytest.mark.parametrize(
    ("attacks", "expected"),
    [
        ("  - {name: pgd}\n  - {name: transfer, params: {attack: pgd}}\n", "is no word attack"),
        ("  - {name: transfer, params: {attack: DWB}}\n", "is no attack of this suite"),
    ],
)
def test_transfer_of_no_word_attack_is_refused_in_one_line(tmp_path, attacks, expected):
    with pytest.raises(UserError, match=expected) as error:
        load_suite(write_suite(tmp_path, attacks))
    assert "\n" not in str(error.value)


def test_an_unfinished_source_cell_names_itself(tmp_path):
    data = EmbeddedSentiment(eval_size=4).load(None)
    context = MeasureContext(
        EmbeddedSentiment(), data, 2, "cpu", None, tmp_path, "cell", label="DWB transfer"
    )
    context.inputs = {"A": None}
    with pytest.raises(UserError, match="DWB cell of recipe 'A' \\(seed 2\\) has not finished"):
        Transfer(attack="DWB").examples(context)


def test_pairs_replay_the_adversarial_hypothesis_and_only_successes(tmp_path):
    rows = [
        {"id": "p1", "label": 2, "result": "successful", "text": "A man sleeps.",
         "pair": "A man is awake.", "adversarial": "A mna is awake."},
        {"id": "p2", "label": 0, "result": "failed", "text": "x", "pair": "y",
         "adversarial": None},
        {"id": "s1", "label": 1, "result": "successful", "text": "good film",
         "adversarial": "g00d film"},
    ]  # fmt: skip
    path = tmp_path / "cell.adv.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, second = read_adversarial(path, "A")
    assert (first.text, first.pair, first.label) == ("A man sleeps.", "A mna is awake.", 2)
    assert (second.text, second.pair) == ("g00d film", None)
    assert dict(first.tags) == {"source": "A", "example": "p1"}
    # the same adversarial text found against two recipes stays two examples
    assert read_adversarial(path, "B")[0].id != first.id != Example("A man sleeps.", 2).id
    path.write_text('{"id": "x"}\n')
    with pytest.raises(UserError, match="cell.adv.jsonl:1: not an adversarial-example row"):
        read_adversarial(path, "A")
