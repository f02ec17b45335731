"""Stand-ins shared by several test modules."""

from __future__ import annotations

import os

import pytest
import torch

STRICT_ENV = "RBNLP_STRICT"


def missing(reason: str) -> None:
    """Skip a test whose resource or data folder is missing, except in CI: with
    ``RBNLP_STRICT=1`` (set by ``.ci/run``) a missing resource fails the test instead, so a
    green CI cannot hide tests that never ran."""
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} (a failure, not a skip: {STRICT_ENV}=1)")
    pytest.skip(reason)


def assert_refused(tmp_path, capsys, suite: str, needle: str) -> None:
    """``suite`` (YAML; its output goes to ``tmp_path / "out"``) is refused by ``run`` in one
    line naming ``needle``, with exit 2 and nothing written."""
    from robustbench_nlp.cli import main

    path = tmp_path / "suite.yaml"
    path.write_text(suite + f"output: {tmp_path / 'out'}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "out").exists()


def run_suite_records(tmp_path, suite: str) -> list[dict]:
    """Run ``suite`` (YAML; output in ``tmp_path / "out"``) with nothing failing, and return its
    records (not their outcomes files)."""
    import json

    from robustbench_nlp.run.runner import Runner
    from robustbench_nlp.run.suite import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(suite + f"output: {tmp_path / 'out'}\n")
    assert not Runner(load_suite(path), None).run().failed
    return [
        json.loads(p.read_text())
        for p in (tmp_path / "out" / "records").glob("*.json")
        if ".outcomes." not in p.name
    ]


class Always:
    """A stand-in classifier that predicts one label for every example."""

    training = False

    def __init__(self, label: int, num_labels: int = 3) -> None:
        self.label, self.num_labels = label, num_labels

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def predict_proba(self, examples, batch_size=64):
        probs = torch.zeros(len(examples), self.num_labels)
        probs[:, self.label] = 1.0
        return probs


def save_tiny_hf_classifier(folder, labels=("negative", "positive"), seed: int = 0):
    """A seeded random ``BertForSequenceClassification`` of the tiny backbone's shape, saved
    with ``save_pretrained`` (and the tiny backbone's tokenizer) into ``folder``: a model made
    outside the harness, as a user would bring it. ``initializer_range`` 0.5 spreads the random
    logits so the model predicts both labels (a comparison of its predictions then has bite)."""
    from transformers import BertConfig, BertForSequenceClassification

    from robustbench_nlp.model.backbones import TINY_CONFIG, resolve_backbone

    tokenizer = resolve_backbone("tiny").load_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        initializer_range=0.5,
        **TINY_CONFIG,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
