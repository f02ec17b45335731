"""USCAL: unsupervised SCAL (Miao et al. 2021, "Simple Contrastive Representation Adversarial
Learning for NLP Tasks", arXiv 2111.13301), on top of unsupervised SimCSE (Gao et al. 2021).

Phase 1, on the task's training texts with labels ignored (see ``recipes/unsupervised.py``):
each sentence with word embeddings e is encoded twice with dropout on (SimCSE's positive pair,
both views in one encoder pass over the doubled batch), giving z1 = p(h(e)), z2 = p(h(e)) with
different dropout masks, where p is the projection (see below). Then

    g     = d InfoNCE(z1, z2) / d e           (through both views: e feeds both)
    delta = eps * g / ||g||                    (one ascent step, ||delta|| = eps)
    z3    = p(h(e + delta))                    (a third pass, dropout on)
    loss  = InfoNCE(z1, z2) + alpha * [InfoNCE(z1, z3) + InfoNCE(z2, z3)]

Phase 2 gives the encoder a classification head on the labelled task exactly as the baseline
does (``head: finetune``), or a linear probe (``head: linear``); see ``recipes/unsupervised.py``.

Choices the paper leaves open, stated here:

- "The gradient with respect to both views" is the gradient with respect to the shared word
  embeddings e, which both dropout views read: the sum of the two views' input gradients. It is
  taken with ``torch.autograd.grad(..., retain_graph=True)`` (input gradient only) and the graph
  of the two views is reused by the training loss.
- delta: only the user's tokens (``perturb_mask``), L2 norm per example over all of them
  (``attacks/embedding_pgd.py``'s norm), detached in the loss.
- InfoNCE is SimCSE's (``contrastive.info_nce``): cosine / tau, in-batch negatives, anchor first
  as written above (InfoNCE(a, b) takes a's rows as anchors and b's rows as candidates).
- Pooling is the recipe's ``pooling`` (default ``mean``, all-MiniLM-L6-v2's own pooling;
  SimCSE's BERT used ``cls``). ``projection``: SimCSE's MLP (dense + tanh) over the
  representation during phase 1 only (``mlp_only_train``); ``null`` follows SimCSE's rule, on
  for ``cls`` pooling and off for ``mean``.
- Defaults: ``eps`` 0.3 (middle of the paper's 0.1-0.5 sweep), ``alpha`` 0.5 (the paper only
  asks alpha < 1), ``temperature`` 0.05, ``unsup_lr`` 3e-5 and ``unsup_batch_size`` 64
  (SimCSE's unsupervised BERT-base settings).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import nn

from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.contrastive import fgm_delta, info_nce
from robustbench_nlp.recipes.unsupervised import UnsupervisedRecipe, doubled
from robustbench_nlp.tasks.base import Example


class USCAL(UnsupervisedRecipe):
    """SimCSE with an adversarial third view (eps-perturbed embeddings), then a head."""

    eps: float = Field(0.3, ge=0, description="L2 radius of the perturbation per example.")
    alpha: float = Field(0.5, ge=0, lt=1, description="Weight of the two adversarial terms.")
    projection: bool | None = Field(
        None, description="Phase-1 MLP over the representation (null: on for cls pooling)."
    )

    def uses_projection(self) -> bool:
        return self.pooling == "cls" if self.projection is None else self.projection

    def losses(
        self, model: Classifier, examples: Sequence[Example], project: nn.Module
    ) -> dict[str, torch.Tensor]:
        """The three InfoNCE terms of one batch (tokenised once)."""
        batch = model.tokenize(examples)
        embeds = model.word_embeddings(batch["input_ids"])
        views = project(model.represent(doubled(batch), torch.cat([embeds, embeds])))
        z1, z2 = views.chunk(2)
        simcse = info_nce(z1, z2, self.temperature)
        (grad,) = torch.autograd.grad(simcse, embeds, retain_graph=True)
        delta = fgm_delta(grad, batch["perturb_mask"], self.eps)
        z3 = project(model.represent(batch, embeds + delta))
        return {
            "simcse": simcse,
            "adv1": info_nce(z1, z3, self.temperature),
            "adv2": info_nce(z2, z3, self.temperature),
        }

    def unsupervised_step(self, view, project):
        def step(model: Classifier, examples: Sequence[Example]):
            terms = self.losses(model, examples, project)
            loss = terms["simcse"] + self.alpha * (terms["adv1"] + terms["adv2"])
            return loss, {key: value.item() for key, value in terms.items()}

        return step
