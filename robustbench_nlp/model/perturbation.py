"""Norm balls in word-embedding space, shared by embedding attacks and adversarial recipes."""

from __future__ import annotations

import torch


def per_example_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example's slice (all dims but the first), shaped to broadcast over ``x``."""
    return x.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (x.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project onto the eps-ball of the given norm (per example)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    scale = (eps / per_example_norm(delta)).clamp(max=1.0)
    return delta * scale
