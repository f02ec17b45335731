"""Trained classifiers on disk: safetensors weights + the config needed to rebuild them.

A checkpoint is keyed by the hash of (recipe name and every parameter, task and its parameters,
backbone, seed); asking for the same key again loads it instead of training. Writes go to a
temporary folder renamed into place, so a killed run never leaves a half checkpoint behind.
Processes that may train the same key at once hold ``lock(key)`` around "load it, or train and
save it": the second waits for the first's checkpoint instead of training it again.

A model made elsewhere (``HFClassifier``, the ``hf_classifier`` recipe) is not copied: its
checkpoint is ``source.json`` (the folder, the label order, max_length, trust_remote_code) and
loading reloads the model from that folder. Its key holds a fingerprint of the folder's weight
files (``hf_classifier.weights_fingerprint``), so a replaced model is another key and a stale
entry is never asked for; a copy would only duplicate the user's weights once per seed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from filelock import FileLock
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer

from robustbench_nlp.core.files import publish_folder
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.model.hf_classifier import HFClassifier, load_hf_classifier

CACHE_ENV = "RBNLP_CACHE_DIR"


def default_checkpoint_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "robustbench-nlp"
    return Path(root) / "checkpoints"


class CheckpointStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        folder = self.path(key)
        return (folder / "model.safetensors").is_file() or (folder / "source.json").is_file()

    def lock(self, key: str) -> FileLock:
        """The lock of one key, shared by every process using this store."""
        return FileLock(self.root / ".locks" / f"{key}.lock")

    def save(self, key: str, classifier: Classifier, meta: dict[str, Any]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            if isinstance(classifier, HFClassifier):
                source = {
                    "folder": classifier.source,
                    "label_indices": classifier.label_indices,
                    "max_length": classifier.spec.max_length,
                    "trust_remote_code": classifier.trust_remote_code,
                }
                (staging / "source.json").write_text(json.dumps(source, indent=2))
            else:
                state = {
                    k: v.detach().contiguous().cpu() for k, v in classifier.state_dict().items()
                }
                save_file(state, staging / "model.safetensors")
                classifier.encoder.config.save_pretrained(staging / "encoder")
                classifier.tokenizer.save_pretrained(staging / "tokenizer")
                (staging / "classifier.json").write_text(
                    json.dumps(classifier.spec.to_dict(), indent=2)
                )
            (staging / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
            target = self.path(key)
            if target.is_dir() and not self.exists(key):  # not a checkpoint: a stray folder
                shutil.rmtree(target)
            # A concurrent writer (without the lock) may have published the same key: keep
            # theirs.
            publish_folder(staging, target, lambda: self.exists(key))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.path(key)

    def load(self, key: str, device: str = "cpu") -> Classifier:
        folder = self.path(key)
        if (folder / "source.json").is_file():
            return load_hf_classifier(
                **json.loads((folder / "source.json").read_text()), device=device
            )
        spec = ClassifierSpec(**json.loads((folder / "classifier.json").read_text()))
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder / "encoder"))
        classifier = Classifier(encoder, AutoTokenizer.from_pretrained(folder / "tokenizer"), spec)
        classifier.load_state_dict(load_file(folder / "model.safetensors"))
        return classifier.to(device).eval()

    def meta(self, key: str) -> dict[str, Any]:
        return json.loads((self.path(key) / "meta.json").read_text())
