"""No training: the pretrained backbone with an untrained (randomly initialised) head.

The reference row of sentence-embedding boards (``sts``): what the backbone's representation
(``pooling``: CLS, mean, or the [MASK] state of ``template``, optionally denoised as in
PromptBERT) gives before any recipe touches it. Its clean accuracy is that of a random head,
i.e. chance. The training fields inherited from ``Recipe`` (epochs, lr, ...) are unused.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.tasks.base import Task


class Pretrained(Recipe):
    """The backbone as downloaded, with a random head (no training)."""

    #: It never calls ``fit``: the batching change of ``Recipe`` version 2 leaves it unchanged.
    version: ClassVar[int] = 1

    pooling: Literal["cls", "mean", "mask"] = "mean"
    template: str | None = Field(None, description="Prompt template ([X], [MASK]) for 'mask'.")
    denoise: bool = Field(False, description="PromptBERT template denoising (pooling 'mask').")

    @model_validator(mode="after")
    def _valid_spec(self) -> Pretrained:
        try:  # fail when the suite is loaded, not after the first model is built
            self.classifier_spec(None)
        except UserError as error:
            raise ValueError(str(error)) from None
        return self

    def classifier_spec(self, task: Task | None) -> ClassifierSpec:
        return ClassifierSpec(
            num_labels=task.num_labels if task is not None else 2,
            pooling=self.pooling,
            max_length=self.max_length,
            dropout=self.dropout,
            template=self.template,
            denoise=self.denoise,
        )

    def train(self, context: TrainContext) -> Classifier:
        model = self.build_classifier(context).eval()
        context.logs["train"] = {"steps": 0, "seconds": 0.0}
        return model
