"""PGD adversarial training in word-embedding space (Madry et al. 2018, "Towards Deep Learning
Models Resistant to Adversarial Attacks", arXiv 1706.06083), as TextDefender's ``pgd`` trainer
(Li et al. 2021, "Searching for an Effective Defender: Benchmarking Defense against Adversarial
Word Substitution") uses it, on this project's embedding PGD.

For a batch with word embeddings e and labels y:

    delta = argmax_{||delta|| <= eps} CE(f(e + delta), y)     (inner max: ``pgd_delta``)
    loss  = CE(f(e + delta), y) + clean_weight * CE(f(e), y)  (outer min, one optimiser step)

The inner maximisation is exactly ``attacks.embedding_pgd.pgd_delta``, the attack the board
scores the ``pgd`` rows with: ``steps`` steps of size ``step_size`` (normalised gradient for l2,
sign for linf), projection onto the eps-ball per example over the user's tokens, optional
random start inside the ball. delta is a constant in the outer loss; e is looked up afresh
there (not detached), so the embedding matrix trains too.

Choices the papers leave open, stated here:

- The inner maximisation runs in eval mode (no dropout), then the model returns to the mode
  it was in (train, under ``fit``) for the outer pass, whose dropout is on as in ordinary
  fine-tuning. The attack thus climbs the loss of the model that will be evaluated, not of one
  dropout sample; this is also the mode ``pgd_delta`` runs in as an attack. TextDefender keeps
  the model in train mode for its ascent (its trainer never switches), and its ascent is
  FreeLB's (random start of magnitude 0.05, step 0.03, no projection by default), not Madry's.
- ``clean_weight`` 0 (default) is pure Madry and TextDefender's ``pgd`` ("for PGD-K, clean
  batch is not used when training"); > 0 adds the clean CE (a second forward pass with its own
  dropout mask), weighted, to the adversarial CE.
- Defaults: ``eps`` 0.25 and ``steps`` 5, the radius at which the sst2 suite's PGD-L2 joins
  the ensemble and its number of steps (training at the radius one is evaluated at, as Madry
  did); ``step_size`` eps/4 (eps for a single step, i.e. FGSM training), the attack's rule.
  TextDefender's ``pgd`` takes 5 steps of 0.03 from a 0.05 start, so its perturbations stay
  within about 0.2 of l2 norm per example.
- The random start draws from torch's global generator, which ``fit`` seeds with the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from robustbench_nlp.attacks.embedding_pgd import pgd_delta, pgd_step_size
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe
from robustbench_nlp.tasks.base import Example


class PGDAT(Recipe):
    """Madry's PGD adversarial training: CE on the embedding-PGD batch (+ optional clean CE)."""

    eps: float = Field(0.25, ge=0, description="Radius of the ball per example (see norm).")
    steps: int = Field(5, ge=1, description="PGD steps of the inner maximisation.")
    step_size: float | None = Field(None, gt=0, description="Default eps/4 (eps for 1 step).")
    norm: Literal["l2", "linf"] = "l2"
    random_start: bool = Field(True, description="Start at a random point of the ball.")
    clean_weight: float = Field(0.0, ge=0, description="Weight of the clean CE (0: pure Madry).")

    def perturbation(
        self, model: Classifier, batch: dict[str, torch.Tensor], labels: torch.Tensor
    ) -> torch.Tensor:
        """``pgd_delta`` in eval mode; the model's mode is restored afterwards."""
        was_training = model.training
        model.eval()
        try:
            return pgd_delta(
                model,
                batch,
                labels,
                self.eps,
                self.norm,
                pgd_step_size(self.eps, self.steps, self.step_size),
                self.steps,
                self.random_start,
            )
        finally:
            model.train(was_training)

    def classification_loss(
        self, model: Classifier, examples: Sequence[Example]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """CE on the PGD batch (+ clean_weight x clean CE); logs ``adv_ce`` (and ``ce``)."""
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        delta = self.perturbation(model, batch, labels)
        embeds = model.word_embeddings(batch["input_ids"])
        adversarial = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
        logs = {"adv_ce": adversarial.item()}
        if self.clean_weight == 0:
            return adversarial, logs
        clean = F.cross_entropy(model(batch), labels)
        logs["ce"] = clean.item()
        return adversarial + self.clean_weight * clean, logs
