"""SCAL, USCAL, PromptBERT and the untrained row: their mathematics on small hand-checkable cases,
a few training steps each on the tiny backbone, and a tiny suite with all of them end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.classifier import Classifier, ClassifierSpec
from robustbench_nlp.recipes import scal as scal_module
from robustbench_nlp.recipes import uscal as uscal_module
from robustbench_nlp.recipes.base import TrainContext
from robustbench_nlp.recipes.contrastive import (
    fgm_delta,
    info_nce,
    projection_head,
    unlabelled_sentences,
)
from robustbench_nlp.recipes.promptbert import TEMPLATE, PromptBERT, with_template
from robustbench_nlp.recipes.unsupervised import doubled
from robustbench_nlp.recipes.uscal import USCAL
from robustbench_nlp.report.leaderboard import write_leaderboard
from robustbench_nlp.run.plugins import recipes, tasks
from robustbench_nlp.run.runner import Runner
from robustbench_nlp.run.suite import load_suite
from robustbench_nlp.tasks.base import Example
from tests.conftest import make_classifier
from tests.test_sts import write_fake_sts


def context_for(backbone, train_size: int = 16, seed: int = 0) -> TrainContext:
    task = tasks.get("embedded")(train_size=train_size, eval_size=8)
    return TrainContext(task, task.load(None), backbone, seed)


def capture(monkeypatch, module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Record (gradient, delta) of every ``fgm_delta`` call made by ``module``."""
    calls = []

    def recording(grad, mask, eps, *scope):
        delta = fgm_delta(grad, mask, eps, *scope)
        calls.append((grad.detach().clone(), delta))
        return delta

    monkeypatch.setattr(module, "fgm_delta", recording)
    return calls


# -- InfoNCE and the perturbation -------------------------------------------------------------


def test_info_nce_matches_a_hand_computation():
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[3.0, 0.0], [1.0, 1.0]])  # cosines: 1, 1/sqrt2 / 0, 1/sqrt2
    tau = 0.5
    row0 = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(math.sqrt(2))))
    row1 = -math.log(math.exp(math.sqrt(2)) / (math.exp(0.0) + math.exp(math.sqrt(2))))
    assert info_nce(anchor, positive, tau).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # Cosine similarity: the scale of the vectors does not matter; the temperature does.
    assert info_nce(5 * anchor, positive / 7, tau).item() == pytest.approx((row0 + row1) / 2)
    assert info_nce(anchor, positive, 0.05).item() < info_nce(anchor, positive, tau).item()


def test_fgm_delta_has_norm_eps_along_the_gradient_on_perturbed_tokens_only():
    torch.manual_seed(0)
    grad = torch.randn(3, 4, 5)
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    delta = fgm_delta(grad, mask, eps=0.3)
    norms = delta.flatten(1).norm(dim=1)
    assert norms[:2].tolist() == pytest.approx([0.3, 0.3], rel=1e-5)
    assert norms[2] == 0  # nothing to perturb: no perturbation
    assert (delta[~mask] == 0).all()
    masked = grad * mask.unsqueeze(-1)
    for i in range(2):  # the same direction as the gradient (cosine 1)
        cosine = F.cosine_similarity(delta[i].flatten(), masked[i].flatten(), dim=0)
        assert cosine.item() == pytest.approx(1.0, abs=1e-6)
    assert (fgm_delta(grad, mask, eps=0.0) == 0).all()


def test_unlabelled_sentences_splits_pairs_and_drops_duplicates():
    rows = [Example("p", 1, "h1"), Example("p", 2, "h2"), Example("q", 0), Example("h1", 0)]
    assert [e.text for e in unlabelled_sentences(rows)] == ["p", "h1", "h2", "q"]
    assert all(e.label == 0 and e.pair is None for e in unlabelled_sentences(rows))


def test_projection_head_exists_only_inside_its_block(tiny_classifier):
    before = set(tiny_classifier.state_dict())
    with projection_head(tiny_classifier, True) as head:
        assert tiny_classifier.projection is head
        assert any(n.startswith("projection.") for n, _ in tiny_classifier.named_parameters())
    assert set(tiny_classifier.state_dict()) == before
    with projection_head(tiny_classifier, False) as head:
        assert isinstance(head, nn.Identity)


# -- SCAL -------------------------------------------------------------------------------------


def test_scal_loss_is_the_sum_of_its_three_hand_computed_parts(
    tiny_backbone, sentences, monkeypatch
):
    model = make_classifier(tiny_backbone).eval()  # no dropout: every pass is reproducible
    recipe = recipes.get("scal")(eps=0.5, lam=0.7, temperature=0.1, norm_scope="example")
    calls = capture(monkeypatch, scal_module)
    loss, logs = recipe.classification_loss(model, sentences)

    batch = model.tokenize(sentences)
    labels = torch.tensor([e.label for e in sentences])
    embeds = model.word_embeddings(batch["input_ids"]).detach().requires_grad_(True)
    ce = F.cross_entropy(model(batch, inputs_embeds=embeds), labels)
    (grad,) = torch.autograd.grad(ce, embeds)
    mask = batch["perturb_mask"].unsqueeze(-1)
    delta = 0.5 * grad * mask / (grad * mask).flatten(1).norm(dim=1).view(-1, 1, 1)
    ce_adv = F.cross_entropy(model(batch, inputs_embeds=embeds + delta), labels)
    nce = info_nce(model.represent(batch, embeds), model.represent(batch, embeds + delta), 0.1)

    assert torch.allclose(calls[0][0], grad, atol=1e-6)  # g is the clean CE's input gradient
    assert torch.allclose(calls[0][1], delta, atol=1e-6)
    assert logs["ce"] == pytest.approx(ce.item(), rel=1e-5)
    assert logs["ce_adv"] == pytest.approx(ce_adv.item(), rel=1e-5)
    assert logs["nce"] == pytest.approx(nce.item(), rel=1e-5)
    assert loss.item() == pytest.approx((ce + ce_adv + 0.7 * nce).item(), rel=1e-5)
    assert ce_adv.item() > ce.item()  # one ascent step raises the loss


def test_scal_batch_scope_normalises_the_embedding_matrix_gradient_once(tiny_backbone, sentences):
    """The reference FGM: the gradient w.r.t. the embedding matrix (rows summed over a token's
    occurrences) normalised once over the batch; the per-example scope gives each example eps."""
    model = make_classifier(tiny_backbone).eval()
    batch = model.tokenize(sentences)
    mask = batch["perturb_mask"]
    grad = torch.randn(*batch["input_ids"].shape, model.encoder.config.hidden_size)
    per_example = fgm_delta(grad, mask, 0.5, "example", batch["input_ids"])
    assert torch.allclose(per_example.flatten(1).norm(dim=1), torch.full((len(sentences),), 0.5))

    delta = fgm_delta(grad, mask, 0.5, "batch", batch["input_ids"])
    ids, masked = batch["input_ids"][mask], (grad * mask.unsqueeze(-1))[mask]
    matrix = torch.zeros(model.tokenizer.vocab_size, grad.size(-1)).index_add_(0, ids, masked)
    expected = 0.5 * matrix / matrix.norm()
    assert torch.allclose(delta[mask], expected[ids], atol=1e-6)  # each occurrence gets its row
    assert torch.all(delta[~mask] == 0)
    assert torch.unique(batch["input_ids"][mask]).numel() < mask.sum()  # a token repeats here
    # Normalised once over the batch: every example gets much less than eps.
    assert torch.all(delta.flatten(1).norm(dim=1) < 0.5)
    assert expected.norm().item() == pytest.approx(0.5, rel=1e-5)


def test_scal_defaults_to_the_reference_batch_scope(tiny_backbone, sentences, monkeypatch):
    recipe = recipes.get("scal")()
    assert recipe.norm_scope == "batch" and recipe.version == 2
    model = make_classifier(tiny_backbone).eval()
    calls = capture(monkeypatch, scal_module)
    recipe.classification_loss(model, sentences)
    _, delta = calls[0]
    assert delta.flatten(1).norm(dim=1).max().item() < recipe.eps


def test_scal_with_eps_zero_is_two_clean_losses_and_an_identity_contrast(tiny_backbone, sentences):
    model = make_classifier(tiny_backbone).eval()
    terms = recipes.get("scal")(eps=0.0).losses(model, sentences)
    assert terms["ce_adv"].item() == pytest.approx(terms["ce"].item(), rel=1e-6)
    clean = model.represent(model.tokenize(sentences))
    assert terms["nce"].item() == pytest.approx(info_nce(clean, clean, 0.05).item(), rel=1e-5)


# -- USCAL ------------------------------------------------------------------------------------


def test_uscal_views_differ_by_dropout_and_coincide_in_eval_mode(tiny_backbone, sentences):
    model = make_classifier(tiny_backbone)
    batch = doubled(model.tokenize(sentences))
    model.train()
    z1, z2 = model.represent(batch).chunk(2)
    assert not torch.allclose(z1, z2, atol=1e-4)
    model.eval()
    z1, z2 = model.represent(batch).chunk(2)
    assert torch.allclose(z1, z2, atol=1e-6)


def test_uscal_loss_and_its_gradient_through_both_views(tiny_backbone, sentences, monkeypatch):
    model = make_classifier(tiny_backbone).eval()
    recipe = recipes.get("uscal")(eps=0.2, alpha=0.4, temperature=0.1)
    calls = capture(monkeypatch, uscal_module)
    loss, logs = recipe.unsupervised_step(model, nn.Identity())(model, sentences)

    batch = model.tokenize(sentences)
    embeds = model.word_embeddings(batch["input_ids"]).detach().requires_grad_(True)
    z1, z2 = model.represent(doubled(batch), torch.cat([embeds, embeds])).chunk(2)
    simcse = info_nce(z1, z2, 0.1)
    (grad,) = torch.autograd.grad(simcse, embeds)  # e feeds both views: the sum of both
    delta = fgm_delta(grad, batch["perturb_mask"], 0.2)
    z3 = model.represent(batch, embeds + delta)

    assert torch.allclose(calls[0][0], grad, atol=1e-6)
    assert calls[0][1].flatten(1).norm(dim=1).tolist() == pytest.approx([0.2] * 4, rel=1e-5)
    assert logs["simcse"] == pytest.approx(simcse.item(), rel=1e-5)
    assert logs["adv1"] == pytest.approx(info_nce(z1, z3, 0.1).item(), rel=1e-5)
    assert logs["adv2"] == pytest.approx(info_nce(z2, z3, 0.1).item(), rel=1e-5)
    expected = logs["simcse"] + 0.4 * (logs["adv1"] + logs["adv2"])
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_uscal_alpha_must_stay_below_one_and_projection_follows_simcse():
    uscal = recipes.get("uscal")
    with pytest.raises(ValueError):
        uscal(alpha=1.0)
    assert uscal(pooling="cls").uses_projection() and not uscal().uses_projection()
    assert uscal(projection=True).uses_projection()


# -- PromptBERT -------------------------------------------------------------------------------


def prompt_classifier(backbone, template=TEMPLATE, denoise=False, max_length=64) -> Classifier:
    spec = ClassifierSpec(
        2, pooling="mask", template=template, denoise=denoise, max_length=max_length
    )
    return Classifier(backbone.load_encoder(seed=0), backbone.load_tokenizer(), spec).eval()


def test_mask_index_is_right_for_every_sentence_length_after_truncation(tiny_backbone):
    model = prompt_classifier(tiny_backbone, max_length=20)
    tok = model.tokenizer
    prefix = tok('This sentence : "', add_special_tokens=False)["input_ids"]
    suffix = tok('" means [MASK] .', add_special_tokens=False)["input_ids"]
    budget = 20 - len(prefix) - len(suffix) - 2
    examples = [Example(" ".join(["word"] * n), 0) for n in range(1, 30)]
    examples.append(Example("a [MASK] inside the sentence itself", 0))
    batch = model.tokenize(examples)
    width = batch["input_ids"].size(1)
    # hidden state t at position t: pooling returns the index it read
    hidden = torch.arange(width, dtype=torch.float).view(1, -1, 1).expand(len(examples), -1, 3)
    read = model.pool(hidden, batch)[:, 0].long().tolist()
    for row, example in enumerate(examples):
        length = min(len(tok(example.text, add_special_tokens=False)["input_ids"]), budget)
        expected = 1 + len(prefix) + length + suffix.index(tok.mask_token_id)
        assert read[row] == expected
        assert batch["input_ids"][row, expected] == tok.mask_token_id
        assert int(batch["perturb_mask"][row].sum()) == length
        assert int(batch["attention_mask"][row].sum()) <= 20


def prompt_bert_delta(model: Classifier, length: int) -> torch.Tensor:
    """Prompt-BERT's ``get_delta`` for one sentence length, written out: the template alone,
    positions after the sentence's place shifted by its length; [MASK]'s last hidden state."""
    tok = model.tokenizer
    prefix = tok('This sentence : "', add_special_tokens=False)["input_ids"]
    suffix = tok('" means [MASK] .', add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tok.cls_token_id, *prefix, *suffix, tok.sep_token_id]])
    positions = torch.arange(ids.size(1)).unsqueeze(0)
    positions[:, len(prefix) + 1 :] += length
    hidden = model.encoder(input_ids=ids, position_ids=positions).last_hidden_state
    return hidden[ids == tok.mask_token_id][0]


def test_denoising_subtracts_exactly_the_template_state(tiny_backbone, sentences):
    raw = prompt_classifier(tiny_backbone)
    denoised = prompt_classifier(tiny_backbone, denoise=True)
    denoised.load_state_dict(raw.state_dict())
    batch = raw.tokenize(sentences)
    with torch.no_grad():
        difference = raw.represent(batch) - denoised.represent(batch)
        for row, length in enumerate(batch["perturb_mask"].sum(1).tolist()):
            assert torch.allclose(difference[row], prompt_bert_delta(raw, length), atol=1e-5)


def test_denoising_a_pair_template_shifts_by_both_sentences(tiny_backbone):
    template = '"[X]" ? [MASK] , "[Y]" .'
    model = prompt_classifier(tiny_backbone, template=template, denoise=True)
    batch = model.tokenize([Example("a b c", 0, "d e"), Example("a", 0, "b c d e")])
    state = model.template_state(batch)
    keep = batch["attention_mask"].bool() & ~batch["perturb_mask"]
    for row in range(2):
        ids = batch["input_ids"][row][keep[row]].unsqueeze(0)
        positions = torch.nonzero(keep[row]).view(1, -1)
        hidden = model.encoder(input_ids=ids, position_ids=positions).last_hidden_state
        assert torch.allclose(
            state[row], hidden[ids == model.tokenizer.mask_token_id][0], atol=1e-5
        )
    assert not torch.allclose(state[0], state[1])  # same total length, different shifts


def test_denoise_needs_mask_pooling():
    with pytest.raises(UserError, match="denoise"):
        ClassifierSpec(2, pooling="mean", denoise=True)


def test_promptbert_step_contrasts_the_two_templates(tiny_backbone, sentences):
    recipe = PromptBERT(temperature=0.1)
    model = prompt_classifier(tiny_backbone, denoise=True)
    loss, logs = recipe.unsupervised_step(model, nn.Identity())(model, sentences)
    positive = with_template(model, recipe.positive_template)
    assert positive.encoder is model.encoder and positive.spec.denoise
    anchor = model.represent(model.tokenize(sentences))
    other = positive.represent(positive.tokenize(sentences))
    assert loss.item() == pytest.approx(info_nce(anchor, other, 0.1).item(), rel=1e-5)


def test_promptbert_templates_are_checked():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        PromptBERT(template='This sentence : "[X]" means .')
    with pytest.raises(ValueError, match=r"\[Y\]"):
        PromptBERT(template='"[X]" and "[Y]" mean [MASK] .')
    with pytest.raises(ValueError, match=r"\[Y\]"):
        PromptBERT(pair_template='"[X]" means [MASK] .')


def test_promptbert_uses_the_pair_template_for_sentence_pairs():
    class Pairs(tasks.get("embedded")):
        is_pair = True

    recipe = PromptBERT()
    assert recipe.classifier_spec(Pairs()).template == recipe.pair_template
    assert recipe.classifier_spec(tasks.get("embedded")()).template == recipe.template


# -- training a few steps ---------------------------------------------------------------------


def changed(before: dict[str, torch.Tensor], model: nn.Module, prefix: str) -> bool:
    after = model.state_dict()
    return any(not torch.equal(v, after[k]) for k, v in before.items() if k.startswith(prefix))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "params", "phases"),
    [
        ("scal", {}, ["train"]),
        ("uscal", {"unsup_max_steps": 2, "unsup_batch_size": 4}, ["unsupervised", "train"]),
        (
            "uscal",
            {"unsup_max_steps": 2, "unsup_batch_size": 4, "pooling": "cls"},
            ["unsupervised", "train"],
        ),
        ("promptbert", {"unsup_max_steps": 2, "unsup_batch_size": 4}, ["unsupervised", "train"]),
        ("pretrained", {}, ["train"]),
    ],
)
def test_each_recipe_trains_a_few_steps(tiny_backbone, name, params, phases):
    context = context_for(tiny_backbone)
    recipe = recipes.get(name)(max_steps=2, batch_size=4, **params)
    initial = snapshot(recipe.build_classifier(context))
    model = recipe.train(context)
    assert list(context.logs) == phases
    assert set(model.state_dict()) == set(initial)  # no projection head left behind
    assert changed(initial, model, "encoder.") == (name != "pretrained")
    assert not model.training
    for phase in phases:
        assert context.logs[phase]["steps"] == (0 if name == "pretrained" else 2)
    probs = model.predict_proba(context.data.eval)
    assert probs.shape == (8, 2) and torch.isfinite(probs).all()


AFTER_PHASE_ONE: dict[str, torch.Tensor] = {}


class RecordingUSCAL(USCAL):
    """USCAL that remembers its weights between the two phases."""

    def train_unsupervised(self, model, sentences, context):
        super().train_unsupervised(model, sentences, context)
        AFTER_PHASE_ONE.clear()
        AFTER_PHASE_ONE.update(snapshot(model))


@pytest.mark.parametrize("head", ["linear", "none"])
def test_head_phase_linear_keeps_the_encoder_and_none_skips_it(tiny_backbone, head):
    context = context_for(tiny_backbone)
    recipe = RecordingUSCAL(
        max_steps=2, batch_size=4, unsup_max_steps=1, unsup_batch_size=4, head=head
    )
    model = recipe.train(context)
    phases = ["unsupervised"] if head == "none" else ["unsupervised", "train"]
    assert AFTER_PHASE_ONE and list(context.logs) == phases
    assert not changed(AFTER_PHASE_ONE, model, "encoder.")
    assert changed(AFTER_PHASE_ONE, model, "head.") == (head == "linear")
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_the_unsupervised_phase_is_its_own_schedule(tiny_backbone):
    context = context_for(tiny_backbone, train_size=20)
    recipe = recipes.get("uscal")(max_steps=1, batch_size=4, unsup_batch_size=8, head="none")
    recipe.train(context)
    # One epoch of its own batches: every sentence once, so 8 + 8 + 4.
    assert context.logs["unsupervised"]["steps"] == 3


def test_pretrained_rejects_a_bad_representation_when_built():
    with pytest.raises(ValueError, match="template"):
        recipes.get("pretrained")(pooling="mask")


# -- suites -----------------------------------------------------------------------------------

SUITE = """\
name: contrastive
backbone: tiny
task: {{name: embedded, params: {{train_size: 12, eval_size: 8}}}}
recipes:
  - {{name: baseline, params: {{max_steps: 1, batch_size: 4}}}}
  - name: scal
    params: {{max_steps: 1, batch_size: 4}}
    sweep: {{eps: [0.1, 0.3]}}
  - {{name: uscal, params: {{max_steps: 1, batch_size: 4, unsup_max_steps: 1,
      unsup_batch_size: 4}}}}
  - {{name: promptbert, params: {{max_steps: 1, batch_size: 4, unsup_max_steps: 1,
      unsup_batch_size: 4, max_length: 32}}}}
  - {{name: pretrained, label: untrained}}
attacks:
  - {{name: sts, params: {{sets: [STS12, STS-B]}}}}
  - {{name: fgsm, params: {{eps: [0.5], max_examples: 8}}}}
output: {output}
"""


def test_a_sweep_over_eps_gives_one_row_per_value(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(output=tmp_path / "out"))
    suite = load_suite(path)
    labels = [v.label for v in suite.recipes]
    assert labels[1:3] == ["scal (eps=0.1)", "scal (eps=0.3)"]
    assert [v.plugin.eps for v in suite.recipes[1:3]] == [0.1, 0.3]
    suite = load_suite(path, ["recipes.2.sweep={alpha: [0.1, 0.9]}"])
    assert [v.label for v in suite.recipes if v.plugin.plugin_name == "uscal"] == [
        "uscal (alpha=0.1)",
        "uscal (alpha=0.9)",
    ]


def test_the_runner_runs_every_recipe_end_to_end(tmp_path):
    data = write_fake_sts(tmp_path / "data")
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(output=tmp_path / "out"))
    suite = load_suite(path)
    summary = Runner(suite, data).run()
    assert not summary.failed
    assert len(summary.computed) == 6 * 3  # recipes (with the sweep) x (clean, sts, fgsm)
    board = json.loads(write_leaderboard(tmp_path / "out")[2].read_text())
    rows = {row["recipe"]: row["metrics"] for row in board["rows"]}
    assert set(rows) == {
        "baseline",
        "scal (eps=0.1)",
        "scal (eps=0.3)",
        "uscal",
        "promptbert",
        "untrained",
    }
    for metrics in rows.values():
        assert -1 <= metrics["sts:spearman/avg"]["mean"] <= 1
    markdown = (tmp_path / "out.md").read_text()
    assert "STS avg" in markdown and "STS-B" in markdown
    # A rerun reuses every checkpoint and cell.
    assert not Runner(load_suite(path), data).run().computed


def test_checkpointed_promptbert_reloads_with_its_denoising(tmp_path, tiny_backbone, sentences):
    from robustbench_nlp.model.checkpoints import CheckpointStore

    context = context_for(tiny_backbone)
    model = PromptBERT(max_steps=1, batch_size=4, unsup_max_steps=1, unsup_batch_size=4).train(
        context
    )
    store = CheckpointStore(tmp_path / "ckpt")
    store.save("k", model, {})
    loaded = store.load("k")
    assert loaded.spec == model.spec and loaded.spec.denoise
    batch = model.tokenize(sentences)
    with torch.no_grad():
        assert torch.allclose(model.represent(batch), loaded.represent(batch), atol=1e-5)
    # A classifier.json written before ``denoise`` existed still loads, without denoising.
    saved = {k: v for k, v in model.spec.to_dict().items() if k != "denoise"}
    assert ClassifierSpec(**saved).denoise is False
