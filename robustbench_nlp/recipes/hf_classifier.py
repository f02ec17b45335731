"""No training: a Hugging Face sequence classifier made elsewhere, as a row of any board.

``model`` is a folder written by ``save_pretrained`` (an ``AutoModelForSequenceClassification``
with its tokenizer) or a hub id (in the local cache, or fetched when the hub answers). This is
RobustBench's "bring your model" and TextAttack's ``--model`` for this harness: the same
attacks and evaluation sets as the recipes' rows, on a model the harness did not train.

- ``label_map`` maps each task label to the model's output (an index or the model's label
  name). Unset, the model's ``config.id2label`` must name the task's labels (case-insensitive,
  e.g. negative / positive, entailment / neutral / contradiction); a model with another number
  of outputs than the task has labels is refused. The logits are re-ordered into the task's
  order, so every evaluation that matches labels by name stays right.
- ``max_length``: tokens per example (truncation), at most the model's position limit.
- ``trust_remote_code``: run a model's own Python code (a custom architecture). Off unless the
  suite sets it; when set, every record of the row carries a note saying so, and the board
  shows it.
- The suite's ``backbone`` plays no part: the model's own weights and tokenizer are used (the
  runner still resolves the suite's backbone, so keep the default).
- Identity: besides these parameters, the checkpoint key holds a fingerprint of the folder's
  weight files (names, sizes, SHA-256 of ``*.safetensors`` / ``*.bin``), one of its config and
  tokenizer files and the resolved label order, so replacing the model in place (or relabelling
  its ``id2label``) recomputes every cell. The seed changes nothing about the model (there is no
  training); it still seeds the attacks' random starts. A model trained once per seed
  elsewhere is named with ``{seed}`` in ``model`` (``models/hf-sst2-seed{seed}``): each seed of
  the row is then its own model, so the row's spread over seeds and its paired tests pool
  independently trained models, as the recipes' rows do. Without ``{seed}`` every seed of the
  row is the same model, which the board's statistics would count as several.

Everything is checked in ``preflight``, before any cell: the folder (a config naming a
``...ForSequenceClassification`` architecture, a tokenizer, weights), the label mapping and
``max_length``. A bare encoder folder (no classification head) is refused there.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.hf_classifier import (
    HFClassifier,
    inspect_folder,
    load_hf_classifier,
    map_labels,
    resolve_model_folder,
    settings_fingerprint,
    weights_fingerprint,
)
from robustbench_nlp.recipes.base import RecipeBase, TrainContext
from robustbench_nlp.tasks.base import Task


class HFClassifierRecipe(RecipeBase):
    """A Hugging Face sequence classifier (folder or hub id) evaluated as it is (no training)."""

    version: ClassVar[int] = 1

    model: str = Field(
        description="A save_pretrained folder of an AutoModelForSequenceClassification with its "
        "tokenizer, or a hub id."
    )
    label_map: dict[str, int | str] | None = Field(
        None,
        description="Task label -> model output index or label name (default: by the model's "
        "id2label names).",
    )
    max_length: int = Field(128, ge=8, description="Tokens per example (truncation).")
    trust_remote_code: bool = Field(False, description="Run the model's own code (noted).")

    @property
    def _what(self) -> str:
        return f"recipe hf_classifier (model {self.model})"

    def model_for(self, seed: int) -> str:
        """The model of one seed: ``model`` with ``{seed}`` replaced by the seed."""
        return self.model.replace("{seed}", str(seed))

    def _resolve(self, task: Task, seed: int) -> tuple[Path, list[int]]:
        folder = resolve_model_folder(self.model_for(seed), self._what).resolve()
        info = inspect_folder(folder, self._what)
        indices = map_labels(task.label_names, info.labels, self.label_map, self._what)
        if info.max_positions is not None and self.max_length > info.max_positions:
            raise UserError(
                f"{self._what}: max_length {self.max_length} exceeds the model's "
                f"{info.max_positions} positions; lower it."
            )
        return folder, indices

    def preflight(self, task: Task, seed: int) -> dict[str, str]:
        folder, indices = self._resolve(task, seed)
        return {
            "weights": weights_fingerprint(folder),
            "settings": settings_fingerprint(folder),
            "label_indices": ",".join(map(str, indices)),
        }

    def notes(self) -> list[str]:
        if not self.trust_remote_code:
            return []
        return [
            f"hf_classifier {self.model}: trust_remote_code is on, the model ran its own code "
            "(not the transformers library's)."
        ]

    def train(self, context: TrainContext) -> HFClassifier:
        folder, indices = self._resolve(context.task, context.seed)
        model = load_hf_classifier(
            folder, indices, self.max_length, self.trust_remote_code, context.device
        )
        context.logs["train"] = {"steps": 0, "seconds": 0.0, "model": str(folder)}
        return model
