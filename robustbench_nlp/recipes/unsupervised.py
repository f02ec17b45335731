"""The two-phase shape of USCAL and PromptBERT: unsupervised contrastive training, then a head.

Phase 1 ("unsupervised") trains the encoder on the task's training texts with their labels
ignored (``unlabelled_sentences``: premises and hypotheses as separate sentences, duplicates
dropped) through ``Recipe.fit`` with the recipe's own step. Its schedule has its own fields
(``unsup_*``); as in SimCSE / Prompt-BERT (Hugging Face Trainer defaults) it uses no weight
decay and no warmup unless ``unsup_warmup_ratio`` says otherwise, with gradient clipping at 1.0
(``fit``'s). A projection MLP, when the recipe asks for one, exists during phase 1 only.

Phase 2 ("train") gives the encoder its classification head on the labelled task so that the
recipe sits on the same leaderboards as the baseline. ``head`` picks how:

- ``finetune`` (default): exactly the baseline (``Recipe.fit`` + ``Recipe.classification_loss``
  with the recipe's ``epochs``, ``lr``, ``batch_size``, ...), encoder included;
- ``linear``: the same loop with the encoder frozen (a linear probe; the encoder keeps what
  phase 1 taught it, which is what sentence-embedding evaluation such as ``sts`` should see);
- ``none``: no phase 2; the head stays untrained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe, StepFn, TrainContext
from robustbench_nlp.recipes.contrastive import projection_head, unlabelled_sentences
from robustbench_nlp.tasks.base import Example, TaskData


class UnsupervisedRecipe(Recipe):
    """Base: an unsupervised contrastive phase on the task's texts, then the baseline's head."""

    temperature: float = Field(0.05, gt=0, description="InfoNCE temperature tau.")
    unsup_epochs: int = Field(1, ge=1, description="Epochs over the unlabelled sentences.")
    unsup_max_steps: int | None = Field(None, gt=0, description="Stop phase 1 after N steps.")
    unsup_batch_size: int = Field(64, ge=2, description="Sentences per contrastive batch.")
    unsup_lr: float = Field(3e-5, gt=0)
    unsup_warmup_ratio: float = Field(0.0, ge=0, lt=1)
    head: Literal["finetune", "linear", "none"] = Field(
        "finetune", description="Phase 2: baseline fine-tuning, linear probe, or no head."
    )

    def planned_steps(self, data: TaskData) -> dict[str, int]:
        sentences = len(unlabelled_sentences(data.train))
        total = math.ceil(sentences / self.unsup_batch_size) * self.unsup_epochs
        if self.unsup_max_steps is not None:
            total = min(total, self.unsup_max_steps)
        steps = {"unsupervised": total}
        return steps if self.head == "none" else {**steps, **super().planned_steps(data)}

    def shortened(self, steps: int) -> UnsupervisedRecipe:
        return self.model_copy(update={"max_steps": steps, "unsup_max_steps": steps})

    def unsupervised_view(self, model: Classifier) -> Classifier:
        """The classifier phase 1 trains (it shares ``model``'s encoder)."""
        return model

    def uses_projection(self) -> bool:
        """Whether phase 1 puts SimCSE's MLP over the representation."""
        return False

    def unsupervised_step(self, view: Classifier, project: nn.Module) -> StepFn:
        """The phase-1 step for ``view``; ``project`` is the projection head (or identity)."""
        raise NotImplementedError

    def train(self, context: TrainContext) -> Classifier:
        model = self.build_classifier(context)
        self.train_unsupervised(model, unlabelled_sentences(context.data.train), context)
        self.train_head(model, context)
        return model

    def train_unsupervised(
        self, model: Classifier, sentences: Sequence[Example], context: TrainContext
    ) -> None:
        schedule = self.model_copy(
            update={
                "epochs": self.unsup_epochs,
                "max_steps": self.unsup_max_steps,
                "batch_size": self.unsup_batch_size,
                "warmup_ratio": self.unsup_warmup_ratio,
                "weight_decay": 0.0,
            }
        )
        view = self.unsupervised_view(model)
        with projection_head(view, self.uses_projection()) as project:
            step = self.unsupervised_step(view, project)
            schedule.fit(view, sentences, step, context, "unsupervised", lr=self.unsup_lr)

    def train_head(self, model: Classifier, context: TrainContext) -> None:
        if self.head == "none":
            model.eval()
            return
        frozen = self.head == "linear"
        if frozen:
            model.encoder.requires_grad_(False)
        try:
            self.fit(model, context.data.train, self.classification_loss, context, "train")
        finally:
            if frozen:
                model.encoder.requires_grad_(True)


def doubled(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch stacked on itself: SimCSE's two dropout views in one encoder pass."""
    return {key: torch.cat([value, value]) for key, value in batch.items()}
