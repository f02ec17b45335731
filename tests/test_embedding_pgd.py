"""Embedding-space PGD/FGSM: the ball constraint, eps = 0, and a monotone eps sweep."""

from __future__ import annotations

import pytest
import torch

from robustbench_nlp.attacks.embedding_pgd import FGSM, EmbeddingPGD, pgd_delta, project
from robustbench_nlp.measure.base import MeasureContext
from robustbench_nlp.run.plugins import tasks


@pytest.fixture
def batch_and_labels(tiny_classifier, sentences):
    batch = tiny_classifier.tokenize(sentences)
    labels = torch.tensor([e.label for e in sentences])
    return batch, labels


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("eps", [0.05, 0.5, 2.0])
def test_delta_stays_inside_the_eps_ball(tiny_classifier, batch_and_labels, norm, eps):
    batch, labels = batch_and_labels
    delta = pgd_delta(
        tiny_classifier,
        batch,
        labels,
        eps,
        norm,
        eps / 2,
        steps=5,
        generator=torch.Generator().manual_seed(0),
    )
    if norm == "l2":
        norms = delta.flatten(1).norm(dim=1)
        assert torch.all(norms <= eps + 1e-5)
        assert torch.all(norms > 0.5 * eps)  # the attack actually moves
    else:
        assert delta.abs().max() <= eps + 1e-6


def test_delta_is_zero_outside_the_users_tokens(tiny_classifier, batch_and_labels):
    batch, labels = batch_and_labels
    delta = pgd_delta(tiny_classifier, batch, labels, 1.0, "l2", 0.5, steps=3)
    untouched = ~batch["perturb_mask"]
    assert untouched[:, 0].all(), "[CLS] must never be perturbed"
    assert delta[untouched].abs().max() == 0


def test_eps_zero_gives_no_perturbation(tiny_classifier, batch_and_labels):
    batch, labels = batch_and_labels
    assert pgd_delta(tiny_classifier, batch, labels, 0.0, "l2", 0.1, steps=5).abs().max() == 0


def test_pgd_increases_the_loss(tiny_classifier, batch_and_labels):
    batch, labels = batch_and_labels
    model = tiny_classifier
    delta = pgd_delta(model, batch, labels, 1.0, "l2", 0.25, steps=10, random_start=False)
    with torch.no_grad():
        embeds = model.word_embeddings(batch["input_ids"])
        clean = torch.nn.functional.cross_entropy(model(batch, inputs_embeds=embeds), labels)
        adv = torch.nn.functional.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
    assert adv > clean


def test_projection_scales_only_vectors_outside_the_ball():
    delta = torch.tensor([[[3.0, 4.0]], [[0.3, 0.4]]])
    projected = project(delta, 1.0, "l2")
    assert torch.allclose(projected[0].norm(), torch.tensor(1.0))
    assert torch.equal(projected[1], delta[1])


def _context(task_name="embedded", eval_size=48):
    task = tasks.get(task_name)(eval_size=eval_size)
    data = task.load(None)
    return MeasureContext(
        task, data, seed=0, device="cpu", data_dir=None, artifact_dir=None, artifact_prefix="t"
    )


def test_eps_zero_robust_accuracy_equals_clean_and_sweep_never_rises(tiny_backbone):
    from tests.conftest import make_classifier

    model = make_classifier(tiny_backbone, seed=3)
    context = _context()
    attack = EmbeddingPGD(eps=[0.0, 0.1, 0.5, 1.0, 4.0], steps=3, batch_size=16)
    metrics = attack.run(model, context).metrics
    assert metrics["robust_accuracy@eps=0"] == metrics["clean_accuracy"]
    sweep = [metrics[f"robust_accuracy@eps={e:g}"] for e in attack.eps]
    assert all(a >= b for a, b in zip(sweep, sweep[1:], strict=False)), sweep
    assert sweep[-1] < sweep[0], "a large eps must break some predictions of a random model"


def test_fgsm_is_one_step_of_size_eps():
    attack = FGSM(eps=[0.5])
    assert attack.steps == 1 and attack.step_for(0.5) == 0.5 and not attack.random_start
    with pytest.raises(ValueError):
        FGSM(steps=2)


def test_negative_eps_is_rejected():
    with pytest.raises(ValueError, match="eps must be >= 0"):
        EmbeddingPGD(eps=[-0.1])


def test_restarts_count_the_worst_case_and_never_raise_robust_accuracy(tiny_backbone):
    from tests.conftest import make_classifier

    model = make_classifier(tiny_backbone, seed=3)
    one = EmbeddingPGD(eps=[0.5, 2.0], steps=2, batch_size=16).run(model, _context()).metrics
    three = EmbeddingPGD(eps=[0.5, 2.0], steps=2, restarts=3, batch_size=16)
    more = three.run(model, _context()).metrics
    for eps in ("0.5", "2"):
        assert more[f"robust_accuracy@eps={eps}"] <= one[f"robust_accuracy@eps={eps}"] + 1e-9


def test_restarts_without_a_random_start_are_refused():
    with pytest.raises(ValueError, match="random_start"):
        EmbeddingPGD(restarts=2, random_start=False)


def test_the_strength_check_runs_a_stronger_attack_beside_the_standard_one(tiny_backbone):
    from tests.conftest import make_classifier

    model = make_classifier(tiny_backbone, seed=3)
    attack = EmbeddingPGD(eps=[0.0, 0.5], steps=2, strength_check=True, batch_size=16)
    assert attack.stronger() == (4, 3)
    result = attack.run(model, _context())
    fields = result.outcomes.fields
    # Checked at the ensemble eps (default: the smallest above 0) only, never weaker.
    assert attack.checked_eps() == [0.5] and "strong:robust_accuracy@eps=0" not in fields
    standard, strong = fields["robust_accuracy@eps=0.5"], fields["strong:robust_accuracy@eps=0.5"]
    assert all(s <= a for s, a in zip(strong, standard, strict=True))
    tables = {c.table for c in result.columns}
    assert "detail:strength check (4 steps, 3 restarts)" in tables
    plain = EmbeddingPGD(eps=[0.0, 0.5], steps=2, batch_size=16).run(model, _context())
    assert plain.metrics["robust_accuracy@eps=0.5"] == result.metrics["robust_accuracy@eps=0.5"]
