"""FreeLB and PGD-AT: their perturbations on hand-checkable cases, FreeLB's gradient accumulated
over its K passes (recomputed independently), PGD-AT's loss on exactly ``pgd_delta``'s
perturbation, deterministic training, the runner end to end, bad parameters and ``list``."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustbench_nlp.attacks.embedding_pgd import pgd_delta
from robustbench_nlp.cli import main
from robustbench_nlp.recipes import freelb as freelb_module
from robustbench_nlp.recipes import pgd_at as pgd_at_module
from robustbench_nlp.recipes.base import TrainContext, bucketed_batches
from robustbench_nlp.recipes.freelb import FreeLB, ascent_step, initial_delta
from robustbench_nlp.report.leaderboard import write_leaderboard
from robustbench_nlp.run.plugins import recipes, tasks
from robustbench_nlp.run.runner import Runner
from robustbench_nlp.run.suite import load_suite
from tests.conftest import TINY_TASK, make_classifier


def context_for(backbone, train_size: int = 16, seed: int = 0) -> TrainContext:
    task = tasks.get("embedded")(train_size=train_size, eval_size=8)
    return TrainContext(task, task.load(None), backbone, seed)


def without_dropout(model: nn.Module) -> nn.Module:
    """Every dropout of the model off (the encoder's modules and its attention's own rate), so
    that a pass in train mode is reproducible."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_prob"):
            module.dropout_prob = 0.0
    return model


class DeterministicFreeLB(FreeLB):
    """FreeLB on a model without dropout: its K passes can be recomputed exactly."""

    def build_classifier(self, context):
        return without_dropout(super().build_classifier(context))


# -- FreeLB's perturbation --------------------------------------------------------------------


def test_freelb_random_start_is_scaled_per_example_and_lives_on_perturbed_tokens():
    torch.manual_seed(0)
    embeds = torch.randn(3, 6, 8)
    mask = torch.tensor(
        [[0, 1, 1, 1, 1, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    delta = initial_delta(embeds, mask, 0.4, "l2")
    assert (delta[~mask] == 0).all()
    for row, n in enumerate([4, 1]):  # |entry| <= mag / sqrt(n * H), and fills that range
        bound = 0.4 / math.sqrt(n * 8)
        assert delta[row].abs().max() <= bound
        assert delta[row].abs().max() > 0.5 * bound
    linf = initial_delta(embeds, mask, 0.4, "linf")
    assert (linf[~mask] == 0).all() and linf.abs().max() <= 0.4 and linf.abs().max() > 0.2
    assert (initial_delta(embeds, mask, 0.0, "l2") == 0).all()


def test_freelb_ascent_step_normalises_per_example_and_projects():
    grad = torch.zeros(2, 3, 2)
    grad[0, 1] = torch.tensor([3.0, 4.0])  # ||g|| = 5, max |g| = 4
    grad[0, 0] = torch.tensor([100.0, 0.0])  # outside the mask: ignored
    grad[1, 2] = torch.tensor([0.0, -2.0])
    mask = torch.tensor([[0, 1, 0], [0, 0, 1]], dtype=torch.bool)
    delta = torch.zeros(2, 3, 2)
    stepped = ascent_step(delta, grad, mask, lr=0.5, max_norm=0.0, norm="l2")
    assert stepped[0, 1].tolist() == pytest.approx([0.3, 0.4])
    assert stepped[1, 2].tolist() == pytest.approx([0.0, -0.5])
    assert stepped[0, 0].tolist() == [0.0, 0.0]
    # Unbounded by default; a radius rescales only the examples beyond it.
    twice = ascent_step(stepped, grad, mask, lr=0.5, max_norm=0.8, norm="l2")
    assert twice.flatten(1).norm(dim=1).tolist() == pytest.approx([0.8, 0.8])
    once_more = ascent_step(delta, grad, mask, lr=0.5, max_norm=0.8, norm="l2")
    assert torch.allclose(once_more, stepped)
    # linf: the reference divides by the largest |g| (not sign) and clips each entry.
    linf = ascent_step(delta, grad, mask, lr=0.5, max_norm=0.0, norm="linf")
    assert linf[0, 1].tolist() == pytest.approx([0.375, 0.5])
    clipped = ascent_step(delta, grad, mask, lr=0.5, max_norm=0.45, norm="linf")
    assert clipped[0, 1].tolist() == pytest.approx([0.375, 0.45])


def record(monkeypatch, module, name: str) -> list[torch.Tensor]:
    """The outputs of every call of ``module.name``."""
    real, outputs = getattr(module, name), []

    def recording(*args, **kwargs):
        outputs.append(real(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(module, name, recording)
    return outputs


def test_freelb_gradient_is_the_sum_of_the_k_pass_gradients(tiny_backbone, monkeypatch):
    """One optimiser step of FreeLB through ``train``: the gradient it stepped with (left on the
    parameters) is sum_k grad(CE_k / K), recomputed here pass by pass from the same start,
    clipped as ``fit`` clips; the deltas stay in the ball and off special tokens and padding."""
    k, lr, radius = 3, 0.5, 0.1
    context = context_for(tiny_backbone, train_size=4)
    recipe = DeterministicFreeLB(
        max_steps=1,
        batch_size=4,
        dropout=0.0,
        adv_steps=k,
        adv_lr=lr,
        adv_init_mag=0.3,
        adv_max_norm=radius,
    )
    starts = record(monkeypatch, freelb_module, "initial_delta")
    updates = record(monkeypatch, freelb_module, "ascent_step")
    reference = recipe.build_classifier(context).train()  # the weights train starts from
    model = recipe.train(context)

    examples = context.data.train
    (order,) = bucketed_batches(reference.token_lengths(examples), 4, random.Random(0))
    batch = reference.tokenize([examples[i] for i in order])
    labels = torch.tensor([examples[i].label for i in order])
    mask = batch["perturb_mask"]
    params = list(reference.parameters())
    total = [torch.zeros_like(p) for p in params]
    delta, deltas = starts[0], []
    for step in range(k):
        d = delta.clone().requires_grad_(True)
        embeds = reference.word_embeddings(batch["input_ids"])
        loss = F.cross_entropy(reference(batch, inputs_embeds=embeds + d), labels) / k
        grad_delta, *grads = torch.autograd.grad(loss, [d, *params], allow_unused=True)
        last = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
        total = [t + g for t, g in zip(total, last, strict=True)]
        if step < k - 1:
            g = grad_delta * mask.unsqueeze(-1)
            delta = d.detach() + lr * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
            norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
            delta = torch.where(norms > radius, delta * radius / norms, delta)
            deltas.append(delta)

    assert len(starts) == 1 and len(updates) == k - 1
    for mine, theirs in zip(deltas, updates, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6)
        assert (theirs.flatten(1).norm(dim=1) <= radius + 1e-6).all()
    assert (updates[-1].flatten(1).norm(dim=1) > radius - 1e-4).all()  # the ball binds
    outside = ~mask
    assert (~batch["attention_mask"].bool()).any() and not mask[:, 0].any()  # padding, [CLS]
    for delta in [starts[0], *updates]:
        assert (delta[outside] == 0).all()  # [CLS], [SEP] and padding are never perturbed

    clip = min(1.0, 1.0 / (torch.cat([t.flatten() for t in total]).norm().item() + 1e-6))
    stepped = [torch.zeros_like(p) if p.grad is None else p.grad for p in model.parameters()]
    for got, expected in zip(stepped, total, strict=True):
        assert torch.allclose(got, expected * clip, atol=1e-6, rtol=1e-4)
    # Not just the last pass (what fit would keep if it zeroed the gradients after the step).
    assert not all(
        torch.allclose(got, g * clip, atol=1e-6) for got, g in zip(stepped, last, strict=True)
    )
    assert context.logs["train"]["steps"] == 1


# -- PGD-AT -----------------------------------------------------------------------------------


def spy_on_pgd(monkeypatch) -> list[dict]:
    calls = []

    def spy(model, batch, labels, eps, norm, step_size, steps, random_start, generator=None):
        delta = pgd_delta(model, batch, labels, eps, norm, step_size, steps, random_start)
        calls.append(
            {
                "training": model.training,
                "args": (eps, norm, step_size, steps, random_start),
                "delta": delta,
            }
        )
        return delta

    monkeypatch.setattr(pgd_at_module, "pgd_delta", spy)
    return calls


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_at_loss_is_on_exactly_pgd_deltas_perturbation(
    tiny_backbone, sentences, monkeypatch, norm
):
    model = without_dropout(make_classifier(tiny_backbone)).train()
    calls = spy_on_pgd(monkeypatch)
    eps = 0.3 if norm == "l2" else 0.02
    recipe = recipes.get("pgd_at")(eps=eps, steps=3, norm=norm)
    loss, logs = recipe.classification_loss(model, sentences)

    (call,) = calls
    assert call["training"] is False and model.training  # eval for the attack, then back
    assert call["args"] == (eps, norm, eps / 4, 3, True)
    delta = call["delta"]
    batch = model.tokenize(sentences)
    labels = torch.tensor([e.label for e in sentences])
    if norm == "l2":
        assert (delta.flatten(1).norm(dim=1) <= eps + 1e-6).all()
    else:
        assert delta.abs().max() <= eps + 1e-7
    assert (delta.flatten(1).norm(dim=1) > 0).all()
    assert (delta[~batch["perturb_mask"]] == 0).all()
    embeds = model.word_embeddings(batch["input_ids"])
    adversarial = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
    clean = F.cross_entropy(model(batch), labels)
    assert loss.item() == pytest.approx(adversarial.item(), rel=1e-6)
    assert logs == {"adv_ce": pytest.approx(adversarial.item(), rel=1e-6)}
    assert adversarial.item() > clean.item()  # the inner maximisation raised the loss
    assert loss.requires_grad


def test_pgd_at_clean_weight_adds_the_clean_cross_entropy(tiny_backbone, sentences, monkeypatch):
    model = without_dropout(make_classifier(tiny_backbone)).train()
    calls = spy_on_pgd(monkeypatch)
    recipe = recipes.get("pgd_at")(eps=0.3, steps=1, clean_weight=0.7)
    loss, logs = recipe.classification_loss(model, sentences)
    assert calls[0]["args"][2] == 0.3  # one step: a step of eps (FGSM), as the attack
    batch = model.tokenize(sentences)
    labels = torch.tensor([e.label for e in sentences])
    embeds = model.word_embeddings(batch["input_ids"])
    adversarial = F.cross_entropy(model(batch, inputs_embeds=embeds + calls[0]["delta"]), labels)
    clean = F.cross_entropy(model(batch), labels)
    assert logs["adv_ce"] == pytest.approx(adversarial.item(), rel=1e-6)
    assert logs["ce"] == pytest.approx(clean.item(), rel=1e-6)
    assert loss.item() == pytest.approx((adversarial + 0.7 * clean).item(), rel=1e-6)


def test_pgd_at_keeps_an_eval_mode_model_in_eval_mode(tiny_backbone, sentences, monkeypatch):
    model = make_classifier(tiny_backbone)
    calls = spy_on_pgd(monkeypatch)
    recipes.get("pgd_at")(steps=1).classification_loss(model, sentences)
    assert calls[0]["training"] is False and not model.training


# -- training ---------------------------------------------------------------------------------


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("freelb", {}),
        ("freelb", {"norm": "linf", "adv_init_mag": 0.01, "adv_lr": 0.01, "adv_max_norm": 0.02}),
        ("pgd_at", {}),
        ("pgd_at", {"norm": "linf", "eps": 0.02, "clean_weight": 0.5, "random_start": False}),
    ],
)
def test_training_is_finite_trains_and_is_deterministic(tiny_backbone, name, params):
    recipe = recipes.get(name)(max_steps=2, batch_size=4, **params)
    initial = snapshot(recipe.build_classifier(context_for(tiny_backbone)))
    runs = []
    for _ in range(2):
        context = context_for(tiny_backbone)
        runs.append((snapshot(recipe.train(context)), context.logs))
    (first, logs), (second, again) = runs
    assert logs == {"train": {**again["train"], "seconds": logs["train"]["seconds"]}}
    assert logs["train"]["steps"] == 2 and math.isfinite(logs["train"]["last_adv_ce"])
    assert all(torch.equal(first[key], second[key]) for key in first)  # one seed, one model
    assert any(not torch.equal(initial[key], first[key]) for key in first if "encoder." in key)


SUITE = f"""\
name: defences
backbone: tiny
task: {TINY_TASK}
recipes:
  - {{name: baseline, params: {{max_steps: 2, batch_size: 4}}}}
  - {{name: freelb, params: {{max_steps: 2, batch_size: 4}}}}
  - {{name: pgd_at, params: {{max_steps: 2, batch_size: 4, steps: 2}}}}
attacks:
  - {{name: pgd, params: {{eps: [0.0, 0.1], steps: 2}}}}
"""


def test_the_runner_trains_both_defences_and_boards_them(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + f"output: {tmp_path / 'out'}\n")
    summary = Runner(load_suite(path), None).run()
    assert not summary.failed
    records = [
        json.loads(p.read_text())
        for p in (tmp_path / "out" / "records").glob("*.json")
        if ".outcomes." not in p.name
    ]
    training = {r["recipe"]["name"]: r["training"]["train"] for r in records}
    assert set(training) == {"baseline", "freelb", "pgd_at"}
    for name in ("freelb", "pgd_at"):
        assert training[name]["steps"] == 2 and math.isfinite(training[name]["last_adv_ce"])
    board = json.loads(write_leaderboard(tmp_path / "out")[2].read_text())
    assert {row["recipe"] for row in board["rows"]} == {"baseline", "freelb", "pgd_at"}


# -- parameters and the command line ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("freelb", "adv_steps: 0", "recipes[0].params.adv_steps"),
        ("freelb", "adv_lr: 0", "recipes[0].params.adv_lr"),
        ("freelb", "adv_max_norm: -0.1", "recipes[0].params.adv_max_norm"),
        ("freelb", "norm: l1", "recipes[0].params.norm"),
        ("pgd_at", "eps: -0.5", "recipes[0].params.eps"),
        ("pgd_at", "step_size: 0", "recipes[0].params.step_size"),
        ("pgd_at", "clean_weight: -1", "recipes[0].params.clean_weight"),
        ("pgd_at", "steps: 0", "recipes[0].params.steps"),
    ],
)
def test_bad_parameters_are_refused_in_one_line(tmp_path, capsys, name, params, needle):
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"name: bad\nbackbone: tiny\ntask: {TINY_TASK}\n"
        f"recipes: [{{name: {name}, params: {{{params}}}}}]\n"
        f"attacks: [{{name: pgd, params: {{eps: [0.1], steps: 1}}}}]\n"
        f"output: {tmp_path / 'out'}\n"
    )
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, err
    assert not (tmp_path / "out").exists()


def test_list_shows_both_recipes_and_their_parameters(capsys):
    assert main(["list", "recipes"]) == 0
    listed = capsys.readouterr().out
    for name in ("freelb", "pgd_at"):
        description = recipes.info(name).description
        assert any(line.split() == [name, *description.split()] for line in listed.splitlines())
    assert main(["list", "recipes", "freelb"]) == 0
    shown = capsys.readouterr().out
    for field in ("adv_steps", "adv_lr", "adv_init_mag", "adv_max_norm", "norm"):
        assert f"\n  {field} " in shown
    assert main(["list", "recipes", "pgd_at"]) == 0
    shown = capsys.readouterr().out
    for field in ("eps", "steps", "step_size", "norm", "random_start", "clean_weight"):
        assert f"\n  {field} " in shown
