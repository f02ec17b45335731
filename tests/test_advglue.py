"""AdvGLUE (Wang et al. 2021): the official dev file parses, the task picks the subsets, a
malformed file is refused, and the per-subset accuracies are those of a direct evaluation."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from robustbench_nlp.cli import main
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.evaluations.advglue import AdvGLUE, advglue_subsets
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.model.hf_classifier import load_hf_classifier
from robustbench_nlp.tasks.advglue import advglue_path, read_advglue
from robustbench_nlp.tasks.base import Task, TaskData
from robustbench_nlp.tasks.nli import NLI_LABELS
from robustbench_nlp.tasks.registry import tasks
from tests.helpers import save_tiny_hf_classifier
from tests.test_nli import nli_folder

ALL = ["sst2", "mnli", "mnli-mm"]


def test_the_official_dev_file_parses(shared_data):
    loaded = read_advglue(advglue_path(shared_data), ALL)
    assert {k: len(v) for k, v in loaded.items()} == {"sst2": 148, "mnli": 121, "mnli-mm": 162}
    assert {e.label for e in loaded["sst2"]} == {0, 1}
    assert all(e.pair is None for e in loaded["sst2"])
    for subset in ("mnli", "mnli-mm"):
        assert {e.label for e in loaded[subset]} == {0, 1, 2}
        assert all(e.pair for e in loaded[subset])
        assert all(dict(e.tags) == {"subset": subset} for e in loaded[subset])
    raw = json.loads(advglue_path(shared_data).read_text())
    first = raw["mnli"][0]
    assert (loaded["mnli"][0].text, loaded["mnli"][0].pair) == (
        first["premise"].strip(),
        first["hypothesis"].strip(),
    )


class FourWay(Task):
    label_names: ClassVar[tuple[str, ...]] = ("a", "b", "c", "d")


def test_the_task_decides_the_subsets():
    for name in ("sst2", "mr", "embedded"):
        assert advglue_subsets(tasks.get(name)()) == ["sst2"]
    for name in ("snli_sick", "mnli", "sick"):
        assert advglue_subsets(tasks.get(name)()) == ["mnli", "mnli-mm"]
    with pytest.raises(UserError, match=r"labels \(a, b, c, d\).*sentiment.*NLI"):
        advglue_subsets(FourWay())
    with pytest.raises(UserError, match="AdvGLUE applies to"):
        AdvGLUE().preflight(None, FourWay())


def write_dev(folder: Path, edit) -> Path:
    rows = {
        "sst2": [{"idx": 0, "label": 1, "sentence": "a fine film ."}],
        "mnli": [{"idx": 0, "label": 2, "premise": "A man sleeps.", "hypothesis": "He runs."}],
        "mnli-mm": [{"idx": 0, "label": 0, "premise": "A cat sits.", "hypothesis": "A cat."}],
    }
    edit(rows)
    path = advglue_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return folder


@pytest.mark.parametrize(
    ("edit", "task", "message"),
    [
        (lambda r: r["sst2"][0].pop("sentence"), "sst2", r"sst2\[0\]: missing field\(s\) sentence"),
        (lambda r: r["mnli"][0].pop("label"), "snli_sick", r"mnli\[0\]: missing field\(s\) label"),
        (lambda r: r["sst2"][0].update(label=2), "sst2", r"label 2 is not one of 0 negative"),
        (lambda r: r["mnli-mm"][0].update(label="x"), "mnli", r"mnli-mm\[0\]: label 'x'"),
        (lambda r: r["sst2"][0].update(label=True), "sst2", "label True"),
        (lambda r: r.pop("mnli-mm"), "snli_sick", "no 'mnli-mm' records"),
        (lambda r: r["sst2"][0].update(sentence=" "), "sst2", "the sentence is empty"),
    ],
)
def test_a_malformed_file_is_refused_in_preflight(tmp_path, edit, task, message):
    folder = write_dev(tmp_path, edit)
    with pytest.raises(UserError, match=message):
        AdvGLUE().preflight(folder, tasks.get(task)())


def test_a_well_formed_hand_made_file_loads(tmp_path):
    folder = write_dev(tmp_path, lambda rows: None)
    AdvGLUE().preflight(folder, tasks.get("sst2")())
    loaded = read_advglue(advglue_path(folder), ALL)
    assert [e.label for e in loaded["mnli"]] == [2]


def test_a_missing_file_names_the_layout(tmp_path):
    with pytest.raises(UserError, match=r"advglue/dev.json is missing"):
        AdvGLUE().preflight(tmp_path, tasks.get("sst2")())


def direct_accuracy(folder: Path, examples, pairs: bool) -> float:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(
        [e.text for e in examples],
        [e.pair for e in examples] if pairs else None,
        truncation=True,
        max_length=128,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        predicted = model(**encoded).logits.argmax(-1).tolist()
    return sum(p == e.label for p, e in zip(predicted, examples, strict=True)) / len(examples)


@pytest.mark.parametrize(
    ("task", "labels", "subsets"),
    [("sst2", ("negative", "positive"), ["sst2"]), ("snli_sick", NLI_LABELS, ["mnli", "mnli-mm"])],
)
def test_accuracy_per_subset_equals_a_direct_evaluation(
    shared_data, tmp_path, task, labels, subsets
):
    folder = save_tiny_hf_classifier(tmp_path / "model", labels=labels)
    model = load_hf_classifier(folder, list(range(len(labels))), 128)
    context = MeasureContext(
        tasks.get(task)(), TaskData([], [], "none"), 0, "cpu", shared_data, tmp_path, "x"
    )
    result = AdvGLUE().run(model, context)
    loaded = read_advglue(advglue_path(shared_data), subsets)
    assert result.n_examples == sum(len(rows) for rows in loaded.values())
    for subset in subsets:
        key = f"accuracy_{subset.replace('-', '_')}"
        expected = direct_accuracy(folder, loaded[subset], pairs=task != "sst2")
        assert result.metrics[key] == pytest.approx(expected)
    assert [c.label for c in result.columns] == [
        {"sst2": "SST-2", "mnli": "MNLI-m", "mnli-mm": "MNLI-mm"}[s] for s in subsets
    ]


def test_the_nli_board_shows_each_subset_with_its_own_chance_level(shared_data, tmp_path):
    data = nli_folder(tmp_path)
    shutil.copytree(shared_data / "advglue", data / "advglue")
    model = save_tiny_hf_classifier(tmp_path / "model", labels=NLI_LABELS)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: adv\nbackbone: tiny\ntask: {name: snli_sick}\n"
        f"recipes:\n  - {{name: hf_classifier, params: {{model: '{model}'}}}}\n"
        "attacks:\n  - name: clean\n  - name: advglue\n"
        "  - {name: pgd, params: {eps: [0.0, 0.5], steps: 1}}\n"
        f"seeds: [0]\noutput: {tmp_path / 'out'}\n"
    )
    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    board = (tmp_path / "out.md").read_text()
    header = next(line for line in board.splitlines() if line.startswith("|   Rank"))
    assert "AdvGLUE MNLI-m " in header and "AdvGLUE MNLI-mm" in header
    raw = json.loads(advglue_path(shared_data).read_text())
    for subset, title in (("mnli", "AdvGLUE MNLI-m"), ("mnli-mm", "AdvGLUE MNLI-mm")):
        counts = Counter(row["label"] for row in raw[subset])
        chance = max(counts.values()) / sum(counts.values()) * 100
        assert f"{title} {chance:.1f}" in board
