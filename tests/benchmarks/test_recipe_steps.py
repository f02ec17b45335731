"""Cost of one training step of SCAL, USCAL and PromptBERT relative to its reference.

Run with ``pytest tests/benchmarks/test_recipe_steps.py --benchmark-only -s``. For each backbone
(tiny and MiniLM) one benchmark round runs one full training step (loss, backward, clipping,
AdamW step) of every recipe on the same 32 SST-2-like sentences of the embedded set, interleaved
so that machine load hits all alike; each recipe trains its own copy of the backbone; torch uses
one thread. The ratios of the per-step medians are printed, stored in ``extra_info`` and
asserted:

- SCAL (labelled step) against the baseline step: within 2.2x;
- USCAL and PromptBERT (their unsupervised steps, default settings) against a plain SimCSE step
  (two dropout views in one pass, mean pooling, InfoNCE): within 2.2x.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import pytest
import torch

from robustbench_nlp.model.backbones import resolve_backbone
from robustbench_nlp.model.classifier import Classifier
from robustbench_nlp.recipes.base import Recipe, TrainContext
from robustbench_nlp.recipes.contrastive import info_nce, projection_head
from robustbench_nlp.recipes.unsupervised import doubled
from robustbench_nlp.run.plugins import recipes, tasks
from robustbench_nlp.tasks.base import Example

TARGETS = {"scal": ("baseline", 2.2), "uscal": ("simcse", 2.2), "promptbert": ("simcse", 2.2)}
ROUNDS = {"tiny": 30, "minilm": 8}


def simcse_step(model: Classifier, examples: Sequence[Example]):
    """Unsupervised SimCSE: two dropout views in one pass, InfoNCE with in-batch negatives."""
    z1, z2 = model.represent(doubled(model.tokenize(examples))).chunk(2)
    loss = info_nce(z1, z2, 0.05)
    return loss, {"nce": loss.item()}


def training_step(model: Classifier, step, optimizer) -> Callable[[list[Example]], None]:
    """One step as ``Recipe.fit`` takes it (without the scheduler)."""

    def run(examples: list[Example]) -> None:
        loss, _ = step(model, examples)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return run


def build(recipe: Recipe, context: TrainContext, kind: str, stack: ExitStack) -> Callable:
    model = recipe.build_classifier(context).train()
    if kind == "supervised":
        step = recipe.classification_loss
    elif kind == "simcse":
        step = simcse_step
    else:
        model = recipe.unsupervised_view(model)
        project = stack.enter_context(projection_head(model, recipe.uses_projection()))
        step = recipe.unsupervised_step(model, project)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    return training_step(model, step, optimizer)


@pytest.fixture
def one_thread():
    """One intra-op thread: ratios then depend little on what else runs on the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("backbone_name", ["tiny", "minilm"])
def test_recipe_step_cost_ratios(benchmark, backbone_name, capsys, one_thread):
    task = tasks.get("embedded")()
    data = task.load(None)
    context = TrainContext(task, data, resolve_backbone(backbone_name), seed=0)
    examples = data.train[:32]
    plan = {
        "baseline": ("baseline", "supervised"),
        "scal": ("scal", "supervised"),
        "simcse": ("baseline", "simcse"),
        "uscal": ("uscal", "unsupervised"),
        "promptbert": ("promptbert", "unsupervised"),
    }
    times: dict[str, list[float]] = {name: [] for name in plan}
    with ExitStack() as stack:
        steps = {
            name: build(recipes.get(recipe)(batch_size=32), context, kind, stack)
            for name, (recipe, kind) in plan.items()
        }

        def one_round() -> None:
            for name, run in steps.items():
                started = time.perf_counter()
                run(examples)
                times[name].append(time.perf_counter() - started)

        benchmark.pedantic(one_round, rounds=ROUNDS[backbone_name], warmup_rounds=1)

    warm = {name: sorted(values[1:]) for name, values in times.items()}  # drop the warmup
    median = {name: values[len(values) // 2] for name, values in warm.items()}
    lines = [
        f"{backbone_name}: median step "
        + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in median.items())
    ]
    failures = []
    for recipe, (reference, target) in TARGETS.items():
        ratio = median[recipe] / median[reference]
        benchmark.extra_info[f"{recipe}_over_{reference}"] = round(ratio, 3)
        lines.append(f"  {recipe} / {reference} = {ratio:.2f} (target <= {target})")
        if ratio > target:
            failures.append(f"{recipe} / {reference} = {ratio:.2f} > {target}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert not failures, "; ".join(failures)
