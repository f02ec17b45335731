"""FreeLB: free large-batch adversarial training (Zhu et al. 2020, "FreeLB: Enhanced Adversarial
Training for Natural Language Understanding", arXiv 1909.11764), as the authors' public
implementation does it (github.com/zhuchen03/FreeLB, ``huggingface-transformers/examples/
run_glue_freelb.py``; TextDefender's ``trainer/freelb.py`` is the same loop).

For a batch with word embeddings e, labels y and K = ``adv_steps``:

    delta_0 = U(-1, 1) * adv_init_mag / sqrt(n * H)    (l2: n perturbed tokens of the example,
            = U(-adv_init_mag, adv_init_mag)              H the hidden size; linf)
    for k = 1 .. K:
        L_k = CE(f(e + delta_{k-1}), y) / K              backward: parameter gradients add up
        if k < K:  g = dL_k / d delta
                   delta_k = delta_{k-1} + adv_lr * g / ||g||    (per example; linf: max |g|)
                   delta_k = projected onto ||delta|| <= adv_max_norm  (when adv_max_norm > 0)
    one optimiser step on sum_k grad L_k                 (gradient of the mean of the K losses)

So K forward/backward passes and K - 1 updates of delta per optimiser step; the parameters see
K adversarial batches at growing radii for the price of one step ("free"). ``fit`` runs with
``step_accumulates=True``: the step backpropagates L_1 .. L_{K-1} itself and returns L_K, whose
backward in ``fit`` adds the last pass, then gradients are clipped (norm 1.0, the reference's
``max_grad_norm``) and stepped once.

Choices the paper leaves open, stated here:

- delta lives on the user's tokens only (``perturb_mask``: never [CLS], [SEP], padding or
  template words); the reference perturbs every attended token, special ones included. For the
  same reason the l2 initial scale counts the perturbed tokens (n), the reference all attended
  ones, and the gradient is masked before it is normalised.
- Norms are per example over all of its perturbed tokens (``model/perturbation.py``), as the
  reference's (it flattens each example). Linf follows the reference too: the step divides the
  gradient by its largest absolute entry (not ``sign``), the projection clips each entry.
- No clean loss term: the loss is only the mean of the K adversarial losses, as the reference.
- Dropout is on in every ascent pass, with fresh masks each pass. The reference's ALBERT reuses
  the attention-probability dropout mask across the K passes but draws the hidden dropout
  afresh, and its launch scripts set attention dropout to 0 for most tasks, so there too every
  pass meets new masks.
- e is looked up again for every pass (not detached), so each pass also trains the embedding
  matrix, as the reference (which re-reads ``word_embeddings`` after each update).
- The random start draws from torch's global generator, which ``fit`` seeds with the seed:
  one seed, one training. With ``adv_init_mag`` 0 delta starts at zero and nothing is drawn.
- Defaults. The reference script's own argument defaults switch FreeLB off (``adv-lr`` 0,
  ``adv-steps`` 1, ``adv-init-mag`` 0, ``adv-max-norm`` 0); its launch script for ALBERT on GLUE
  (``launch/run_glue.sh``) sets per task K 2-4 (3 for most), adv_lr 0.03-0.2 (0.1 for SST-2,
  STS-B, RTE), adv_init_mag 0-0.6 (0.1 for QNLI, 0.6 for SST-2) and adv_max_norm 0 (unbounded)
  for all but QQP. Here: K 3, adv_lr 0.1, adv_init_mag 0.1, adv_max_norm 0. (TextDefender's
  defaults: K 5, adv_lr 0.03, adv_init_mag 0.05, adv_max_norm 0.) The training fields (lr,
  batch size, warmup, weight decay) are the ``Recipe``'s, as for every other recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.model.perturbation import per_example_norm, project
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.tasks.base import Example


def initial_delta(
    embeds: torch.Tensor, perturb_mask: torch.Tensor, magnitude: float, norm: str
) -> torch.Tensor:
    """FreeLB's random start (detached; zero outside ``perturb_mask``). Shapes: embeds (B, T, H),
    perturb_mask (B, T).

    - l2: ``U(-1, 1) * magnitude / sqrt(n * H)`` with n the example's perturbed tokens, so
      ``||delta_0|| ~ magnitude / sqrt(3)`` whatever the length;
    - linf: ``U(-magnitude, magnitude)`` per entry.
    """
    mask = perturb_mask.unsqueeze(-1).to(embeds.dtype)
    if magnitude == 0:
        return torch.zeros_like(embeds)
    if norm == "linf":
        return torch.zeros_like(embeds).uniform_(-magnitude, magnitude) * mask
    delta = torch.zeros_like(embeds).uniform_(-1, 1) * mask
    dims = perturb_mask.sum(1).clamp(min=1).to(embeds.dtype) * embeds.size(-1)
    return delta * (magnitude / torch.sqrt(dims)).view(-1, 1, 1)


def ascent_step(
    delta: torch.Tensor,
    grad: torch.Tensor,
    perturb_mask: torch.Tensor,
    lr: float,
    max_norm: float,
    norm: str,
) -> torch.Tensor:
    """One FreeLB update of delta (detached): ``delta + lr * g / ||g||`` per example over the
    perturbed tokens (linf: divided by the largest ``|g|``), then projected onto the
    ``max_norm`` ball when ``max_norm > 0`` (l2: rescaled if longer; linf: clipped)."""
    grad = grad.detach() * perturb_mask.unsqueeze(-1).to(grad.dtype)
    if norm == "linf":
        scale = grad.flatten(1).abs().amax(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    else:
        scale = per_example_norm(grad)
    delta = delta.detach() + lr * grad / scale
    return project(delta, max_norm, norm) if max_norm > 0 else delta


class FreeLB(Recipe):
    """FreeLB: K ascent steps on embedding noise, parameter gradients accumulated over all K."""

    adv_steps: int = Field(3, ge=1, description="Ascent steps K (forward/backward passes/batch).")
    adv_lr: float = Field(0.1, gt=0, description="Ascent step size (normalised gradient).")
    adv_init_mag: float = Field(0.1, ge=0, description="Random start magnitude (0: start at 0).")
    adv_max_norm: float = Field(0.0, ge=0, description="Projection radius (0: unbounded).")
    norm: Literal["l2", "linf"] = Field("l2", description="Norm of steps and projection.")

    def train(self, context: TrainContext) -> Classifier:
        model = self.build_classifier(context)
        self.fit(
            model,
            context.data.train,
            self.adversarial_step,
            context,
            "train",
            step_accumulates=True,
        )
        return model

    def adversarial_step(
        self, model: Classifier, examples: Sequence[Example]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Backpropagate L_1 .. L_{K-1} (each CE / K) and return L_K for ``fit`` to add; logs
        ``adv_ce``, the mean of the K adversarial CEs (the reference's logged loss)."""
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        mask = batch["perturb_mask"]
        embeds = model.word_embeddings(batch["input_ids"])
        delta = initial_delta(embeds.detach(), mask, self.adv_init_mag, self.norm)
        total = 0.0
        for k in range(self.adv_steps):
            last = k == self.adv_steps - 1
            delta.requires_grad_(not last)
            loss = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
            loss = loss / self.adv_steps
            total += loss.item()
            if last:
                break
            loss.backward()
            delta = ascent_step(delta, delta.grad, mask, self.adv_lr, self.adv_max_norm, self.norm)
            embeds = model.word_embeddings(batch["input_ids"])
        return loss, {"adv_ce": total}
