"""The recipe contract and the one training loop every recipe shares.

A recipe is a plugin whose fields are its hyperparameters. ``train`` returns a ``Classifier``;
the default trains it end to end with ``classification_loss`` through ``fit``, so a recipe that
only changes the loss (SCAL) overrides ``classification_loss``, and one with an unsupervised phase
(USCAL, PromptBERT) runs ``fit`` twice with different step functions. A step function that
backpropagates several passes itself and wants their parameter gradients summed into one
optimiser step (FreeLB) asks ``fit`` for ``step_accumulates=True``.

``fit`` trains near the padding-free floor: its batches come from length buckets
(``bucketed_batches``: seeded, every example once per epoch) so that a batch carries little
padding, and it runs inside ``token_cache()``, so each example is tokenised once for the whole
fit and a step only pads and stacks its rows. Step functions keep their contract (model,
examples) -> (loss, logs) and call ``model.tokenize`` as before.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from transformers import get_linear_schedule_with_warmup

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.plugin import Plugin
from robustbench_nlp.core.progress import make_progress
from robustbench_nlp.model.backbones import Backbone
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec, token_cache
from robustbench_nlp.tasks.base import Example, Task, TaskData

Batch = dict[str, torch.Tensor]
#: A step function: (model, examples of one batch) -> (loss to minimise, numbers to log).
StepFn = Callable[[Classifier, Sequence[Example]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainContext:
    """What the runner hands a recipe."""

    task: Task
    data: TaskData
    backbone: Backbone
    seed: int
    device: str = "cpu"
    #: Filled by the recipe: numbers worth keeping in the record (final loss, steps, ...).
    logs: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient) of a training step is not a finite number: whatever the model
    became, its scores cannot be trusted, so its cells fail instead of being recorded."""


def check_finite(model: Classifier, where: str) -> None:
    """Fail if any weight of ``model`` is NaN or infinite (``where`` names the phase)."""
    for name, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter).all()):
            raise TrainingDiverged(f"{where}: weight {name} is not finite after training.")


#: Batches per length bucket in ``bucketed_batches``: large enough that a bucket spans the
#: common lengths (little padding), small enough that batches still mix the training set.
BUCKET_BATCHES = 50


def bucketed_batches(
    lengths: Sequence[int],
    batch_size: int,
    rng: random.Random,
    bucket_batches: int = BUCKET_BATCHES,
) -> list[list[int]]:
    """One epoch of batches (indices into ``lengths``) that carry little padding.

    1. shuffle all indices with ``rng``;
    2. cut the shuffled order into buckets of ``bucket_batches * batch_size`` indices;
    3. sort each bucket by length (stable: equal lengths keep their shuffled order) and cut it
       into batches of ``batch_size``; only the last bucket's last batch may be smaller;
    4. shuffle the order of all the batches with ``rng``.

    Every index is in exactly one batch; the batches depend only on ``lengths``, the sizes and
    the state of ``rng`` (a seeded ``random.Random``), so a seed gives the same epochs on every
    run and machine; consecutive calls with one generator give different epochs.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    bucket = max(1, bucket_batches) * batch_size
    batches = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class RecipeBase(Plugin):
    """What the runner asks of every recipe: a ``Classifier`` for (task, data, seed).

    ``Recipe`` below trains one; a recipe that brings a model made elsewhere
    (``hf_classifier``) subclasses this directly, so it carries none of the training fields.
    """

    kind: ClassVar[str] = "recipe"

    def preflight(self, task: Task, seed: int) -> dict[str, str]:
        """Check, before any training, every file this recipe will read for ``seed`` (raise
        ``UserError`` naming the file and the fix), and return what of those files belongs to
        the identity of its checkpoint besides its parameters (e.g. a fingerprint of a model's
        weight files); ``{}`` when it reads none (the checkpoint key is then as before)."""
        return {}

    def notes(self) -> list[str]:
        """Things a reader of every record this recipe makes must know (shown on the board)."""
        return []

    def train(self, context: TrainContext) -> Classifier:
        raise NotImplementedError

    def planned_steps(self, data: TaskData) -> dict[str, int]:
        """Optimiser steps per training phase (``context.logs`` names) that ``train`` will take
        on ``data``, for ``robustbench-nlp plan``; {} for a recipe that trains nothing."""
        return {}

    def shortened(self, steps: int) -> RecipeBase:
        """This recipe stopping every phase after ``steps`` steps (``plan``'s calibration)."""
        return self


class Recipe(RecipeBase):
    """Base: fine-tune encoder + linear head with cross-entropy."""

    #: 2: length-bucketed batches, every example once per epoch (was: shuffled, last dropped).
    version: ClassVar[int] = 2

    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, gt=0, description="Stop after this many steps.")
    batch_size: int = Field(32, ge=2)
    lr: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_length: int = Field(64, ge=8)
    pooling: Literal["cls", "mean"] = "mean"
    dropout: float = Field(0.1, ge=0, lt=1)

    def planned_steps(self, data: TaskData) -> dict[str, int]:
        return {"train": self.steps_for(len(data.train))}

    def steps_for(self, n_examples: int) -> int:
        """The steps of one ``fit`` over ``n_examples`` (as ``fit`` counts them)."""
        total = math.ceil(n_examples / self.batch_size) * self.epochs
        return total if self.max_steps is None else min(total, self.max_steps)

    def shortened(self, steps: int) -> Recipe:
        return self.model_copy(update={"max_steps": steps})

    def classifier_spec(self, task: Task) -> ClassifierSpec:
        return ClassifierSpec(
            num_labels=task.num_labels,
            pooling=self.pooling,
            max_length=self.max_length,
            dropout=self.dropout,
        )

    def build_classifier(self, context: TrainContext) -> Classifier:
        seed_everything(context.seed)
        encoder = context.backbone.load_encoder(seed=context.seed)
        spec = self.classifier_spec(context.task)
        model = Classifier(encoder, context.backbone.load_tokenizer(), spec)
        return model.to(context.device)

    def train(self, context: TrainContext) -> Classifier:
        model = self.build_classifier(context)
        self.fit(model, context.data.train, self.classification_loss, context, "train")
        return model

    def classification_loss(
        self, model: Classifier, examples: Sequence[Example]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        loss = F.cross_entropy(model(batch), labels)
        return loss, {"ce": loss.item()}

    def fit(
        self,
        model: Classifier,
        examples: Sequence[Example],
        step: StepFn,
        context: TrainContext,
        phase: str,
        lr: float | None = None,
        step_accumulates: bool = False,
        epoch_extra: Callable[[int], Sequence[Example]] | None = None,
        total_steps: int | None = None,
    ) -> None:
        """AdamW with linear warmup/decay over length-bucketed batches (``bucketed_batches``,
        seeded by ``context.seed``; every example once per epoch, the last batch of an epoch
        may be smaller), each example tokenised once (``token_cache``); logs the phase's last
        losses.

        ``step_accumulates``: ``step`` backpropagates part of its loss itself and the returned
        loss's gradient must add to those (FreeLB's K ascent passes, one optimiser step); the
        gradients are then zeroed before ``step`` runs instead of after it. The default keeps
        the order of operations every other recipe's checkpoints were trained with.

        ``epoch_extra``: examples that change from epoch to epoch (A2T's adversarial examples
        of the current model), in the same run (one optimiser, one schedule). Before each of
        ``self.epochs`` epochs (until ``max_steps``) it is called with the epoch's index
        (0-based), outside the token cache, and that epoch trains on ``examples`` plus what it
        returns; each epoch's rows are tokenised once. ``total_steps`` is then the length of
        the schedule (before ``max_steps``; default: as without ``epoch_extra``); when the
        epochs turn out shorter, training ends after ``self.epochs`` epochs all the same. Without
        ``epoch_extra`` nothing changes."""
        if not examples:
            raise UserError(f"{self.plugin_name or self.kind} {phase}: no examples to train on.")
        seed_everything(context.seed)
        order = random.Random(context.seed)
        examples = list(examples)
        batches_per_epoch = math.ceil(len(examples) / self.batch_size)
        total = batches_per_epoch * self.epochs
        if epoch_extra is not None and total_steps is not None:
            total = total_steps
        if self.max_steps is not None:
            total = min(total, self.max_steps)
        decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "LayerNorm" not in n]
        no_decay = [
            p for n, p in model.named_parameters() if not (p.ndim > 1 and "LayerNorm" not in n)
        ]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=lr or self.lr,
        )
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(self.warmup_ratio * total), total
        )
        model.train()
        started, done, last = time.perf_counter(), 0, {}
        bar = make_progress(
            total, f"{self.plugin_name or self.kind} {phase} seed={context.seed}", unit="step"
        )

        def run_epoch(rows: list[Example], lengths: list[int]) -> None:
            """One epoch over ``rows`` (stopping at ``total`` steps)."""
            nonlocal done, last
            for batch in bucketed_batches(lengths, self.batch_size, order):
                if step_accumulates:
                    optimizer.zero_grad(set_to_none=True)
                loss, last = step(model, [rows[i] for i in batch])
                where = f"{phase} step {done + 1} of {total} (lr {lr or self.lr:g})"
                if not bool(torch.isfinite(loss.detach()).all()):
                    bar.close()
                    raise TrainingDiverged(
                        f"{where}: the loss is {loss.item()}; training diverged: lower the "
                        "learning rate, or check the data and the recipe's parameters."
                    )
                if not step_accumulates:
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                if not bool(torch.isfinite(norm)):
                    bar.close()
                    raise TrainingDiverged(
                        f"{where}: the gradient norm is {norm.item()}; training diverged: "
                        "lower the learning rate, or check the data and the recipe's "
                        "parameters."
                    )
                optimizer.step()
                scheduler.step()
                done += 1
                bar.update()
                bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()}, refresh=False)
                if done >= total:
                    break

        if epoch_extra is None:
            with token_cache():
                lengths = model.token_lengths(examples)
                while done < total:
                    run_epoch(examples, lengths)
        else:
            for epoch in range(self.epochs):
                if done >= total:
                    break
                rows = examples + list(epoch_extra(epoch))
                model.train()
                with token_cache():
                    run_epoch(rows, model.token_lengths(rows))
        bar.close()
        model.eval()
        context.logs[phase] = {
            "steps": done,
            "seconds": round(time.perf_counter() - started, 2),
            **{f"last_{k}": round(v, 5) for k, v in last.items()},
        }
