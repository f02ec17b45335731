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
from tests.conftest import TINY_TASK, make_classifier
from tests.helpers import assert_refused, run_suite_records


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
    records = run_suite_records(tmp_path, SUITE)
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
        ("a2t", "epochs: 2, clean_epochs: 3", "clean_epochs (3) cannot exceed epochs (2)"),
        ("a2t", "attack_fraction: 0", "recipes[0].params.attack_fraction"),
        ("a2t", "attack_fraction: 1.5", "recipes[0].params.attack_fraction"),
        ("a2t", "clean_epochs: -1", "recipes[0].params.clean_epochs"),
        ("a2t", "attack_epoch_interval: 0", "recipes[0].params.attack_epoch_interval"),
        ("a2t", "adv_weight: -1", "recipes[0].params.adv_weight"),
    ],
)
def test_bad_parameters_are_refused_in_one_line(tmp_path, capsys, name, params, needle):
    suite = (
        f"name: bad\nbackbone: tiny\ntask: {TINY_TASK}\n"
        f"recipes: [{{name: {name}, params: {{{params}}}}}]\n"
        f"attacks: [{{name: pgd, params: {{eps: [0.1], steps: 1}}}}]\n"
    )
    assert_refused(tmp_path, capsys, suite, needle)


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


# -- A2T --------------------------------------------------------------------------------------

A2T_RESOURCES = ("stopwords", "wordnet", "textattack-cache", "synonyms", "similarity")


def need_a2t_resources() -> None:
    from robustbench_nlp.resources import layout as resources
    from tests.helpers import missing as skip_or_fail

    missing = [s.name for s in resources.check() if s.name in A2T_RESOURCES and not s.ok]
    if missing:
        skip_or_fail(f"offline resources missing ({', '.join(missing)}): run `{resources.PREPARE}`")


@pytest.fixture
def one_thread():
    """Torch on one thread while a word attack runs on the tiny model (what each worker of a
    2-core machine gets): its many small forwards are no faster on two threads, and many times
    slower when another process holds a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fragile_tiny(backbone) -> nn.Module:
    """The tiny model with its head made decisive around the embedded sentences (logit
    difference centred on their median, scaled by 10), so that a few swaps flip its output."""
    model = make_classifier(backbone)
    rows = tasks.get("embedded")(train_size=64, eval_size=8).load(None).train
    with torch.no_grad():
        logits = torch.log(model.predict_proba(rows))
        model.head.bias[1] -= (logits[:, 1] - logits[:, 0]).median()
        model.head.weight.mul_(10)
        model.head.bias.mul_(10)
    return model


def own_labels(model, rows):
    """The rows labelled with the model's own predictions (none is skipped by an attack)."""
    from robustbench_nlp.tasks.base import Example

    predicted = model.predict_proba(rows).argmax(-1).tolist()
    return [Example(e.text, p, e.pair) for e, p in zip(rows, predicted, strict=True)]


def test_a2t_adversarial_examples_respect_the_attack_constraints(tiny_backbone, one_thread):
    """Each adversarial training example differs from its original only in swapped words that
    are among the original word's 20 nearest neighbours in the synonym space at cosine >= 0.8,
    share a WordNet part of speech (nouns and verbs apart), are no stopwords; at most
    max(ceil(0.1 x words), 4) swaps (MaxModificationRate's count); MiniLM similarity to the
    original above the mapped threshold; same label, and the model is fooled by it. The model's
    mode and the global random state are as before."""
    need_a2t_resources()
    from robustbench_nlp.attacks.textattack.offline import offline_textattack

    offline_textattack()
    import nltk
    from textattack.shared import AttackedText

    from robustbench_nlp.attacks.textattack import components as ta
    from robustbench_nlp.recipes.a2t import A2T, ADVERSARIAL_TAG
    from robustbench_nlp.resources import similarity
    from robustbench_nlp.resources.layout import layout

    model = fragile_tiny(tiny_backbone).train()
    rows = own_labels(model, tasks.get("embedded")(train_size=24, eval_size=8).load(None).train)
    recipe = A2T(attack_fraction=1.0)
    states = (random.getstate(), torch.get_rng_state())
    adversarial, log = recipe.adversarial_examples(model, rows, seed=0, epoch=1)
    assert (random.getstate(), torch.get_rng_state().tolist()) == (states[0], states[1].tolist())
    assert model.training
    assert log["epoch"] == 2 and log["attacked"] == len(rows)
    assert log["succeeded"] == len(adversarial) == log["outcomes"].get("successful", 0)
    assert len(adversarial) >= 3, log

    where = layout()
    embedding = ta.synonym_embedding(where)
    stopwords = set(nltk.corpus.stopwords.words("english"))
    pos = ta.WordNetPartOfSpeech(allow_verb_noun_swap=False)
    threshold, _ = similarity.threshold_for(0.9, similarity.load_calibration(where.similarity))
    encoder = similarity.shared_similarity()
    by_id = {e.id: e for e in rows}
    for example in adversarial:
        (original_id,) = [v for k, v in example.tags if k == ADVERSARIAL_TAG]
        original = by_id[original_id]
        assert example.label == original.label and example.pair is None
        before, after = AttackedText(original.text), AttackedText(example.text)
        assert len(before.words) == len(after.words)
        changed = [
            i for i, (a, b) in enumerate(zip(before.words, after.words, strict=True)) if a != b
        ]
        assert 1 <= len(changed) <= max(math.ceil(before.num_words * 0.1), 4)
        for i in changed:
            old, new = before.words[i].lower(), after.words[i].lower()
            assert old not in stopwords
            neighbours = embedding.nn_matrix[embedding.word2index(old)][1:21].tolist()
            assert embedding.word2index(new) in neighbours, (old, new)
            assert embedding.get_cos_sim(old, new) >= 0.8
            assert pos.compatible(old, new)
        window = [t.text_window_around_index(0, float("inf")) for t in (before, after)]
        assert encoder.cosine(window[:1], window[1:]).item() >= threshold - 1e-5
    predicted = model.predict_proba(adversarial).argmax(-1).tolist()
    assert all(p != e.label for p, e in zip(predicted, adversarial, strict=True))


class FakeA2TAttack:
    """Stands in for ``A2TAttack.attack_examples``: records what each generation attacks (and
    how many training steps were taken before it), succeeds on every other example (the
    second, fourth, ...), calling ``each_chunk`` per chunk of 8 as the real one does."""

    def __init__(self, monkeypatch, steps: list[int] | None = None) -> None:
        from robustbench_nlp.attacks.textattack.recipes import A2TAttack

        self.calls: list[dict] = []
        self.steps = steps
        fake = self

        def attack_examples(attack, model, rows, seed, each_chunk=None):
            results = []
            for start in range(0, len(rows), 8):
                chunk = [
                    {
                        "result": "successful" if (start + i) % 2 else "failed",
                        "adversarial": f"{row.text} indeed",
                        "forwards": 1,
                    }
                    for i, row in enumerate(rows[start : start + 8])
                ]
                results += chunk
                if each_chunk is not None and each_chunk(chunk):
                    break
            fake.calls.append(
                {
                    "ids": [r.id for r in rows],
                    "seed": seed,
                    "training": model.training,
                    "steps_before": len(fake.steps) if fake.steps is not None else None,
                    "params": attack.params(),
                }
            )
            return results, sum(r.pop("forwards") for r in results)

        monkeypatch.setattr(A2TAttack, "attack_examples", attack_examples)


def test_a2t_attacks_ceil_of_the_fraction_of_a_seeded_subset_each_adversarial_epoch(
    tiny_backbone, monkeypatch, one_thread
):
    """k = ceil(fraction x n) examples attacked per generation: the first k of a permutation
    seeded by (seed, epoch), the same for the same seed; each epoch then trains on the n clean
    plus the successful adversarial examples, in one schedule planned for n + k."""
    from robustbench_nlp.recipes.a2t import A2T, attack_count, attack_order

    assert [attack_count(n, f) for n, f in ((16, 0.3), (30, 0.1), (10, 0.2), (3, 1.0))] == [
        5,
        3,
        2,
        3,
    ]
    runs = []
    for seed in (0, 0, 1):
        fake = FakeA2TAttack(monkeypatch)
        context = context_for(tiny_backbone, seed=seed)
        recipe = A2T(epochs=3, clean_epochs=1, batch_size=4, attack_fraction=0.3, workers=1)
        recipe.train(context)
        runs.append((fake.calls, context.logs))
    (calls, logs), (again, _), (other, _) = runs
    train_ids = [e.id for e in context_for(tiny_backbone).data.train]
    assert len(calls) == 2 and all(len(c["ids"]) == 5 for c in calls)
    for epoch, call in zip((1, 2), calls, strict=True):
        assert call["ids"] == [train_ids[i] for i in attack_order(16, 0, epoch)[:5]]
        assert call["training"] is False  # the current model, in eval mode
        assert call["params"]["query_budget"] == 200 and call["params"]["max_candidates"] == 20
    assert calls[0]["ids"] != calls[1]["ids"]  # a new subset each generation
    assert [c["ids"] for c in again] == [c["ids"] for c in calls]  # seeded
    assert [c["seed"] for c in again] == [c["seed"] for c in calls]
    assert [c["ids"] for c in other] != [c["ids"] for c in calls]
    succeeded = [2, 2]  # the fake succeeds on the 2nd and 4th of each 5
    assert [g["attacked"] for g in logs["a2t"]["generations"]] == [5, 5]
    assert [g["succeeded"] for g in logs["a2t"]["generations"]] == succeeded
    assert [g["epoch"] for g in logs["a2t"]["generations"]] == [2, 3]
    assert logs["a2t"]["attacked"] == 10 and logs["a2t"]["succeeded"] == 4
    # 4 clean steps, then ceil((16 + 2) / 4) = 5 per adversarial epoch; planned for 16 + 5.
    assert logs["train"]["steps"] == 4 + 5 + 5
    assert A2T(epochs=3, clean_epochs=1, batch_size=4, attack_fraction=0.3).total_steps(16) == 16


def test_a2t_until_successful_attacks_until_k_succeed_and_cuts_at_the_kth(
    tiny_backbone, monkeypatch, one_thread
):
    from robustbench_nlp.recipes.a2t import A2T, attack_order

    fake = FakeA2TAttack(monkeypatch)
    context = context_for(tiny_backbone)
    recipe = A2T(epochs=2, batch_size=4, attack_fraction=0.3, until_successful=True)
    recipe.train(context)
    (call,) = fake.calls
    ids = [e.id for e in context.data.train]
    # Attacked in the permutation's order, chunk by chunk, until 5 succeeded (16 attacked).
    assert call["ids"] == [ids[i] for i in attack_order(16, 0, 1)]
    (generation,) = context.logs["a2t"]["generations"]
    # Successes at positions 1, 3, 5, 7, 9: the 5th success is the 10th example attacked.
    assert generation["attacked"] == 10 and generation["succeeded"] == 5
    assert context.logs["train"]["steps"] == 4 + math.ceil((16 + 5) / 4)


def test_a2t_attack_epoch_interval_trains_clean_between_generations(
    tiny_backbone, monkeypatch, one_thread
):
    from robustbench_nlp.recipes.a2t import A2T

    fake = FakeA2TAttack(monkeypatch)
    context = context_for(tiny_backbone)
    recipe = A2T(
        epochs=5, clean_epochs=1, batch_size=8, attack_fraction=0.5, attack_epoch_interval=2
    )
    assert [recipe.generates(e) for e in range(5)] == [False, True, False, True, False]
    recipe.train(context)
    assert [g["epoch"] for g in context.logs["a2t"]["generations"]] == [2, 4]
    assert len(fake.calls) == 2
    # 2 steps per clean epoch (16 / 8), 3 per generating one (16 + 4 successes of 8).
    assert context.logs["train"]["steps"] == 2 + 3 + 2 + 3 + 2


def test_a2t_clean_epochs_come_first_and_only_clean_epochs_is_the_baseline(
    tiny_backbone, monkeypatch, one_thread
):
    from robustbench_nlp.recipes.a2t import A2T

    steps: list[int] = []

    class Counting(A2T):
        def weighted_loss(self, model, examples):
            steps.append(len(examples))
            return super().weighted_loss(model, examples)

    fake = FakeA2TAttack(monkeypatch, steps)
    Counting(epochs=3, clean_epochs=2, batch_size=4, attack_fraction=0.25).train(
        context_for(tiny_backbone)
    )
    assert [c["steps_before"] for c in fake.calls] == [8]  # after the 2 clean epochs of 4 steps

    fake = FakeA2TAttack(monkeypatch)
    a2t = A2T(epochs=2, clean_epochs=2, batch_size=4)
    model = a2t.train(context := context_for(tiny_backbone))
    assert fake.calls == [] and "generations" in context.logs["a2t"]
    assert context.logs["a2t"]["attacked"] == 0
    baseline = recipes.get("baseline")(epochs=2, batch_size=4).train(context_for(tiny_backbone))
    mine, theirs = snapshot(model), snapshot(baseline)
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)  # bit for bit


def test_a2t_weighs_the_adversarial_cross_entropy_by_adv_weight(tiny_backbone, sentences):
    from robustbench_nlp.recipes.a2t import A2T, _adversarial, is_adversarial

    model = without_dropout(make_classifier(tiny_backbone)).train()
    adversarial = [_adversarial(e, e.text + " indeed") for e in sentences[:2]]
    pair = _adversarial(type(sentences[0])("a premise", 1, "a hypothesis"), "another one")
    assert (pair.text, pair.label, pair.pair) == ("a premise", 1, "another one")
    assert all(map(is_adversarial, adversarial)) and not any(map(is_adversarial, sentences))
    batch_examples = [*sentences, *adversarial]
    loss, logs = A2T(adv_weight=0.5).weighted_loss(model, batch_examples)
    batch = model.tokenize(batch_examples)
    labels = torch.tensor([e.label for e in batch_examples])
    each = F.cross_entropy(model(batch), labels, reduction="none")
    weights = torch.tensor([1.0] * len(sentences) + [0.5, 0.5])
    assert loss.item() == pytest.approx((each * weights).mean().item(), rel=1e-6)
    assert logs == {"ce": pytest.approx(loss.item())}
    plain, _ = A2T().weighted_loss(model, batch_examples)
    assert plain.item() == pytest.approx(F.cross_entropy(model(batch), labels).item(), rel=1e-6)


def test_fast_wrapper_get_grad_is_the_gradient_of_the_loss_at_the_word_embeddings(
    tiny_backbone, one_thread
):
    """``get_grad`` = d CE(f(e), argmax f) / d e at the word-embedding output e (TextAttack's
    ``HuggingFaceModelWrapper.get_grad``), checked by autograd and by central differences in
    float64; one row per model token, as ``tokenize`` (and so ``align_with_model_tokens``)
    lays them out; the model's mode and its parameters' gradients are left alone."""
    need_a2t_resources()
    from robustbench_nlp.attacks.textattack.offline import offline_textattack

    offline_textattack()
    from textattack.shared import AttackedText

    from robustbench_nlp.attacks.textattack.components import FastModelWrapper
    from robustbench_nlp.tasks.base import Example

    model = without_dropout(make_classifier(tiny_backbone)).double().eval()
    wrapper = FastModelWrapper(model)
    text = "an utterly charming and hilarious movie"
    out = wrapper.get_grad(text)
    assert not model.training and all(p.grad is None for p in model.parameters())
    batch = model.tokenize([Example(text, 0)])
    assert torch.equal(out["ids"], batch["input_ids"])
    (tokens,) = wrapper.tokenize([text], strip_prefix=True)
    assert out["gradient"].shape == (len(tokens), model.encoder.config.hidden_size)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"

    embeds = model.word_embeddings(batch["input_ids"]).detach()
    label = model(batch).argmax(-1)

    def loss_at(e):
        return F.cross_entropy(model(batch, inputs_embeds=e), label)

    e = embeds.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(loss_at(e), e)
    gradient = torch.from_numpy(out["gradient"]).double()
    assert torch.allclose(gradient, expected[0], atol=1e-6)
    torch.manual_seed(0)
    direction = torch.randn_like(embeds)
    h = 1e-4
    with torch.no_grad():
        numeric = (loss_at(embeds + h * direction) - loss_at(embeds - h * direction)) / (2 * h)
    assert (gradient * direction[0]).sum().item() == pytest.approx(numeric.item(), rel=1e-4)
    mapping = AttackedText(text).align_with_model_tokens(wrapper)
    assert mapping == {i: [i + 1] for i in range(6)}  # word i is token i + 1, after [CLS]
    pair = wrapper.get_grad(("a man plays", "someone makes music"))
    assert pair["gradient"].shape[0] == len(wrapper.tokenize([("a man plays", "x y z")])[0])


A2T_SUITE = f"""\
name: a2t
backbone: tiny
task: {TINY_TASK}
recipes:
  - {{name: a2t, params: {{epochs: 2, clean_epochs: 1, batch_size: 4, attack_fraction: 0.25}}}}
attacks:
  - {{name: a2t, params: {{max_examples: 4}}}}
"""


def test_the_runner_trains_a2t_end_to_end_and_attacks_it_with_a2t(tmp_path, one_thread):
    need_a2t_resources()
    records = run_suite_records(tmp_path, A2T_SUITE)
    assert {r["attack"]["name"] for r in records} == {"clean", "a2t"}
    training = records[0]["training"]
    (generation,) = training["a2t"]["generations"]
    assert generation["epoch"] == 2 and generation["attacked"] == 4  # ceil(0.25 x 16)
    assert training["train"]["steps"] == 4 + math.ceil((16 + generation["succeeded"]) / 4)
    assert math.isfinite(training["train"]["last_ce"]) and generation["seconds"] >= 0
    (attacked,) = [r for r in records if r["attack"]["name"] == "a2t"]
    assert 0 <= attacked["metrics"]["attack_accuracy"] <= 1


def test_a2t_refuses_missing_resources_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RBNLP_RESOURCES_DIR", str(tmp_path / "no-resources"))
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"name: a2t\nbackbone: tiny\ntask: {TINY_TASK}\n"
        "recipes: [{name: a2t, params: {epochs: 2}}]\n"
        f"output: {tmp_path / 'out'}\n"
    )
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "offline attack resources missing" in err, err
    assert "synonyms" in err and "similarity" in err
    assert not (tmp_path / "out").exists()


def test_list_shows_the_a2t_recipe_and_attack(capsys):
    from robustbench_nlp.run.plugins import attacks

    for kind, registry in (("recipes", recipes), ("attacks", attacks)):
        assert main(["list", kind]) == 0
        listed = capsys.readouterr().out
        description = registry.info("a2t").description
        assert any(line.split() == ["a2t", *description.split()] for line in listed.splitlines())
    assert main(["list", "recipes", "a2t"]) == 0
    shown = capsys.readouterr().out
    for field in (
        "epochs",
        "clean_epochs",
        "attack_fraction",
        "until_successful",
        "attack_epoch_interval",
        "adv_weight",
        "max_candidates",
        "query_budget",
        "workers",
    ):
        assert f"\n  {field} " in shown


def test_a2t_plan_counts_its_steps_and_calibrates_without_generating(tiny_backbone):
    from robustbench_nlp.recipes.a2t import A2T

    recipe = A2T(clean_epochs=0, batch_size=4)  # 4 epochs, every one generating
    data = context_for(tiny_backbone).data  # 16 training examples: k = ceil(3.2) = 4
    assert recipe.planned_steps(data) == {"train": 4 * 5}
    assert A2T(clean_epochs=0, batch_size=4, max_steps=7).planned_steps(data) == {"train": 7}
    short = recipe.shortened(2)
    assert short.max_steps == 2 and not any(short.generates(e) for e in range(short.epochs))
