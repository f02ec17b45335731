"""A Hugging Face sequence classifier made elsewhere, behind the ``Classifier`` interface.

Any ``AutoModelForSequenceClassification`` checkpoint (a local folder, or a hub id resolved to
its snapshot in the local cache) becomes a ``Classifier`` that every attack can query:

- tokenisation is the ``Classifier``'s own (each example encoded on its own with the model's
  tokenizer, ``truncation=True, max_length``, dynamic padding), so ``perturb_mask`` marks the
  user's tokens and never [CLS]/[SEP]/padding, exactly as for the harness's own models;
- ``word_embeddings`` is the model's own input-embedding table
  (``get_input_embeddings()``), and ``forward(batch, inputs_embeds)`` runs the whole model
  (position and token-type embeddings, encoder, its own pooler and head) from those vectors,
  so embedding PGD/FGSM perturb the vectors the model really reads;
- the logits are re-ordered into the task's label order (``label_indices[i]``: the model
  output of the task's label ``i``), so evaluations that match labels by name stay right.

Checks run on files only (``inspect_folder``: a config naming a ``...ForSequenceClassification``
architecture, a tokenizer, weights), so preflight imports no model. ``weights_fingerprint``
hashes the weight files (names, sizes and contents), which is what makes a replaced model a
new checkpoint and new cells.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.model.backbones import check_hub_id, hub_offline
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec

#: The weight files a ``save_pretrained`` folder may hold (single or sharded).
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
#: Any one of these makes a folder's tokenizer loadable by ``AutoTokenizer``.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def weight_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()})


#: The small files that decide what the model reads and answers besides its weights: the
#: config (labels, architecture) and the tokenizer's files.
SETTINGS_FILES = (
    "config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "merges.txt",
    *TOKENIZER_FILES,
)


def weights_fingerprint(folder: Path) -> str:
    """Hash of the weight files' names, sizes and contents (SHA-256, streamed)."""
    return _files_fingerprint(weight_files(folder))


def settings_fingerprint(folder: Path) -> str:
    """Hash of the config and tokenizer files (a relabelled ``id2label``, another vocabulary)."""
    return _files_fingerprint([folder / n for n in SETTINGS_FILES if (folder / n).is_file()])


def _files_fingerprint(paths: Sequence[Path]) -> str:
    parts = []
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        parts.append([path.name, path.stat().st_size, digest.hexdigest()])
    return stable_hash(parts)


def resolve_model_folder(model: str, what: str) -> Path:
    """A local folder as it is; a hub id checked (``check_hub_id``: cached, or the hub answers
    within seconds) and resolved to its snapshot folder (the local cache, else downloaded)."""
    local = Path(model).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"{what}: {model} is a file; give the folder save_pretrained wrote.")
        return local
    if model.startswith((".", "/", "~")):
        raise UserError(f"{what}: {model}: no such folder.")
    check_hub_id(model, f"{what}: not an existing folder")
    from huggingface_hub import snapshot_download

    try:
        with hub_offline():
            return Path(snapshot_download(model, local_files_only=True))
    except Exception:
        return Path(snapshot_download(model))  # the hub answered: fetch it


@dataclass(frozen=True)
class FolderInfo:
    """What a model folder's files say, read without loading the model."""

    architecture: str
    #: The model's label names in output order (``config.id2label``).
    labels: tuple[str, ...]
    max_positions: int | None


def inspect_folder(folder: Path, what: str) -> FolderInfo:
    """Check that ``folder`` holds a sequence classifier: config, tokenizer, weights."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{what}: {folder} has no config.json; is it a save_pretrained folder?")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{what}: {config_path} is not valid JSON ({error}).") from None
    architectures = config.get("architectures") or []
    heads = [a for a in architectures if str(a).endswith("ForSequenceClassification")]
    if not heads:
        raise UserError(
            f"{what}: {folder} is not a sequence classifier (architectures: "
            f"{', '.join(map(str, architectures)) or 'none'}); give a folder saved from an "
            "AutoModelForSequenceClassification (a bare encoder has no classification head)."
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(
            f"{what}: {folder} has no tokenizer ({' / '.join(TOKENIZER_FILES[:2])}); save it "
            "with tokenizer.save_pretrained(folder) too."
        )
    if not weight_files(folder):
        raise UserError(f"{what}: {folder} has no weights (*.safetensors or *.bin).")
    id2label = config.get("id2label") or {}
    count = int(config.get("num_labels") or len(id2label) or 2)
    labels = tuple(str(id2label.get(str(i), f"LABEL_{i}")) for i in range(count))
    max_positions = config.get("max_position_embeddings")
    return FolderInfo(heads[0], labels, int(max_positions) if max_positions else None)


def map_labels(
    task_labels: Sequence[str],
    model_labels: Sequence[str],
    label_map: Mapping[str, int | str] | None,
    what: str,
) -> list[int]:
    """The model output index of each task label, in the task's order.

    Without ``label_map`` the model's names must be the task's, case-insensitively; with it,
    each task label names an output by index or by the model's label name. The model must have
    exactly one output per task label. Anything else fails naming both label sets.
    """
    sets = f"task labels ({', '.join(task_labels)}), model labels ({', '.join(model_labels)})"
    if len(model_labels) != len(task_labels):
        raise UserError(
            f"{what}: the model has {len(model_labels)} outputs and the task "
            f"{len(task_labels)} labels; no label map fits: {sets}."
        )
    lowered = [name.lower() for name in model_labels]
    if label_map is None:
        if sorted(lowered) != sorted(name.lower() for name in task_labels):
            example = ", ".join(f"{name}: {i}" for i, name in enumerate(task_labels))
            raise UserError(
                f"{what}: the model's label names do not match the task's ({sets}); give "
                f"label_map, e.g. {{{example}}}."
            )
        return [lowered.index(name.lower()) for name in task_labels]
    unknown = [k for k in label_map if k not in task_labels]
    missing = [k for k in task_labels if k not in label_map]
    if unknown or missing:
        problem = f"names unknown label(s) {', '.join(unknown)}" if unknown else ""
        problem += "; " if unknown and missing else ""
        problem += f"lacks label(s) {', '.join(missing)}" if missing else ""
        raise UserError(f"{what}: label_map {problem}: {sets}.")
    indices = []
    for name in task_labels:
        value = label_map[name]
        if isinstance(value, str) and value.lower() in lowered:
            value = lowered.index(value.lower())
        if not isinstance(value, int) or not 0 <= value < len(model_labels):
            raise UserError(
                f"{what}: label_map {name}: {value!r} is neither an output index "
                f"0..{len(model_labels) - 1} nor a model label name: {sets}."
            )
        indices.append(value)
    if len(set(indices)) != len(indices):
        raise UserError(f"{what}: label_map sends two task labels to one output: {sets}.")
    return indices


class HFClassifier(Classifier):
    """A ``transformers`` sequence classifier answering in the task's label order."""

    def __init__(
        self,
        model,
        tokenizer,
        spec: ClassifierSpec,
        label_indices: Sequence[int],
        source: str,
        trust_remote_code: bool = False,
    ) -> None:
        torch.nn.Module.__init__(self)  # no encoder + head of our own: the model is both
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.source = source
        self.trust_remote_code = trust_remote_code
        self.label_indices = list(label_indices)
        self.register_buffer("_order", torch.tensor(self.label_indices), persistent=False)
        #: Models without segment embeddings (RoBERTa, DistilBERT) take no token_type_ids.
        self._token_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())

    @property
    def device(self) -> torch.device:
        return self._order.device

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(input_ids)

    def forward(
        self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        inputs = {"attention_mask": batch["attention_mask"]}
        if self._token_types:
            inputs["token_type_ids"] = batch["token_type_ids"]
        if inputs_embeds is None:
            inputs["input_ids"] = batch["input_ids"]
        else:
            inputs["inputs_embeds"] = inputs_embeds
        return self.model(**inputs).logits[:, self._order]

    def represent(self, batch, inputs_embeds=None):
        raise UserError(
            "hf_classifier: a model made elsewhere has no sentence representation the harness "
            "defines (its pooling is its own); sentence-embedding evaluations (sts) do not apply."
        )

    hidden_states = represent


def load_hf_classifier(
    folder: str | Path,
    label_indices: Sequence[int],
    max_length: int,
    trust_remote_code: bool = False,
    device: str = "cpu",
) -> HFClassifier:
    """The model and tokenizer of ``folder`` (offline: nothing is fetched), in eval mode."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with hub_offline():
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, trust_remote_code=trust_remote_code
        )
    spec = ClassifierSpec(
        num_labels=len(label_indices), pooling="cls", max_length=max_length, dropout=0.0
    )
    classifier = HFClassifier(model, tokenizer, spec, label_indices, str(folder), trust_remote_code)
    return classifier.to(device).eval()
