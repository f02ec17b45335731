"""The STS evaluation: file formats, the SentEval "all" aggregation, Spearman x 100, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.evaluations.sts import STS, encode
from robustbench_nlp.measure.base import MeasureContext, select_examples
from robustbench_nlp.run.plugins import attacks, tasks
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.sts import STSB, YEARS, load_sts
from tests.conftest import make_classifier

#: Pairs of every fake subset: (sentence1, sentence2, gold line); an empty gold line = no score.
FAKE_PAIRS = [
    ("a man is playing a guitar .", "a man plays the guitar .", "4.8"),
    ("a woman is slicing an onion .", "a man is riding a horse .", "0.2"),
    ("the cat sits on the mat .", "a cat is sitting on a mat .", ""),
    ("two dogs run in the snow .", "dogs are running through snow .", "3.9"),
    ("a child reads a book", "the stock market fell sharply today", "0.0"),
]


def write_fake_sts(root: Path) -> Path:
    """The layout of ../shared/data with five pairs per STS subset and an STS-B test file."""
    for year, subsets in YEARS.items():
        folder = root / "sts" / f"{year}-en-test"
        folder.mkdir(parents=True, exist_ok=True)
        for subset in subsets:
            (folder / f"STS.input.{subset}.txt").write_text(
                "".join(f"{a}\t{b}\n" for a, b, _ in FAKE_PAIRS)
            )
            (folder / f"STS.gs.{subset}.txt").write_text("".join(f"{g}\n" for *_, g in FAKE_PAIRS))
    stsb = root / "stsb"
    stsb.mkdir(parents=True, exist_ok=True)
    rows = [
        "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is "
        "taking off.",
        "main-forums\tanswer-answer\t2016\t0008\t3\tIt depends on the school.\tIt really depends "
        "on the program.\tStackExchange Network: http://x\tStackExchange Network: http://y",
        "main-news\theadlines\t2015\t0002\t0.400\tStocks fall in Asia.\tA man walks his dog.",
    ]
    (stsb / "sts-test.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def fake_sts(tmp_path) -> Path:
    return write_fake_sts(tmp_path / "data")


def context(data_dir: Path | None) -> MeasureContext:
    task = tasks.get("embedded")(train_size=8, eval_size=8)
    return MeasureContext(task, task.load(None), 0, "cpu", data_dir, Path("."), "cell")


def test_real_sts_files_load_with_the_documented_pair_counts(shared_data):
    loaded = load_sts(shared_data)
    counts = {name: sum(len(p.scores) for p in subsets) for name, subsets in loaded.items()}
    assert counts == {
        "STS12": 3108,
        "STS13": 1500,
        "STS14": 3750,
        "STS15": 3000,
        "STS16": 1186,
        STSB: 1379,
    }
    for subsets in loaded.values():
        for pairs in subsets:
            assert len(pairs.first) == len(pairs.second) == len(pairs.scores)
            assert all(0.0 <= s <= 5.0 for s in pairs.scores)
            assert all(s.strip() == s and s for s in pairs.first + pairs.second)


def test_empty_gold_lines_are_skipped_and_stsb_extra_fields_ignored(fake_sts):
    loaded = load_sts(fake_sts)
    mrpar = loaded["STS12"][0]
    assert mrpar.name == "STS12/MSRpar"
    assert mrpar.scores == [4.8, 0.2, 3.9, 0.0]
    assert "the cat sits on the mat ." not in mrpar.first
    stsb = loaded[STSB][0]
    assert stsb.scores == [5.0, 3.0, 0.4]
    assert stsb.first[1] == "It depends on the school."
    assert stsb.second[1] == "It really depends on the program."


def test_a_missing_file_names_the_file_and_the_data_dir_fix(fake_sts):
    missing = fake_sts / "sts" / "STS14-en-test" / "STS.gs.images.txt"
    missing.unlink()
    with pytest.raises(UserError) as error:
        load_sts(fake_sts)
    assert str(missing) in str(error.value) and "--data-dir" in str(error.value)
    with pytest.raises(UserError, match="--data-dir"):
        load_sts(None)
    (fake_sts / "stsb" / "sts-test.csv").unlink()
    with pytest.raises(UserError, match="sts-test.csv"):
        load_sts(fake_sts, ["STS-B"])


def test_bad_rows_are_reported_with_file_and_line(fake_sts):
    gold = fake_sts / "sts" / "STS13-en-test" / "STS.gs.FNWN.txt"
    gold.write_text("4.0\nnot-a-score\n\n1.0\n2.0\n")
    with pytest.raises(UserError, match=r"STS.gs.FNWN.txt:2: gold score 'not-a-score'"):
        load_sts(fake_sts, ["STS13"])
    gold.write_text("4.0\n")
    with pytest.raises(UserError, match="one line per pair"):
        load_sts(fake_sts, ["STS13"])
    (fake_sts / "stsb" / "sts-test.csv").write_text("a\tb\tc\n")
    with pytest.raises(UserError, match=r"sts-test.csv:1: expected genre"):
        load_sts(fake_sts, ["STS-B"])


def test_batched_encoding_equals_one_sentence_at_a_time(tiny_backbone):
    model = make_classifier(tiny_backbone)
    sentences = [a for a, *_ in FAKE_PAIRS] + ["short", "a much longer sentence " * 5]
    together = encode(model, sentences, batch_size=3)
    with torch.inference_mode():
        alone = torch.cat([model.represent(model.tokenize([Example(s, 0)])) for s in sentences])
    assert torch.allclose(together, alone, atol=1e-5)


def test_sts_scores_spearman_of_cosine_over_each_years_concatenation(tiny_backbone, fake_sts):
    model = make_classifier(tiny_backbone)
    attack = STS(sets=["STS12", "STS-B"])
    result = attack.run(model, context(fake_sts))
    loaded = load_sts(fake_sts, ["STS12", "STS-B"])

    def cosines(pairs):
        with torch.inference_mode():
            a = model.represent(model.tokenize([Example(s, 0) for s in pairs.first]))
            b = model.represent(model.tokenize([Example(s, 0) for s in pairs.second]))
        return F.cosine_similarity(a, b, dim=-1).tolist()

    predicted = [c for pairs in loaded["STS12"] for c in cosines(pairs)]
    gold = [s for pairs in loaded["STS12"] for s in pairs.scores]
    expected_12 = spearmanr(predicted, gold)[0]
    expected_b = spearmanr(cosines(loaded[STSB][0]), loaded[STSB][0].scores)[0]
    assert result.metrics["spearman/STS12"] == pytest.approx(expected_12, abs=1e-4)
    assert result.metrics["spearman/STS-B"] == pytest.approx(expected_b, abs=1e-4)
    assert result.metrics["spearman/avg"] == pytest.approx((expected_12 + expected_b) / 2, 1e-4)
    assert "spearman/STS12/MSRpar" in result.metrics
    assert result.n_examples == 5 * 4 + 3
    assert [c.label for c in result.columns] == ["STS12", "STS-B", "STS avg"]
    assert all(c.percent and c.table == "main" for c in result.columns)


def test_max_examples_selects_pairs_across_the_chosen_sets(tiny_backbone, fake_sts):
    attack = STS(sets=["STS13"], max_examples=2)
    result = attack.run(make_classifier(tiny_backbone), context(fake_sts))
    assert result.n_examples == 2
    assert result.outcomes.ids == [
        e.id for e in select_examples(attack.examples(context(fake_sts)), 2)
    ]
    assert [c.label for c in result.columns] == ["STS13", "STS avg"]


def test_sts_is_registered_and_validates_its_sets():
    cls = attacks.get("sts")
    assert cls is STS
    with pytest.raises(ValueError):
        cls(sets=["STS17"])
    with pytest.raises(ValueError):
        cls(sets=["STS12", "STS12"])


def test_an_undefined_spearman_is_left_out_and_noted_not_zero(tiny_backbone, fake_sts):
    """A constant prediction has no rank correlation: no number, and a note saying why."""
    from robustbench_nlp.evaluations.sts import spearman

    assert math.isnan(spearman([0.5, 0.5, 0.5], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([0.1, 0.2], [3.0, 3.0]))
    model = make_classifier(tiny_backbone)
    attack = STS(sets=["STS-B"])
    ctx = context(fake_sts)
    with torch.no_grad():  # every sentence the same vector: constant cosine
        model.encoder.get_input_embeddings().weight.zero_()
        for p in model.encoder.encoder.parameters():
            p.zero_()
    result = attack.run(model, ctx)
    assert "spearman/STS-B" not in result.metrics and "spearman/avg" not in result.metrics
    assert any("spearman/STS-B: Spearman undefined" in note for note in result.notes)


def test_a_pair_trained_promptbert_is_scored_on_sts_with_its_sentence_template(
    tiny_backbone, fake_sts
):
    from robustbench_nlp.model.classifier import ClassifierSpec
    from robustbench_nlp.recipes.promptbert import PAIR_TEMPLATE, TEMPLATE, PromptBERT

    spec = PromptBERT().classifier_spec(tasks.get("snli_sick")())
    assert (spec.template, spec.sentence_template) == (PAIR_TEMPLATE, TEMPLATE)
    pair_model = make_classifier(tiny_backbone, **_prompt(spec))
    single_spec = ClassifierSpec(2, "mask", template=TEMPLATE, denoise=spec.denoise)
    single = make_classifier(tiny_backbone, **_prompt(single_spec))
    attack = STS(sets=["STS-B"])
    ours = attack.run(pair_model, context(fake_sts)).outcomes.fields["cosine"]
    expected = attack.run(single, context(fake_sts)).outcomes.fields["cosine"]
    assert ours == expected  # same encoder, the single-sentence template

    no_sentence = make_classifier(tiny_backbone, pooling="mask", template=PAIR_TEMPLATE)
    with pytest.raises(UserError, match="has no single-sentence template"):
        attack.run(no_sentence, context(fake_sts))


def _prompt(spec) -> dict:
    return {
        "pooling": "mask",
        "template": spec.template,
        "denoise": spec.denoise,
        "sentence_template": spec.sentence_template,
    }
