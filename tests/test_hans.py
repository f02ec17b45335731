"""HANS: the official-format loader, the HANS-style generator, 3-to-2-way mapping, scoring."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.evaluations.hans import HANS
from robustbench_nlp.generators.hans import SUBCASES, generate_hans
from robustbench_nlp.measure.base import MeasureContext, Outcomes
from robustbench_nlp.run.plugins import attacks, tasks
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.hans import (
    HANS_COLUMNS,
    HANS_LABELS,
    read_hans,
    write_hans,
)
from tests.helpers import Always

PAPER_SUBCASES = {
    ("lexical_overlap", "non-entailment"): [
        "ln_subject/object_swap", "ln_preposition", "ln_relative_clause", "ln_passive",
        "ln_conjunction",
    ],
    ("lexical_overlap", "entailment"): [
        "le_relative_clause", "le_around_prepositional_phrase", "le_around_relative_clause",
        "le_conjunction", "le_passive",
    ],
    ("subsequence", "non-entailment"): [
        "sn_NP/S", "sn_PP_on_subject", "sn_relative_clause_on_subject", "sn_past_participle",
        "sn_NP/Z",
    ],
    ("subsequence", "entailment"): [
        "se_conjunction", "se_adjective", "se_understood_object", "se_relative_clause_on_obj",
        "se_PP_on_obj",
    ],
    ("constituent", "non-entailment"): [
        "cn_embedded_under_if", "cn_after_if_clause", "cn_embedded_under_verb", "cn_disjunction",
        "cn_adverb",
    ],
    ("constituent", "entailment"): [
        "ce_embedded_under_since", "ce_after_since_clause", "ce_embedded_under_verb",
        "ce_conjunction", "ce_adverb",
    ],
}  # fmt: skip
GOLD = {name: gold for (_, gold), names in PAPER_SUBCASES.items() for name in names}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[list[dict], Path]:
    rows = generate_hans(n_per_subcase=7, seed=3)
    path = tmp_path_factory.mktemp("hans") / "hans_style.tsv"
    write_hans(rows, path)
    return rows, path


def test_generator_has_the_papers_thirty_subcases():
    by_group: dict[tuple[str, str], list[str]] = {}
    for subcase in SUBCASES:
        by_group.setdefault((subcase.heuristic, subcase.gold), []).append(subcase.name)
    assert by_group == PAPER_SUBCASES


def test_generated_file_round_trips_through_the_official_loader(generated):
    rows, path = generated
    assert path.read_text().splitlines()[0].split("\t") == list(HANS_COLUMNS)
    loaded = read_hans(path)
    assert len(loaded) == len(rows) == 30 * 7
    for row, example in zip(rows, loaded, strict=True):
        assert (example.premise, example.hypothesis) == (row["sentence1"], row["sentence2"])
        assert (example.gold, example.heuristic, example.subcase) == (
            row["gold_label"],
            row["heuristic"],
            row["subcase"],
        )
        assert (example.template, example.pair_id) == (row["template"], row["pairID"])
    assert len({e.pair_id for e in loaded}) == len(loaded)


def test_each_subcase_has_the_requested_number_with_the_right_gold_label(generated):
    loaded = read_hans(generated[1])
    for name, gold in GOLD.items():
        examples = [e for e in loaded if e.subcase == name]
        assert len(examples) == 7, name
        assert {e.gold for e in examples} == {gold}, name


@pytest.mark.parametrize("n", [1, 40])
def test_generator_gives_exactly_n_per_subcase(n):
    rows = generate_hans(n_per_subcase=n, seed=0)
    counts = {s.name: sum(r["subcase"] == s.name for r in rows) for s in SUBCASES}
    assert set(counts.values()) == {n}


def test_generator_is_seeded_and_a_larger_n_extends_a_smaller_one():
    small, again = generate_hans(5, seed=1), generate_hans(5, seed=1)
    assert small == again
    assert generate_hans(5, seed=2) != small
    large = generate_hans(8, seed=1)
    for subcase in SUBCASES:
        pairs = [(r["sentence1"], r["sentence2"]) for r in small if r["subcase"] == subcase.name]
        bigger = [(r["sentence1"], r["sentence2"]) for r in large if r["subcase"] == subcase.name]
        assert bigger[:5] == pairs


def _tokens(sentence: str) -> list[str]:
    return [w.lower() for w in sentence.split() if w not in {".", ","}]


def _contiguous(needle: list[str], haystack: list[str]) -> bool:
    return any(haystack[i : i + len(needle)] == needle for i in range(len(haystack)))


def test_every_pair_fits_its_heuristic():
    """Lexical overlap: the hypothesis's words all occur in the premise; subsequence and
    constituent: the hypothesis is a contiguous run of the premise (a constituent is one)."""
    for row in generate_hans(60, seed=0):
        premise, hypothesis = _tokens(row["sentence1"]), _tokens(row["sentence2"])
        assert set(hypothesis) <= set(premise), row
        if row["heuristic"] in ("subsequence", "constituent"):
            assert _contiguous(hypothesis, premise), row
        assert row["sentence1"] != row["sentence2"]


def test_parse_columns_spell_the_sentences(generated):
    for row in generated[0]:
        for side in ("1", "2"):
            words = row[f"sentence{side}"].split()
            binary = [w for w in row[f"sentence{side}_binary_parse"].split() if w not in "()"]
            assert binary == words
            parse = row[f"sentence{side}_parse"]
            assert parse.startswith("(ROOT (S ") and parse.count("(") == parse.count(")")


def test_three_way_predictions_map_neutral_and_contradiction_to_non_entailment():
    gold = [Example("p", 0, "h"), Example("p", 1, "h"), Example("p", 1, "h"), Example("p", 0, "h")]
    predicted = ["entailment", "neutral", "contradiction", "neutral"]
    assert HANS().judge(predicted, gold, HANS_LABELS) == [True, True, True, False]


def _outcomes(rows: list[tuple[str, str, str]], correct: list[bool]) -> Outcomes:
    return Outcomes(
        [str(i) for i in range(len(rows))],
        {
            "correct": correct,
            "gold": [g for g, _, _ in rows],
            "heuristic": [h for _, h, _ in rows],
            "subcase": [c for _, _, c in rows],
            "heuristic_gold": [f"{h}/{g}" for g, h, _ in rows],
        },
    )


def test_accuracy_per_heuristic_label_and_subcase_on_a_hand_made_case():
    rows = [
        ("entailment", "lexical_overlap", "le_passive"),  # predicted ent: right
        ("entailment", "lexical_overlap", "le_passive"),  # predicted non: wrong
        ("non-entailment", "lexical_overlap", "ln_passive"),  # predicted ent: wrong
        ("non-entailment", "lexical_overlap", "ln_passive"),  # predicted ent: wrong
        ("non-entailment", "lexical_overlap", "ln_preposition"),  # predicted non: right
        ("entailment", "constituent", "ce_adverb"),  # predicted ent: right
        ("non-entailment", "subsequence", "sn_NP/S"),  # predicted non: right
    ]
    correct = [True, False, False, False, True, True, True]
    metrics = HANS().finish(_outcomes(rows, correct), _context()).metrics
    assert metrics["accuracy"] == pytest.approx(4 / 7)
    assert metrics["entailment"] == pytest.approx(2 / 3)
    assert metrics["non-entailment"] == pytest.approx(2 / 4)
    assert metrics["lexical_overlap/entailment"] == pytest.approx(1 / 2)
    assert metrics["lexical_overlap/non-entailment"] == pytest.approx(1 / 3)
    assert metrics["constituent/entailment"] == 1.0
    assert metrics["subsequence/non-entailment"] == 1.0
    assert "subsequence/entailment" not in metrics  # no examples: no number
    assert metrics["subcase/ln_passive"] == 0.0
    assert metrics["subcase/ln_preposition"] == 1.0
    assert metrics["subcase/le_passive"] == 0.5


# -- bad rows ------------------------------------------------------------------------------------
HEADER = "\t".join(HANS_COLUMNS)


def _row(gold="entailment", s1="The doctor slept .", s2="The doctor slept .", subcase="ce_adverb"):
    return "\t".join([gold, "(x)", "(x)", "(x)", "(x)", s1, s2, "ex0", "constituent", subcase, "t"])


@pytest.mark.parametrize(
    "lines, line, needle",
    [
        ([HEADER, _row(), _row(gold="neutral")], 3, "gold_label 'neutral'"),
        ([HEADER, _row(), _row(s2="  ")], 3, "sentence2"),
        ([HEADER, _row(s1="")], 2, "sentence1"),
        ([HEADER, _row(), "entailment\tonly two"], 3, "found 2"),
        ([HEADER.replace("\tsubcase", ""), _row()], 1, "lacks column(s) subcase"),
        ([HEADER, _row(subcase=" ")], 2, "subcase column is empty"),
    ],
)
def test_bad_hans_rows_are_reported_with_file_and_line(tmp_path, lines, line, needle):
    path = tmp_path / "hans.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as error:
        read_hans(path)
    assert f"{path}:{line}" in str(error.value)
    assert needle in str(error.value)


def test_an_empty_hans_file_is_refused(tmp_path):
    path = tmp_path / "hans.txt"
    path.write_text("")
    with pytest.raises(UserError, match="empty"):
        read_hans(path)


# -- the attack suite ----------------------------------------------------------------------------


def _context(task_name="snli_sick", data_dir=None):
    task = tasks.get(task_name)()
    return MeasureContext(task, None, 0, "cpu", data_dir, Path("."), "t")


@pytest.mark.parametrize("label, expect_entailment", [(0, True), (1, False), (2, False)])
def test_hans_attack_scores_a_constant_model_by_gold_label(label, expect_entailment):
    attack = HANS(n_per_subcase=3)
    result = attack.run(Always(label), _context())
    metrics = result.metrics
    assert result.n_examples == 90
    assert metrics["accuracy"] == 0.5
    assert metrics["entailment"] == float(expect_entailment)
    assert metrics["non-entailment"] == float(not expect_entailment)
    for heuristic in ("lexical_overlap", "subsequence", "constituent"):
        assert metrics[f"{heuristic}/entailment"] == float(expect_entailment)
    for name, gold in GOLD.items():
        assert metrics[f"subcase/{name}"] == float((gold == "entailment") == expect_entailment)
    tables = {c.table for c in result.columns}
    assert tables == {"main", "detail", "detail:subcases"}
    assert [c.key for c in result.columns if c.table == "main"] == ["accuracy"]
    assert sum(c.table == "detail:subcases" for c in result.columns) == 30


def test_hans_attack_reads_a_file_by_path_or_under_the_data_folder(tmp_path, generated):
    rows, path = generated
    folder = tmp_path / "data"
    (folder / "hans").mkdir(parents=True)
    (folder / "hans" / "eval.txt").write_text(path.read_text())
    direct = HANS(path=str(path)).run(Always(0), _context())
    relative = HANS(path="hans/eval.txt").run(Always(0), _context(data_dir=folder))
    assert direct.metrics == relative.metrics
    assert direct.n_examples == len(rows)
    subset = HANS(path=str(path), max_examples=50).run(Always(0), _context())
    assert subset.n_examples == 50


def test_hans_attack_names_a_missing_file():
    with pytest.raises(UserError, match="no such file"):
        HANS(path="nowhere/hans.txt").run(Always(0), _context())


def test_hans_attack_needs_an_entailment_label():
    with pytest.raises(UserError, match="entailment"):
        HANS(n_per_subcase=1).preflight(None, tasks.get("embedded")())


def test_hans_attack_runs_a_real_tiny_classifier(tiny_backbone):
    from tests.conftest import make_classifier

    model = make_classifier(tiny_backbone, num_labels=3)
    result = attacks.get("hans")(n_per_subcase=2, batch_size=16).run(model, _context())
    assert result.n_examples == 60
    assert 0.0 <= result.metrics["accuracy"] <= 1.0


def test_the_generated_set_is_titled_hans_style_and_only_the_official_file_hans(tmp_path):
    from robustbench_nlp.report.leaderboard import column_title
    from robustbench_nlp.run.suite import load_suite

    official = tmp_path / "hans.txt"
    write_hans(generate_hans(1, seed=0), official)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nbackbone: tiny\ntask: {name: snli_sick}\nrecipes: [{name: baseline}]\n"
        f"attacks: [{{name: hans}}, {{name: hans, label: official, params: {{path: {official}}}}}]"
    )
    generated, file = load_suite(suite).attacks[1:]
    assert (generated.label, file.label) == ("HANS-style", "official")
    rows = {"generated": generated, "file": file}
    titles = {}
    for name, variant in rows.items():
        result = variant.plugin.run(Always(0), _context())
        record = SimpleNamespace(attack=SimpleNamespace(label=variant.label, name="hans"))
        titles[name] = column_title(record, result.columns[0])
    assert titles == {"generated": "HANS-style (generated)", "file": "official"}
    assert load_suite(suite, ["attacks.1.label=null"]).attacks[2].label == "HANS"
