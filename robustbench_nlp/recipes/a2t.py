"""A2T, Attacking to Training (Yoo & Qi 2021, "Towards Improving Adversarial Training of NLP
Models", Findings of EMNLP 2021, arXiv 2109.00544): vanilla adversarial training with a cheap
word-substitution attack. Public code: github.com/QData/TextAttack-A2T (``train.py``: it only
runs TextAttack's ``Trainer``), TextAttack's ``textattack/attack_recipes/a2t_yoo_2021.py`` (the
attack) and ``textattack/trainer.py`` (the loop: ``num_epochs``, ``num_clean_epochs``,
``num_train_adv_examples``, ``attack_epoch_interval``, ``alpha``).

With n training examples and k = ceil(``attack_fraction`` x n):

    epochs 1 .. clean_epochs:  CE on the training set
    every later epoch e:       if (e - clean_epochs - 1) % attack_epoch_interval == 0:
                                   the current model attacks k training examples with A2T
                                   (a new seeded random subset each time)
                                   and e trains on the training set + the successful ones
                               else: CE on the training set alone

The attack is ``attacks.textattack.recipes.A2TAttack`` (TextAttack's ``A2TYoo2021``, ``mlm``
off, with the offline substitutes): counter-fitted synonym swaps (``max_candidates`` 20, word
cosine >= 0.8), WordNet part of speech (nouns and verbs apart), at most max(ceil(10% of the
words), 4) words changed, no stopword, the MiniLM sentence-similarity check, words ranked by
the gradient of the loss at their word embeddings (``FastModelWrapper.get_grad``). Generation
runs through ``WordAttack.attack_examples``: sharded over ``workers`` processes as the attack
cells are, one progress bar per generation, every example attacked from its own seed.

Choices the paper leaves open, taken from the public code (or stated where they differ):

- One training run: one AdamW optimiser and one linear warmup/decay schedule over all epochs
  (``Recipe.fit`` with ``epoch_extra``), as TextAttack's ``Trainer``. ``epochs`` counts every
  epoch, the clean ones included (TextAttack's ``num_epochs``); defaults 4 epochs, 1 of them
  clean, and ``attack_fraction`` 0.2: the A2T repository's training command (``--num-epochs 4
  --num-clean-epochs 1 --num-adv-examples 0.2``; the paper's gamma = 20%). TextAttack's own
  defaults are 3 epochs, 1 clean, and every example (-1). The other training fields are the
  ``Recipe``'s, as for every recipe here (A2T: batch 8, lr 5e-5, 100 warmup steps); unlike
  TextAttack's ``Trainer``, ``fit`` clips the gradient norm at 1.
- The schedule is planned for n + k examples in each generating epoch, the length TextAttack
  plans (``len(train_dataset) + num_train_adv_examples``; given a fraction, its code adds the
  fraction itself, not k); when fewer than k attacks succeed the epoch is shorter and the
  learning rate ends above 0.
- k is rounded up, as TextAttack does (``math.ceil``), without float noise (0.1 x 30 is 3).
- Which examples. TextAttack's ``Attacker`` shuffles the training set and attacks from its start
  until ``num_train_adv_examples`` attacks have *succeeded* (or the set runs out). By default
  here exactly k examples are attacked, the first k of a permutation seeded by (seed, epoch), so
  an epoch's generation cost is fixed; ``until_successful`` restores TextAttack's count: the
  permutation is attacked in order until k succeed, cut at the k-th success whatever the
  chunking or the number of workers.
- Only successful attacks are added (TextAttack keeps ``SuccessfulAttackResult`` and
  ``MaximizedAttackResult``, which an untargeted classification goal never gives): failed
  ones, skipped ones (the model was already wrong) and those out of queries are dropped. An
  adversarial example keeps its original's label (``ground_truth_output``); NLI pairs are
  attacked in the hypothesis only (the 10% of ``MaxModificationRate`` counts the words of both
  sentences, as TextAttack's). The adversarial examples are concatenated to the clean set
  and shuffled with it into the epoch's batches (TextAttack's ``ConcatDataset``).
- Query budget 200 per attacked example (``query_budget``): A2T's ``train.py`` sets
  ``query_budget_train=200``; the ``a2t`` attack plugin, like TextAttack's recipe, has none.
- Epochs between generations (``attack_epoch_interval`` > 1) train on the clean set alone, as
  TextAttack's loop does (its ``adv_dataset`` is None there).
- ``adv_weight`` is TextAttack's ``alpha``: the batch loss is mean_i(w_i CE_i) with w_i = alpha
  on adversarial examples and 1 on clean ones (the mean over the batch, not over the weights).
- The attacked model is the current one in eval mode (TextAttack calls ``model.eval()`` before
  generating; its ``get_grad`` switches to train mode for the gradient, and so does ours).
  Generation leaves the training's random state untouched (saved and restored), so the trained
  model does not depend on ``workers``.
- The sentence encoder: SBERT ``stsb-distilbert-base`` at cosine 0.9 becomes MiniLM at the
  cosine that accepts the same share of STS-B dev pairs as a gold score of 5 x 0.9 = 4.5 (8.5%:
  0.912), the rule ``resources/similarity.py`` applies to every recipe's threshold; it is apt
  here, as that SBERT was trained to give cosine = gold / 5.
- ``robustbench-nlp plan`` counts the training steps (its calibration runs generate nothing);
  generation time is not estimated.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from robustbench_nlp.attacks.textattack.recipes import A2TAttack
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.progress import make_progress
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.resources.layout import fingerprint, require
from robustbench_nlp.tasks.base import Example, Task, TaskData

#: The tag that marks an adversarial training example (its value: the original's id).
ADVERSARIAL_TAG = "adversarial_of"


def attack_count(n: int, fraction: float) -> int:
    """k = ceil(fraction x n), ignoring float noise (0.1 x 30 is 3, not 4)."""
    return min(n, math.ceil(round(fraction * n, 9)))


def generation_seed(seed: int, epoch: int) -> int:
    """The seed of one generation: of its subset and of its examples' attacks."""
    return int(stable_hash(["a2t", seed, epoch], length=8), 16)


def attack_order(n: int, seed: int, epoch: int) -> list[int]:
    """The seeded permutation of the training indices that epoch ``epoch`` attacks from."""
    order = list(range(n))
    random.Random(generation_seed(seed, epoch)).shuffle(order)
    return order


def is_adversarial(example: Example) -> bool:
    return any(key == ADVERSARIAL_TAG for key, _ in example.tags)


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Python's, numpy's and torch's global random states as they were before the block (the
    attack seeds them per example in this process, not in worker processes)."""
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class A2T(Recipe):
    """A2T (Yoo & Qi 2021): clean epochs, then CE on clean plus A2T adversarial examples."""

    epochs: int = Field(4, ge=1, description="All epochs, the clean ones included.")
    clean_epochs: int = Field(1, ge=0, description="Plain CE epochs before adversarial training.")
    attack_fraction: float = Field(
        0.2, gt=0, le=1, description="Share of the training set attacked per generation (ceil)."
    )
    until_successful: bool = Field(
        False, description="Attack until that many succeed (TextAttack's count), not that many."
    )
    attack_epoch_interval: int = Field(
        1, ge=1, description="Generate every N adversarial epochs (clean CE in between)."
    )
    adv_weight: float = Field(1.0, ge=0, description="Weight alpha of the adversarial CE.")
    max_candidates: int = Field(20, ge=1, description="Nearest neighbours tried per word.")
    similarity_threshold: float | None = Field(
        None, description="MiniLM cosine; default: SBERT's 0.9 mapped on STS-B dev."
    )
    query_budget: int | None = Field(
        200, gt=0, description="Most model queries per attacked example (A2T's 200)."
    )
    workers: int = Field(1, ge=1, description="Processes the attacked examples are sharded across.")
    attack_batch_size: int = Field(32, ge=1, description="Model queries per attack forward pass.")

    @model_validator(mode="after")
    def _clean_epochs_fit(self) -> A2T:
        if self.clean_epochs > self.epochs:
            raise ValueError(
                f"clean_epochs ({self.clean_epochs}) cannot exceed epochs ({self.epochs})"
            )
        return self

    def preflight(self, task: Task, seed: int) -> dict[str, str]:
        """The attack's offline resources; their content is part of the checkpoint's identity
        (the adversarial examples, hence the model, depend on it)."""
        require(*A2TAttack.needs)
        return {"resources": fingerprint(*A2TAttack.needs)}

    def attack(self) -> A2TAttack:
        return A2TAttack(
            batch_size=self.attack_batch_size,
            workers=self.workers,
            query_budget=self.query_budget,
            max_candidates=self.max_candidates,
            similarity_threshold=self.similarity_threshold,
        )

    def generates(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) attacks the model (TextAttack's rule)."""
        return (
            epoch >= self.clean_epochs
            and (epoch - self.clean_epochs) % self.attack_epoch_interval == 0
        )

    def total_steps(self, n_examples: int) -> int:
        """The schedule's length: n + k examples in each generating epoch, n in the others."""
        k = attack_count(n_examples, self.attack_fraction)
        return sum(
            math.ceil((n_examples + (k if self.generates(e) else 0)) / self.batch_size)
            for e in range(self.epochs)
        )

    def planned_steps(self, data: TaskData) -> dict[str, int]:
        total = self.total_steps(len(data.train))
        return {"train": total if self.max_steps is None else min(total, self.max_steps)}

    def shortened(self, steps: int) -> A2T:
        """``plan``'s calibration times training steps only: no epoch of the copy generates."""
        return self.model_copy(update={"max_steps": steps, "clean_epochs": self.epochs})

    def train(self, context: TrainContext) -> Classifier:
        model = self.build_classifier(context)
        train = list(context.data.train)
        generations: list[dict] = []

        def extra(epoch: int) -> list[Example]:
            if not self.generates(epoch):
                return []
            examples, log = self.adversarial_examples(model, train, context.seed, epoch)
            generations.append(log)
            return examples

        self.fit(
            model,
            train,
            self.weighted_loss,
            context,
            "train",
            epoch_extra=extra,
            total_steps=self.total_steps(len(train)),
        )
        context.logs["a2t"] = {
            "attacked": sum(g["attacked"] for g in generations),
            "succeeded": sum(g["succeeded"] for g in generations),
            "generation_seconds": round(sum(g["seconds"] for g in generations), 2),
            "generations": generations,
        }
        return model

    def adversarial_examples(
        self, model: Classifier, train: Sequence[Example], seed: int, epoch: int
    ) -> tuple[list[Example], dict]:
        """The successful A2T adversarial examples of the model for epoch ``epoch`` (0-based),
        labelled as their originals and tagged ``ADVERSARIAL_TAG``, and the generation's log
        (epoch 1-based, attacked, succeeded, outcomes, seconds, forwards). The model's mode and
        the global random state are as they were afterwards."""
        k = attack_count(len(train), self.attack_fraction)
        order = attack_order(len(train), seed, epoch)
        rows = [train[i] for i in (order if self.until_successful else order[:k])]
        unit = "successes" if self.until_successful else "ex"
        bar = make_progress(k, f"a2t attack epoch {epoch + 1} seed={seed}", unit=unit)
        succeeded = 0

        def each_chunk(results: list[dict]) -> bool:
            nonlocal succeeded
            hits = sum(r["result"] == "successful" for r in results)
            if self.until_successful:
                bar.update(min(hits, k - succeeded))
            else:
                bar.update(len(results))
            succeeded += hits
            bar.set_postfix({"succeeded": succeeded}, refresh=False)
            return self.until_successful and succeeded >= k

        started = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            with preserved_rng():
                results, forwards = self.attack().attack_examples(
                    model, rows, generation_seed(seed, epoch), each_chunk=each_chunk
                )
        finally:
            bar.close()
            model.train(was_training)
        if self.until_successful:
            results = _through_kth_success(results, k)
        adversarial = [
            _adversarial(row, result["adversarial"])
            for row, result in zip(rows, results, strict=False)
            if result["result"] == "successful"
        ]
        log = {
            "epoch": epoch + 1,
            "attacked": len(results),
            "succeeded": len(adversarial),
            "outcomes": dict(sorted(Counter(r["result"] for r in results).items())),
            "seconds": round(time.perf_counter() - started, 2),
            "forwards": forwards,
        }
        return adversarial, log

    def weighted_loss(
        self, model: Classifier, examples: Sequence[Example]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """CE, the adversarial examples' weighted by ``adv_weight`` (TextAttack's ``alpha``):
        mean_i(w_i CE_i); the plain mean CE when every weight is 1."""
        weights = [self.adv_weight if is_adversarial(e) else 1.0 for e in examples]
        if all(w == 1.0 for w in weights):
            return self.classification_loss(model, examples)
        batch = model.tokenize(examples)
        labels = torch.tensor([e.label for e in examples], device=model.device)
        losses = F.cross_entropy(model(batch), labels, reduction="none")
        loss = (losses * torch.tensor(weights, device=losses.device, dtype=losses.dtype)).mean()
        return loss, {"ce": loss.item()}


def _adversarial(original: Example, text: str) -> Example:
    tags = (*original.tags, (ADVERSARIAL_TAG, original.id))
    if original.pair is None:
        return Example(text, original.label, tags=tags)
    return Example(original.text, original.label, text, tags=tags)


def _through_kth_success(results: list[dict], k: int) -> list[dict]:
    """The results up to the k-th successful one (all of them when fewer succeeded)."""
    kept, hits = [], 0
    for result in results:
        kept.append(result)
        hits += result["result"] == "successful"
        if hits >= k:
            break
    return kept
