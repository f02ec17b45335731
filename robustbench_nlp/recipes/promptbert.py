"""PromptBERT (Jiang et al. 2022, "PromptBERT: Improving BERT Sentence Embeddings with Prompts",
arXiv 2201.04337; code kongds/Prompt-BERT), unsupervised, then a classification head.

The sentence representation is the last hidden state at [MASK] in a template,
``This sentence : "[X]" means [MASK] .`` by default (``Classifier`` pooling ``mask``; the
template is tokenised piece by piece and only the sentence is ever truncated).

Phase 1, on the task's training texts with labels ignored (``recipes/unsupervised.py``): each
sentence is filled into ``template`` and into ``positive_template``
(``This sentence of "[X]" means [MASK] .``); the two [MASK] representations, dropout on, are
the positive pair of SimCSE's InfoNCE (``contrastive.info_nce``, anchor = ``template``,
in-batch negatives, temperature 0.05). With ``denoise`` (default on) each representation first
loses the [MASK] state of its own template filled with nothing, the positions after the
sentence shifted by the sentence length (``Classifier.template_state``, Prompt-BERT's
``get_delta``); as in Prompt-BERT's default that state is computed in the same pass mode, with
dropout and gradients. As in Prompt-BERT's unsupervised runs (``--mlp_only_train``), SimCSE's
MLP sits over the representation in phase 1 only (``projection``).

Phase 2 gives the encoder a classification head reading the [MASK] representation, exactly as
the baseline trains its head (``head: finetune``) or as a linear probe (``head: linear``).

Choices stated here:

- The representation used after training (classification head, ``sts``) is the ``template``
  [MASK] state, denoised when ``denoise`` is on (``ClassifierSpec.denoise``). Prompt-BERT's
  unsupervised BERT script evaluates without denoising and swaps the two templates (its
  evaluation template is ``... sentence of ...``); ours follow the paper's best manual template
  for BERT. Set ``denoise: false`` or swap the templates to reproduce the script.
- Sentence pairs (NLI, ``Example.pair`` the hypothesis): phase 1 treats premises and hypotheses
  as separate sentences in the single-sentence templates (a sentence-embedding objective);
  the head reads the [MASK] of ``pair_template``,
  ``This sentence : "[X]" and this sentence : "[Y]" mean [MASK] .``, the single-sentence
  prompt extended to two quoted sentences so that [MASK] keeps its trained role. Both sentences
  are user tokens (perturbed by attacks, truncated longest-first); denoising removes the
  template alone with positions shifted by both sentences. The checkpoint keeps ``template``
  as the model's sentence template, so STS scores single sentences with the template phase 1
  trained, never with the pair template.
- Defaults: ``unsup_lr`` 1e-5 (Prompt-BERT's unsupervised BERT), ``unsup_batch_size`` 64
  (theirs 256: memory and CPU time here), ``temperature`` 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.recipes.contrastive import info_nce
from robustbench_nlp.recipes.unsupervised import UnsupervisedRecipe
from robustbench_nlp.tasks.base import Example, Task

TEMPLATE = 'This sentence : "[X]" means [MASK] .'
POSITIVE_TEMPLATE = 'This sentence of "[X]" means [MASK] .'
PAIR_TEMPLATE = 'This sentence : "[X]" and this sentence : "[Y]" mean [MASK] .'


def check_template(template: str, placeholders: tuple[str, ...]) -> str:
    """A template must hold [MASK] and each placeholder exactly once, and no other one."""
    for token in ("[MASK]", "[X]", "[Y]"):
        expected = 1 if token == "[MASK]" or token in placeholders else 0
        if template.count(token) != expected:
            raise ValueError(
                f"{template!r} must contain {token} {'once' if expected else 'never'} "
                f"(placeholders here: {', '.join(placeholders)} and [MASK])"
            )
    return template


class PromptBERT(UnsupervisedRecipe):
    """[MASK]-in-template representation, contrastive between two templates, then a head."""

    version: ClassVar[int] = 2  # 2: a pair-task model keeps its sentence template for STS

    pooling: Literal["mask"] = "mask"
    template: str = Field(TEMPLATE, description="Representation template ([X], [MASK]).")
    positive_template: str = Field(POSITIVE_TEMPLATE, description="Template of the positive.")
    pair_template: str = Field(PAIR_TEMPLATE, description="Template for sentence pairs.")
    denoise: bool = Field(True, description="Subtract the template-only [MASK] state.")
    projection: bool = Field(True, description="SimCSE's MLP over the representation, phase 1.")
    unsup_lr: float = Field(1e-5, gt=0)

    @field_validator("template", "positive_template")
    @classmethod
    def _single(cls, template: str) -> str:
        return check_template(template, ("[X]",))

    @field_validator("pair_template")
    @classmethod
    def _pair(cls, template: str) -> str:
        return check_template(template, ("[X]", "[Y]"))

    def classifier_spec(self, task: Task) -> ClassifierSpec:
        return ClassifierSpec(
            num_labels=task.num_labels,
            pooling="mask",
            max_length=self.max_length,
            dropout=self.dropout,
            template=self.pair_template if task.is_pair else self.template,
            denoise=self.denoise,
            sentence_template=self.template if task.is_pair else None,
        )

    def uses_projection(self) -> bool:
        return self.projection

    def unsupervised_view(self, model: Classifier) -> Classifier:
        return with_template(model, self.template)

    def unsupervised_step(self, view, project):
        positive_view = with_template(view, self.positive_template)

        def step(model: Classifier, examples: Sequence[Example]):
            anchor = project(model.represent(model.tokenize(examples)))
            positive = project(positive_view.represent(positive_view.tokenize(examples)))
            loss = info_nce(anchor, positive, self.temperature)
            return loss, {"nce": loss.item()}

        return step


def with_template(model: Classifier, template: str) -> Classifier:
    """``model`` itself if it already uses ``template``, else a classifier sharing its encoder
    and tokenizer (no copy, no reload) that fills ``template`` instead."""
    if model.spec.template == template:
        return model
    view = Classifier(model.encoder, model.tokenizer, replace(model.spec, template=template))
    return view.to(model.device).train(model.training)
