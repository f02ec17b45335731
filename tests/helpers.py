"""Stand-ins shared by several test modules."""

from __future__ import annotations

import torch


class Always:
    """A stand-in classifier that predicts one label for every example."""

    training = False

    def __init__(self, label: int, num_labels: int = 3) -> None:
        self.label, self.num_labels = label, num_labels

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def predict_proba(self, examples, batch_size=64):
        probs = torch.zeros(len(examples), self.num_labels)
        probs[:, self.label] = 1.0
        return probs
