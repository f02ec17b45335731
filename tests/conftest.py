"""Shared fixtures: a tiny random BERT, an isolated checkpoint cache, and small data folders."""

from __future__ import annotations

import os
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
