"""Shared fixtures: a tiny random BERT, an isolated checkpoint cache, and small data folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported

import pytest  # noqa: E402

from robustbench_nlp.model.backbones import resolve_backbone  # noqa: E402
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec  # noqa: E402
from robustbench_nlp.tasks.base import Example  # noqa: E402
from tests.helpers import missing  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own checkpoint cache and no data-folder environment variable."""
    monkeypatch.setenv("RBNLP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("RBNLP_DATA_DIR", raising=False)


#: The tiny baseline that the command-line tests train (their suites use exactly this).
TINY_TASK = "{name: embedded, params: {train_size: 16, eval_size: 8}}"
TINY_RECIPE = "{name: baseline, params: {max_steps: 2, batch_size: 4}}"


@pytest.fixture(scope="session")
def trained_tiny_cache(tmp_path_factory) -> Path:
    """A checkpoint cache holding the tiny baseline for seeds 0 and 1, trained once per session
    (through the runner, exactly as a command-line test would train it)."""
    from robustbench_nlp.run.runner import Runner
    from robustbench_nlp.run.suite import load_suite

    root = tmp_path_factory.mktemp("tiny-cache")
    suite = root / "suite.yaml"
    suite.write_text(
        f"name: warm\nbackbone: tiny\ntask: {TINY_TASK}\nrecipes: [{TINY_RECIPE}]\n"
        f"seeds: [0, 1]\noutput: {root / 'out'}\ncheckpoint_dir: {root / 'checkpoints'}\n"
    )
    Runner(load_suite(suite), None).run()
    return root / "checkpoints"


@pytest.fixture
def warm_cache(trained_tiny_cache, tmp_path, monkeypatch) -> Path:
    """This test's own copy of the session's trained tiny checkpoints, as its cache."""
    cache = tmp_path / "warm-cache"
    shutil.copytree(trained_tiny_cache, cache / "checkpoints")
    monkeypatch.setenv("RBNLP_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_backbone():
    return resolve_backbone("tiny")


def make_classifier(backbone, num_labels: int = 2, seed: int = 0, **spec) -> Classifier:
    encoder = backbone.load_encoder(seed=seed)
    model = Classifier(encoder, backbone.load_tokenizer(), ClassifierSpec(num_labels, **spec))
    return model.eval()


@pytest.fixture
def tiny_classifier(tiny_backbone):
    return make_classifier(tiny_backbone)


@pytest.fixture
def sentences():
    return [
        Example("a gripping , beautifully acted film", 1),
        Example("dull and far too long", 0),
        Example("the best thing i have seen this year", 1),
        Example("a mess from start to finish , with no redeeming scene at all", 0),
    ]


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        missing(f"real data folder {SHARED_DATA} is not present")
    return SHARED_DATA
