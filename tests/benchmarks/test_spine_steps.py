"""Cost of one baseline training step and one PGD step, tiny and MiniLM backbones.

Run with ``pytest tests/benchmarks/test_spine_steps.py --benchmark-only -s``. Batch: 32
SST-2-like sentences from the embedded set (dynamic padding). The PGD step is one forward +
backward to the embeddings plus the projection; its ratio to a training step is printed so runs
on different machines compare.
"""

from __future__ import annotations

import time

import pytest
import torch

from robustbench_nlp.attacks.embedding_pgd import pgd_delta
from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.recipes.base import TrainContext
from robustbench_nlp.run.plugins import recipes, tasks


@pytest.fixture(scope="module", params=["tiny", "minilm"])
def setup(request):
    torch.manual_seed(0)
    task = tasks.get("embedded")()
    data = task.load(None)
    backbone = resolve_backbone(request.param)
    recipe = recipes.get("baseline")(batch_size=32)
    context = TrainContext(task, data, backbone, seed=0)
    model = recipe.build_classifier(context)
    batch_examples = data.train[:32]
    return request.param, recipe, model, batch_examples


def test_pgd_step_costs_no_more_than_a_training_step(benchmark, setup):
    """Both steps timed side by side in one run; one PGD step is a forward + backward without
    the optimiser, so it must never cost more than a training step."""
    name, recipe, model, examples = setup
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def train_step():
        model.train()
        loss, _ = recipe.classification_loss(model, examples)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    batch = model.tokenize(examples)
    labels = torch.tensor([e.label for e in examples])

    def pgd_step():
        model.eval()
        pgd_delta(model, batch, labels, 0.5, "l2", 0.125, steps=1, random_start=False)

    train = min(_time(train_step) for _ in range(5))
    benchmark.pedantic(pgd_step, rounds=5, warmup_rounds=1)
    pgd = benchmark.stats.stats.min
    ratio = pgd / train
    benchmark.extra_info["pgd_step_over_train_step"] = round(ratio, 3)
    print(
        f"\n{name}: train step {train * 1e3:.1f} ms, PGD step {pgd * 1e3:.1f} ms, ratio {ratio:.2f}"
    )
    assert ratio < 1.2


def _time(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
