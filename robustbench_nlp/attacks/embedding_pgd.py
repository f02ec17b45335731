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
from pydantic import Field, field_validator, model_validator

from robustbench_nlp.attacks.base import Attack
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.measure.base import Work
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.model.perturbation import per_example_norm, project


def pgd_step_size(eps: float, steps: int, step_size: float | None = None) -> float:
    """The PGD step: ``step_size`` when given, else eps/4 (eps for a single step)."""
    if step_size is not None:
        return step_size
    return eps if steps == 1 else eps / 4


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
    version: ClassVar[int] = 3  # 3: the strength check attacks the ensemble eps only

    norm: Literal["l2", "linf"] = "l2"
    eps: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0], min_length=1)
    step_size: float | None = Field(None, gt=0, description="Default eps/4 (eps for 1 step).")
    steps: int = Field(10, ge=1)
    random_start: bool = True
    restarts: int = Field(
        1, ge=1, description="Random restarts; an example is robust only if every one fails."
    )
    ensemble_eps: float | None = Field(
        None,
        ge=0,
        description="The eps at which this attack joins the worst-case ensemble (one of eps; "
        "default: the smallest eps above 0).",
    )
    strength_check: bool = Field(
        False,
        description="Also attack at the ensemble eps with twice the steps and two more "
        "restarts, to reveal an evaluation the standard attack is too weak for (gradient "
        "masking).",
    )

    @field_validator("eps")
    @classmethod
    def _sorted_non_negative(cls, values: list[float]) -> list[float]:
        if any(v < 0 for v in values):
            raise ValueError("every eps must be >= 0")
        return sorted(set(values))

    @model_validator(mode="after")
    def _restarts_need_a_random_start(self) -> EmbeddingPGD:
        if self.restarts > 1 and not self.random_start:
            raise ValueError("restarts > 1 repeat the same attack without random_start: true")
        return self

    @model_validator(mode="after")
    def _ensemble_eps_is_swept(self) -> EmbeddingPGD:
        if self.ensemble_eps is not None and self.ensemble_eps not in self.eps:
            raise ValueError(f"ensemble_eps {self.ensemble_eps:g} is not one of eps {self.eps}")
        return self

    def ensemble_field(self) -> str | None:
        positive = [e for e in self.eps if e > 0]
        eps = self.ensemble_eps if self.ensemble_eps is not None else min(positive, default=None)
        return None if eps is None else _robust_key(eps)

    def step_for(self, eps: float, steps: int | None = None) -> float:
        return pgd_step_size(eps, steps or self.steps, self.step_size)

    def metrics(self, outcomes):
        metrics = [
            Metric("clean_accuracy", "clean", field="clean_correct", table="detail", role="other")
        ]
        for eps in self.eps:
            # eps 0 is the sanity column (it equals clean accuracy): shown, never scored.
            metrics.append(
                Metric(_robust_key(eps), f"ε={eps:g}", role="robust" if eps > 0 else "other")
            )
        if self.strength_check:
            steps, restarts = self.stronger()
            for eps in self.checked_eps():
                metrics.append(
                    Metric(
                        f"{STRONG}{_robust_key(eps)}",
                        f"ε={eps:g}",
                        table=f"detail:strength check ({steps} steps, {restarts} restarts)",
                        field=f"{STRONG}{_robust_key(eps)}",
                    )
                )
        return metrics

    def planned_work(self, n_examples: int) -> Work:
        """A clean forward, then per radius and restart ``steps`` forward+backward passes and
        a forward to check; the strength check the same at its radius."""
        backwards = len(self.eps) * self.restarts * self.steps
        forwards = 1 + len(self.eps) * self.restarts
        if self.strength_check:
            steps, restarts = self.stronger()
            backwards += len(self.checked_eps()) * restarts * steps
            forwards += len(self.checked_eps()) * restarts
        return Work(forwards=n_examples * forwards, backwards=n_examples * backwards)

    def stronger(self) -> tuple[int, int]:
        """(steps, restarts) of the strength check: twice the steps, two more restarts."""
        return 2 * self.steps, self.restarts + 2

    def measure(self, model, batch, context):
        if "generator" not in context.state:  # one seeded stream per cell, across its batches
            generator = torch.Generator(device=model.device).manual_seed(context.seed)
            context.state["generator"] = generator
        generator = context.state["generator"]
        inputs = model.tokenize(batch)
        labels = torch.tensor([e.label for e in batch], device=model.device)
        with torch.no_grad():
            clean = model(inputs).argmax(-1) == labels
        fields = {"clean_correct": clean.tolist()}
        fields.update(
            self._sweep(model, inputs, labels, clean, generator, self.steps, self.restarts)
        )
        if self.strength_check:
            steps, restarts = self.stronger()
            # The stronger attack must also beat the standard one's perturbations: an example
            # is robust to it only if both fail.
            strong = self._sweep(
                model, inputs, labels, clean, generator, steps, restarts, self.checked_eps()
            )
            for key, values in strong.items():
                standard = fields[key]
                fields[f"{STRONG}{key}"] = [a and b for a, b in zip(values, standard, strict=True)]
        return fields

    def checked_eps(self) -> list[float]:
        """The radius the strength check attacks again: the one at which this attack joins
        the worst-case ensemble, where the board's verdict is decided (checking every radius
        would cost (2 x steps) x (restarts + 2) passes per radius)."""
        field = self.ensemble_field()
        return [e for e in self.eps if field == _robust_key(e)]

    def _sweep(
        self, model, inputs, labels, clean, generator, steps: int, restarts: int, radii=None
    ) -> dict:
        """Per eps: still correct after every restart at this and every smaller eps of
        ``radii`` (default: the whole sweep)."""
        still_correct = clean.clone()
        fields = {}
        embeds = model.word_embeddings(inputs["input_ids"]).detach()
        for eps in self.eps if radii is None else radii:
            for _ in range(restarts):
                delta = pgd_delta(
                    model,
                    inputs,
                    labels,
                    eps,
                    self.norm,
                    self.step_for(eps, steps),
                    steps,
                    self.random_start,
                    generator,
                )
                with torch.no_grad():
                    fooled = model(inputs, inputs_embeds=embeds + delta).argmax(-1) != labels
                    still_correct &= ~fooled
            fields[_robust_key(eps)] = still_correct.tolist()
        return fields


#: Outcome fields and metrics of the strength check start with this.
STRONG = "strong:"


def _robust_key(eps: float) -> str:
    return f"robust_accuracy@eps={eps:g}"


class FGSM(EmbeddingPGD):
    """FGSM in word-embedding space: one signed/normalised gradient step of size eps."""

    steps: int = Field(1, ge=1, le=1)
    random_start: bool = False
