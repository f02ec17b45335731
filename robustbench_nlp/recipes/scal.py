"""SCAL: supervised contrastive adversarial learning (Miao et al. 2021, "Simple Contrastive
Representation Adversarial Learning for NLP Tasks", arXiv 2111.13301).

For a labelled batch x with word embeddings e and labels y:

    g     = d CE(f(e), y) / d e                    (one backward of the clean loss)
    delta = eps * g / ||g||                         (one ascent step, ||delta|| = eps)
    loss  = CE(f(e), y) + CE(f(e + delta), y) + lambda * InfoNCE(h(e), h(e + delta))

``h`` is the pooled sentence representation (``Classifier.represent``), ``f`` the head over it,
InfoNCE is ``contrastive.info_nce`` with in-batch negatives: row i's positive is its own
perturbed view, the other perturbed rows are its negatives.

Choices the paper leaves open, stated here:

- delta lives on the word embeddings of the user's tokens only (``perturb_mask``: no [CLS],
  [SEP], padding or template words); it is a constant (detached) in the training loss, so the
  perturbed pass trains the embedding matrix too (FGM style).
- The scope of the norm (``norm_scope``): ``batch`` (default) is the reference
  implementation's, bojone's keras FGM, which the SCAL blog post points to: the gradient with
  respect to the embedding matrix, normalised once over the whole batch
  (``||delta_matrix|| = eps``, so each example receives about ``eps / sqrt(batch_size)``);
  ``example`` normalises per example over its tokens (``||delta_i|| = eps``, about
  ``sqrt(batch_size)`` times stronger at the same eps; this project's choice before version 2).
  Special tokens get no row in either scope (the keras code perturbs their rows too).
- g comes from the clean pass itself: ``torch.autograd.grad(CE, e, retain_graph=True)`` asks
  for the input gradient only (no parameter gradients), and the clean graph is reused by the
  training loss, so a step costs one clean forward, one input-gradient backward, one perturbed
  forward and one backward of the sum.
- Dropout is on in both passes (independent masks), as in ordinary fine-tuning.
- No projection head: the contrastive term reads the same representation as the classifier.
- Defaults: ``eps`` 0.3 (middle of the paper's 0.1-0.5 sweep; sweep it with ``sweep:``),
  ``lam`` 1.0, ``temperature`` 0.05 (SimCSE's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe
from robustbench_nlp.recipes.contrastive import fgm_delta, info_nce
from robustbench_nlp.tasks.base import Example


class SCAL(Recipe):
    """Fine-tuning with CE on clean and eps-perturbed embeddings plus clean/perturbed InfoNCE."""

    version: ClassVar[int] = 2  # 2: norm_scope, default "batch" (the reference's FGM)

    eps: float = Field(0.3, ge=0, description="L2 radius of the perturbation (see norm_scope).")
    norm_scope: Literal["batch", "example"] = Field(
        "batch", description="Normalise over the batch's embedding matrix, or per example."
    )
    lam: float = Field(1.0, ge=0, description="Weight lambda of the InfoNCE term.")
    temperature: float = Field(0.05, gt=0, description="InfoNCE temperature tau.")

    def losses(self, model: Classifier, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """The three terms of the SCAL loss for one batch (tokenised once)."""
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        embeds = model.word_embeddings(batch["input_ids"])
        clean = model.represent(batch, embeds)
        ce_clean = F.cross_entropy(model.logits_from(clean), labels)
        (grad,) = torch.autograd.grad(ce_clean, embeds, retain_graph=True)
        delta = fgm_delta(
            grad, batch["perturb_mask"], self.eps, self.norm_scope, batch["input_ids"]
        )
        perturbed = model.represent(batch, embeds + delta)
        return {
            "ce": ce_clean,
            "ce_adv": F.cross_entropy(model.logits_from(perturbed), labels),
            "nce": info_nce(clean, perturbed, self.temperature),
        }

    def classification_loss(self, model, examples):
        terms = self.losses(model, examples)
        loss = terms["ce"] + terms["ce_adv"] + self.lam * terms["nce"]
        return loss, {key: value.item() for key, value in terms.items()}
