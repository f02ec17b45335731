"""PGD and FGSM in the word-embedding space (Madry et al. 2018, arXiv 1706.06083).

Text is discrete, so the perturbation delta is added to the word embeddings of the user's tokens
(``perturb_mask``: never [CLS]/[SEP], padding or prompt-template words). Norms are taken per
example over all of its perturbed tokens: ``||delta||_2 <= eps`` over (tokens x hidden), or
``|delta_ij| <= eps`` for Linf. Model in eval mode (no dropout) during the attack.

Example::

    attack = EmbeddingPGD(norm="l2", eps=[0.5, 1.0], step_size=0.25, steps=10)
    delta = pgd_delta(model, batch, labels, eps=1.0, norm="l2", step_size=0.25, steps=10)

Robust accuracy at eps counts an example as robust only if no perturbation found at this or any
smaller eps of the sweep fools the model: a point inside a smaller ball lies in every larger one,
so a stronger attacker can always reuse it. This makes the sweep monotone by construction; eps = 0
is the clean accuracy exactly.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.model.perturbation import per_example_norm, project


def pgd_delta(
    model: Classifier,
    batch: dict[str, torch.Tensor],
    labels: torch.Tensor,
    eps: float,
    norm: Literal["l2", "linf"] = "l2",
    step_size: float | None = None,
    steps: int = 10,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return delta maximising the cross-entropy of ``model`` within the eps-ball.

    Shapes: batch tensors (B, T); labels (B,); delta (B, T, H), zero outside ``perturb_mask``.
    """
    embeds = model.word_embeddings(batch["input_ids"]).detach()
    mask = batch["perturb_mask"].unsqueeze(-1).to(embeds.dtype)
    if eps == 0 or steps == 0:
        return torch.zeros_like(embeds)
    step_size = eps / 4 if step_size is None else step_size
    if random_start:
        noise = torch.empty_like(embeds).normal_(generator=generator) * mask
        if norm == "linf":
            delta = (
                torch.rand(embeds.shape, generator=generator, device=embeds.device) * 2 - 1
            ) * eps
        else:
            radius = (
                torch.rand(embeds.size(0), 1, 1, generator=generator, device=embeds.device) * eps
            )
            delta = noise / per_example_norm(noise) * radius
        delta = delta * mask
    else:
        delta = torch.zeros_like(embeds)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
        (grad,) = torch.autograd.grad(loss, delta)
        grad = grad * mask
        with torch.no_grad():
            if norm == "linf":
                delta = delta + step_size * grad.sign()
            else:
                delta = delta + step_size * grad / per_example_norm(grad)
            delta = project(delta, eps, norm) * mask
    return delta.detach()


class EmbeddingPGD(Attack):
    """PGD in word-embedding space (L2 or Linf) over an eps sweep: clean and robust accuracy."""

    #: 2: examples attacked in length order (``Measure.order``), so the seeded random starts
    #: fall on other examples than in version 1.
    version: ClassVar[int] = 2

    norm: Literal["l2", "linf"] = "l2"
    eps: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0], min_length=1)
    step_size: float | None = Field(None, gt=0, description="Default eps/4 (eps for 1 step).")
    steps: int = Field(10, ge=1)
    random_start: bool = True

    @field_validator("eps")
    @classmethod
    def _sorted_non_negative(cls, values: list[float]) -> list[float]:
        if any(v < 0 for v in values):
            raise ValueError("every eps must be >= 0")
        return sorted(set(values))

    def step_for(self, eps: float) -> float:
        if self.step_size is not None:
            return self.step_size
        return eps if self.steps == 1 else eps / 4

    def metrics(self, outcomes):
        metrics = [Metric("clean_accuracy", field="clean_correct", table="detail", role="other")]
        for eps in self.eps:
            # eps 0 is the sanity column (it equals clean accuracy): shown, never scored.
            metrics.append(
                Metric(_robust_key(eps), f"ε={eps:g}", role="robust" if eps > 0 else "other")
            )
        return metrics

    def measure(self, model, batch, context):
        if "generator" not in context.state:  # one seeded stream per cell, across its batches
            generator = torch.Generator(device=model.device).manual_seed(context.seed)
            context.state["generator"] = generator
        generator = context.state["generator"]
        inputs = model.tokenize(batch)
        labels = torch.tensor([e.label for e in batch], device=model.device)
        with torch.no_grad():
            still_correct = model(inputs).argmax(-1) == labels
        fields = {"clean_correct": still_correct.tolist()}
        for eps in self.eps:
            delta = pgd_delta(
                model,
                inputs,
                labels,
                eps,
                self.norm,
                self.step_for(eps),
                self.steps,
                self.random_start,
                generator,
            )
            with torch.no_grad():
                embeds = model.word_embeddings(inputs["input_ids"]) + delta
                still_correct &= model(inputs, inputs_embeds=embeds).argmax(-1) == labels
            fields[_robust_key(eps)] = still_correct.tolist()
        return fields


def _robust_key(eps: float) -> str:
    return f"robust_accuracy@eps={eps:g}"


class FGSM(EmbeddingPGD):
    """FGSM in word-embedding space: one signed/normalised gradient step of size eps."""

    steps: int = Field(1, ge=1, le=1)
    random_start: bool = False
