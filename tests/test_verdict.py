"""The board's verdict from per-example outcomes: worst case, CIs, paired tests, strength flags."""

from __future__ import annotations

import json

import pytest
import torch

from robustbench_nlp.attacks.embedding_pgd import EmbeddingPGD
from robustbench_nlp.cli import main
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.report.statistics import strength_check
from tests.conftest import make_classifier
from tests.test_embedding_pgd import _context


class GradientMasking(Classifier):
    """A classifier with a non-differentiable step in front of the encoder: its embeddings are
    rounded, so every input gradient is zero and PGD only ever tries its random start."""

    def hidden_states(self, batch, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(batch["input_ids"])
        return super().hidden_states(batch, torch.round(inputs_embeds * 2) / 2)


def _flag(model) -> bool:
    attack = EmbeddingPGD(eps=[8.0], steps=2, strength_check=True, batch_size=16)
    fields = attack.run(model, _context(eval_size=96)).outcomes.fields
    standard = dict(enumerate(fields["robust_accuracy@eps=8"]))
    stronger = dict(enumerate(fields["strong:robust_accuracy@eps=8"]))
    return strength_check(standard, stronger).unreliable


def test_the_strength_check_flags_a_gradient_masking_model_and_not_a_plain_one(tiny_backbone):
    torch.manual_seed(0)
    plain = make_classifier(tiny_backbone, seed=3)
    masked = GradientMasking(plain.encoder, plain.tokenizer, plain.spec)
    masked.head.load_state_dict(plain.head.state_dict())
    masked.eval()
    assert _flag(masked)
    assert not _flag(plain)


SUITE = """\
name: verdict
backbone: tiny
task: {{name: embedded, params: {{train_size: 32, eval_size: 40}}}}
recipes:
  - {{name: baseline, params: {{max_steps: 4, batch_size: 8}}}}
  - {{name: baseline, label: longer, params: {{max_steps: 12, batch_size: 8}}}}
attacks:
  - {{name: pgd, label: PGD, params: {{eps: [0.0, 0.5], steps: 2, strength_check: true}}}}
  - {{name: eval_task, label: again, params: {{task: embedded}}}}
seeds: [0, 1]
output: {output}
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    suite = root / "suite.yaml"
    suite.write_text(SUITE.format(output=root / "out"))
    assert main(["run", str(suite)]) == 0
    return root


def test_the_board_ranks_by_worst_case_with_cis_marks_and_the_strength_check(board):
    text = (board / "out.md").read_text()
    assert "Ranked by worst-case robust accuracy" in text
    assert "ensemble (PGD (robust_accuracy@eps=0.5))" in text
    header = next(line for line in text.splitlines() if line.startswith("|   Rank"))
    assert "Worst case" in header and header.index("clean") < header.index("Worst case")
    assert "baseline (reference)" in text
    assert "McNemar's exact test" in text and "Holm" in text
    assert "Strength check (PGD ε=0.5" in text
    assert "chance level" in text and "again" in text
    rows = [line for line in text.splitlines() if line.startswith("|      ")]
    assert len(rows) == 2 and all(line.count("[") >= 4 for line in rows)  # a CI on every column


def test_the_board_rerenders_byte_for_byte_and_the_json_carries_the_verdict(board, tmp_path):
    # the same base name elsewhere: the Markdown links its figures by that name
    assert main(["leaderboard", str(board / "out"), "--out", str(tmp_path / "out")]) == 0
    for suffix in (".md", ".csv", ".json", ".html"):
        assert (tmp_path / f"out{suffix}").read_bytes() == (board / f"out{suffix}").read_bytes()
    rows = json.loads((board / "out.json").read_text())["rows"]
    assert {"worst_case", "intervals", "significance"} <= set(rows[0])


def test_worst_case_ranking_follows_the_per_example_outcomes(board):
    """Recompute the worst case from the outcomes files by hand."""
    records = board / "out" / "records"
    worst = {}
    for path in records.glob("*.json"):
        if ".outcomes." in path.name:
            continue
        record = json.loads(path.read_text())
        if record["attack"]["label"] != "PGD":
            continue
        fields = json.loads((records / record["outcomes"]).read_text())["fields"]
        robust = fields["robust_accuracy@eps=0.5"]  # already requires clean correctness
        worst.setdefault(record["recipe"]["label"], []).append(sum(robust) / len(robust))
    rows = json.loads((board / "out.json").read_text())["rows"]
    for row in rows:
        assert row["worst_case"] == pytest.approx(sum(worst[row["recipe"]]) / 2)
    ranked = sorted(worst, key=lambda r: -sum(worst[r]))
    assert [row["recipe"] for row in rows] == ranked or len(set(map(sum, worst.values()))) == 1
