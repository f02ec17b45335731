"""Test-only TextAttack pieces: the stock-wrapper reference and a recording wrapper.

The stock ``HuggingFaceModelWrapper`` (every query padded to 512 tokens) is what the fast
wrapper is checked and timed against; ``RecordingWrapper`` keeps the batches that reached the
model, for timing the model alone and for checking what an attack queried.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from unittest import mock

import torch
import transformers
from textattack.models.wrappers import HuggingFaceModelWrapper
from transformers.modeling_outputs import SequenceClassifierOutput

from robustbench_nlp.attacks.textattack import components
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.tasks.base import Example


class RecordingWrapper(components.FastModelWrapper):
    """The fast wrapper, keeping every batch of examples it sent to the model."""

    def __init__(self, model: Classifier, batch_size: int = 64) -> None:
        super().__init__(model, batch_size)
        self.batches: list[list[Example]] = []

    def forward(self, inputs, examples):
        self.batches.append(list(examples))
        return super().forward(inputs, examples)


@contextmanager
def recording():
    """Sessions built inside this block use ``RecordingWrapper``."""
    with mock.patch.object(components, "FastModelWrapper", RecordingWrapper):
        yield


class ClassifierForSequenceClassification(transformers.PreTrainedModel):
    """Our ``Classifier`` behind the ``transformers`` interface that TextAttack's stock
    ``HuggingFaceModelWrapper`` requires (the reference of tests and benchmarks)."""

    _supports_sdpa = True  # attention happens inside the wrapped encoder, configured there

    def __init__(self, classifier: Classifier) -> None:
        super().__init__(copy.deepcopy(classifier.encoder.config))  # never touch the encoder's
        self.classifier = classifier

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **_):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "perturb_mask": attention_mask.bool(),
        }
        return SequenceClassifierOutput(logits=self.classifier(batch))


def stock_model_wrapper(model: Classifier) -> HuggingFaceModelWrapper:
    """TextAttack's own wrapper around ``model``: every query padded to the tokenizer's
    ``model_max_length`` (512 for MiniLM), capped at the encoder's position limit."""
    if model.spec.template is not None:
        raise UserError("the stock HuggingFaceModelWrapper cannot fill prompt templates.")
    tokenizer = model.tokenizer
    limit = getattr(model.encoder.config, "max_position_embeddings", tokenizer.model_max_length)
    if tokenizer.model_max_length > limit:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            tokenizer.name_or_path, model_max_length=limit
        )
    return HuggingFaceModelWrapper(ClassifierForSequenceClassification(model.eval()), tokenizer)


def comparable(result) -> tuple:
    """What must agree between two runs of one attack: outcome, adversarial text, queries."""
    return (components.outcome(result), result.perturbed_result.attacked_text.text)
