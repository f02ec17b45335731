"""SAFER training (Ye, Gong & Liu 2020, "SAFER: A Structure-free Approach for Certified
Robustness to Adversarial Word Substitutions", arXiv 2005.14424; public code
github.com/lushleaf/Structure-free-certified-NLP, ``train.py`` and ``data_util.py``
``WordSubstitude``; TextDefender's ``trainer/safer.py`` is the same loop): fine-tuning with
cross-entropy on randomly substituted texts, so that the base classifier is accurate under the
random substitutions its smoothed classifier votes over.

Each training step replaces every word of every example of the batch by a uniform draw from its
perturbation set (``resources.perturbation_sets``: the synonym graph of the offline
counter-fitted MiniLM space at cosine ``similarity_threshold``, sets of at most ``set_size``
words), then takes the CE of the substituted batch. Prediction by majority vote over random
substitutions, and the certificate, are the ``certify`` evaluation's: give it the same
``similarity_threshold`` and ``set_size`` so that it votes over the substitutions this model was
trained on.

Choices, stated:

- A new substitution every step (every epoch sees new ones), drawn from a generator seeded by
  the seed, as TextDefender's trainer perturbs each batch; the public code's ``WordSubstitude``
  draws from numpy's global generator the same way. No clean CE term is added (as both).
- NLI pairs: only the hypothesis is substituted, the column the attacks and ``certify`` perturb.
- The board's empirical attack columns attack the base classifier f, as for every other recipe
  (one forward pass per query); only ``certify`` reports the smoothed classifier. Attacking the
  smoothed classifier itself would cost ``samples`` forwards per query.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pydantic import Field

from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.resources.layout import require
from robustbench_nlp.tasks.base import Example, Task


class SAFER(Recipe):
    """SAFER: fine-tuning on random synonym substitutions (certify with the same sets)."""

    similarity_threshold: float = Field(
        0.8, gt=-1, le=1, description="Cosine of a synonym (edge of the synonym graph)."
    )
    set_size: int = Field(100, ge=1, description="Largest perturbation set K per word.")

    def preflight(self, task: Task, seed: int) -> dict[str, str]:
        require("synonyms")
        return {}

    def notes(self) -> list[str]:
        return [
            "safer: the attack columns attack the base classifier (trained on random "
            "substitutions); the certify column reports its smoothed (majority-vote) classifier."
        ]

    def train(self, context: TrainContext) -> Classifier:
        from robustbench_nlp.resources.perturbation_sets import shared_sets

        sets = shared_sets(self.similarity_threshold, self.set_size)
        rng = np.random.default_rng(context.seed)
        model = self.build_classifier(context)

        def substituted_loss(
            model: Classifier, examples: Sequence[Example]
        ) -> tuple[torch.Tensor, dict[str, float]]:
            batch = [
                Example(sets.substitute(e.text, rng), e.label)
                if e.pair is None
                else Example(e.text, e.label, sets.substitute(e.pair, rng))
                for e in examples
            ]
            return self.classification_loss(model, batch)

        self.fit(model, context.data.train, substituted_loss, context, "train")
        context.logs["train"]["words_with_sets"] = len(sets.sets)
        return model
