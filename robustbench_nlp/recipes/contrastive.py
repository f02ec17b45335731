"""Building blocks shared by the contrastive recipes (SCAL, USCAL, PromptBERT).

- ``info_nce``: the InfoNCE / NT-Xent loss of SimCSE (Gao et al. 2021, arXiv 2104.08821): cosine
  similarity of every anchor with every candidate divided by a temperature, cross-entropy against
  the diagonal, so the other rows of the batch are the negatives (in-batch negatives).
- ``fgm_delta``: one normalised gradient-ascent step in word-embedding space,
  ``delta = eps * g / ||g||`` with the norm taken per example over its perturbed tokens (the
  norm of ``attacks/embedding_pgd.py``), zero outside ``perturb_mask``.
- ``projection_head``: SimCSE's MLP (dense + tanh) over the sentence representation, attached to
  the model for a contrastive phase only and removed afterwards (SimCSE's ``mlp_only_train``).
- ``unlabelled_sentences``: a task's training texts as an unlabelled sentence set.

Nothing here trains or tokenises; the recipes own their loops (``Recipe.fit``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from robustbench_nlp.model.perturbation import per_example_norm
from robustbench_nlp.tasks.base import Example


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows i of ``-log softmax_j(cos(anchor_i, positive_j) / temperature)[i]``.

    Shapes: anchor and positive (B, H); row i of ``positive`` is the positive of row i of
    ``anchor`` and every other row is a negative. Not symmetric (as in SimCSE).
    """
    similarity = F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T / temperature
    targets = torch.arange(similarity.size(0), device=similarity.device)
    return F.cross_entropy(similarity, targets)


def fgm_delta(
    grad: torch.Tensor,
    perturb_mask: torch.Tensor,
    eps: float,
    scope: str = "example",
    input_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """One normalised gradient-ascent step on the word embeddings (detached; zero on tokens
    outside ``perturb_mask``). Shapes: grad (B, T, H), perturb_mask and input_ids (B, T).

    - ``scope="example"``: ``eps * g / ||g||`` per example over its perturbed tokens, so
      ``||delta|| = eps`` for every example with a non-zero gradient.
    - ``scope="batch"``: the fast gradient method of bojone's ``keras_adversarial_training``
      (the reference SCAL points to): the gradient with respect to the embedding *matrix* (each
      vocabulary row the sum of the gradients at that token's occurrences in the batch),
      normalised once over the whole matrix, ``||delta_matrix||_F = eps``; every occurrence of a
      token receives its row. Each example thus gets roughly ``eps / sqrt(batch)``.
    """
    mask = perturb_mask.bool()
    masked = grad.detach() * mask.unsqueeze(-1).to(grad.dtype)
    if scope == "example":
        return eps * masked / per_example_norm(masked)
    if scope != "batch":
        raise ValueError(f"scope must be 'example' or 'batch', not {scope!r}")
    if input_ids is None:
        raise ValueError("scope 'batch' needs the input ids (rows of the embedding matrix)")
    ids, vectors = input_ids[mask], masked[mask]
    rows, inverse = torch.unique(ids, return_inverse=True)
    matrix = torch.zeros(len(rows), grad.size(-1), dtype=grad.dtype, device=grad.device)
    matrix.index_add_(0, inverse, vectors)
    matrix = eps * matrix / matrix.norm().clamp(min=1e-12)
    delta = torch.zeros_like(masked)
    delta[mask] = matrix[inverse]
    return delta


class ProjectionHead(nn.Module):
    """SimCSE's ``MLPLayer``: dense (hidden -> hidden) + tanh, BERT's initialisation."""

    def __init__(self, hidden: int, initializer_range: float = 0.02) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        nn.init.normal_(self.dense.weight, std=initializer_range)
        nn.init.zeros_(self.dense.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(features))


@contextmanager
def projection_head(model: nn.Module, enabled: bool) -> Iterator[nn.Module]:
    """Attach a fresh ``ProjectionHead`` as ``model.projection`` (so ``Recipe.fit`` optimises it)
    for the duration of the block, then remove it: checkpoints never contain it. Yields the head,
    or ``nn.Identity()`` when ``enabled`` is False."""
    if not enabled:
        yield nn.Identity()
        return
    config = model.encoder.config
    head = ProjectionHead(config.hidden_size, getattr(config, "initializer_range", 0.02))
    model.add_module("projection", head.to(model.device))
    try:
        yield head
    finally:
        delattr(model, "projection")


def unlabelled_sentences(examples: Sequence[Example]) -> list[Example]:
    """Every distinct text of ``examples`` (premises and hypotheses as separate sentences), in
    first-seen order, with label 0. Duplicates are dropped so that a sentence never meets itself
    as an in-batch negative (SNLI repeats each premise three times)."""
    seen: dict[str, None] = {}
    for example in examples:
        seen.setdefault(example.text, None)
        if example.pair is not None:
            seen.setdefault(example.pair, None)
    return [Example(text, 0) for text in seen]
