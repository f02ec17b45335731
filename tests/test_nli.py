"""NLI: the SNLI / SICK / ANLI loaders, the NLI tasks, the ANLI and eval_task suites, pair PGD,
and the NLI suite end to end on a tiny backbone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robustbench_nlp.attacks.embedding_pgd import pgd_delta
from robustbench_nlp.cli import main
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.evaluations.anli import ANLI
from robustbench_nlp.evaluations.eval_task import EvalTask
from robustbench_nlp.measure.base import MeasureContext, select_examples
from robustbench_nlp.run.plugins import tasks
from robustbench_nlp.run.suite import load_suite
from robustbench_nlp.tasks.base import Example
from robustbench_nlp.tasks.nli import (
    MNLI,
    SICK,
    SNLI,
    SNLISICK,
    read_anli_jsonl,
    read_sick,
    read_snli_tsv,
)
from tests.helpers import Always

REPO = Path(__file__).resolve().parent.parent

SNLI_ROWS = [
    ("A man plays a guitar on stage.", "A man is playing music.", 0),
    ("A man plays a guitar on stage.", "The man is famous.", 1),
    ("A man plays a guitar on stage.", "A woman sleeps at home.", 2),
    ("Two dogs run through a field.", "Animals are outside.", 0),
    ("Two dogs run through a field.", "The dogs are chasing a ball.", 1),
    ("Two dogs run through a field.", "The dogs are asleep.", 2),
]
ANLI_LETTERS = "enc"


def snli_text(rows=SNLI_ROWS) -> str:
    return "premise\thypothesis\tlabel\n" + "".join(f"{p}\t{h}\t{y}\n" for p, h, y in rows)


def sick_text(rows=SNLI_ROWS) -> str:
    return "".join(f"{p}\t{h}\t{y}\n" for p, h, y in rows)


def anli_text(rows=SNLI_ROWS, labels: str | None = None) -> str:
    lines = []
    for i, (p, h, y) in enumerate(rows):
        label = labels[i] if labels else ANLI_LETTERS[y]
        lines.append(json.dumps({"uid": f"u{i}", "context": p, "hypothesis": h, "label": label}))
    return "\n".join(lines) + "\n"


def nli_folder(root: Path, anli_labels: dict[int, str] | None = None) -> Path:
    """A data folder in the layout of ../shared/data with tiny SNLI, SICK and ANLI files."""
    folder = root / "data"
    (folder / "snli").mkdir(parents=True)
    (folder / "sick").mkdir()
    (folder / "snli" / "validation.tsv").write_text(snli_text())
    (folder / "snli" / "test.tsv").write_text(snli_text(SNLI_ROWS[:4]))
    (folder / "sick" / "train.txt").write_text(sick_text(SNLI_ROWS[3:]))
    (folder / "sick" / "test.txt").write_text(sick_text(SNLI_ROWS[:5]))
    (folder / "sick" / "dev.txt").write_text(sick_text(SNLI_ROWS[:2]))
    for r in (1, 2, 3):
        (folder / "anli" / f"R{r}").mkdir(parents=True)
        labels = (anli_labels or {}).get(r)
        (folder / "anli" / f"R{r}" / "dev.jsonl").write_text(anli_text(labels=labels))
    return folder


# -- loaders and tasks ---------------------------------------------------------------------------
def test_snli_sick_trains_on_snli_validation_plus_sick_train(tmp_path):
    folder = nli_folder(tmp_path)
    data = SNLISICK().load(folder)
    assert len(data.train) == 6 + 3
    assert len(data.eval) == 4
    assert data.train[0] == Example("A man plays a guitar on stage.", 0, "A man is playing music.")
    assert len(SNLISICK(eval_split="sick_test").load(folder).eval) == 5
    assert data.source == str(folder)


def test_sick_and_snli_tasks_and_their_eval_splits(tmp_path):
    folder = nli_folder(tmp_path)
    assert [len(s) for s in (SICK().read(folder)[:2])] == [3, 5]
    assert len(SICK(eval_split="dev").read(folder)[1]) == 2
    train, evaluation, _ = SNLI().read(folder)
    assert (len(train), len(evaluation)) == (6, 4)  # offline SNLI trains on validation
    with pytest.raises(UserError, match="eval_split: test"):
        SNLI(eval_split="validation").read(folder)


def test_nli_tasks_are_pair_tasks_with_snli_label_order():
    for name in ("snli_sick", "sick", "snli", "mnli"):
        task = tasks.get(name)()
        assert task.is_pair
        assert task.label_names == ("entailment", "neutral", "contradiction")


def test_mnli_offline_says_where_to_get_it(tmp_path):
    with pytest.raises(UserError, match="MNLI is not in ../shared/data"):
        MNLI().read(nli_folder(tmp_path))


def test_mnli_reads_glue_tsvs_by_column_name(tmp_path):
    folder = tmp_path / "data"
    (folder / "mnli").mkdir(parents=True)
    header = "index\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
    rows = "0\tfiction\tA cat sat.\tAn animal sat.\tentailment\tentailment\n"
    (folder / "mnli" / "train.tsv").write_text(header + rows)
    (folder / "mnli" / "dev_matched.tsv").write_text(
        header + rows.replace("\tentailment\n", "\tneutral\n")
    )
    train, evaluation, _ = MNLI().read(folder)
    assert train == [Example("A cat sat.", 0, "An animal sat.")]
    assert evaluation[0].label == 1


@pytest.mark.parametrize("label", ["0", "1", "2", "entailment", "NEUTRAL", "Contradiction"])
def test_nli_labels_accept_ids_and_names(tmp_path, label):
    path = tmp_path / "train.txt"
    path.write_text(f"A dog runs.\tAn animal runs.\t{label}\n")
    assert read_sick(path)[0].label in (0, 1, 2)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


EMPTY_CONTEXT = '{"uid": "u", "context": " ", "hypothesis": "B.", "label": "e"}\n'
BAD_ROWS = [
    # (reader, file name, text, bad line, words the message must hold)
    (read_snli_tsv, "x.tsv", snli_text() + "A premise.\tA hypothesis.\t-\n", 8, "label '-'"),
    (read_snli_tsv, "x.tsv", snli_text() + "A premise.\tA hypothesis.\n", 8, "found 2"),
    (read_snli_tsv, "x.tsv", snli_text() + "A premise.\t \t1\n", 8, "(hypothesis)"),
    (read_snli_tsv, "x.tsv", "premise\tlabel\nA.\t0\n", 1, "lacks column(s) hypothesis"),
    (read_sick, "x.txt", sick_text() + "A premise.\tA hypothesis.\t3\n", 7, "label '3'"),
    (read_sick, "x.txt", sick_text() + "A premise.\tA hypothesis.\n", 7, "found 2"),
    (read_sick, "x.txt", "\tA hypothesis.\t0\n", 1, "(premise)"),
    (read_anli_jsonl, "x.jsonl", anli_text(labels="enx..."), 3, "label 'x'"),
    (read_anli_jsonl, "x.jsonl", anli_text() + '{"uid": "u", "context": "A."}\n', 7, "hypothesis"),
    (read_anli_jsonl, "x.jsonl", anli_text() + EMPTY_CONTEXT, 7, "(premise)"),
    (read_anli_jsonl, "x.jsonl", "{not json\n", 1, "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize("reader, name, text, line, needle", BAD_ROWS)
def test_bad_nli_rows_are_reported_with_file_and_line(tmp_path, reader, name, text, line, needle):
    path = _write(tmp_path / name, text)
    with pytest.raises(UserError) as error:
        reader(path)
    message = str(error.value)
    assert f"{path}:{line}" in message
    assert needle in message


def test_a_bad_row_stops_a_suite_before_training(tmp_path, capsys):
    folder = nli_folder(tmp_path)
    (folder / "sick" / "train.txt").write_text(sick_text() + "A.\tB.\tmaybe\n")
    suite = _suite_file(tmp_path, attacks="[]")
    code = main(["run", str(suite), "--data-dir", str(folder)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{folder / 'sick' / 'train.txt'}:7" in err
    assert not (tmp_path / "out").exists()


class FakeHub:
    """Stands in for ``from_hub``: records each request and returns rows with those columns."""

    COLUMNS = {
        "stanfordnlp/snli": ("premise", "hypothesis"),
        "RobZamp/sick": ("sentence_A", "sentence_B"),
        "nyu-mll/glue": ("premise", "hypothesis"),
        "facebook/anli": ("premise", "hypothesis"),
    }

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, path, name, split, revision=None):
        self.calls.append((path, name, split, revision))
        premise, hypothesis = self.COLUMNS[path]
        return [
            {premise: f" {path} {split} ", hypothesis: "h", "label": label}
            for label in (0, 1, 2, -1)  # -1: no gold label, dropped
        ]


def test_without_a_data_folder_the_tasks_read_the_hub(monkeypatch):
    hub = FakeHub()
    monkeypatch.setattr("robustbench_nlp.tasks.nli.from_hub", hub)
    train, evaluation, source = SNLISICK().read(None)
    assert len(train) == 6 and len(evaluation) == 3
    assert train[0] == Example("stanfordnlp/snli validation", 0, "h")
    assert source == "hub:stanfordnlp/snli+RobZamp/sick"
    SICK(eval_split="dev").read(None)
    SNLI().read(None)
    MNLI(eval_split="validation_mismatched").read(None)
    ANLI(rounds=[2]).run(Always(0), _context(None))
    sick = ("RobZamp/sick", None)
    parquet = "refs/convert/parquet"
    assert hub.calls == [
        ("stanfordnlp/snli", None, "validation", None),
        (*sick, "train", parquet),
        ("stanfordnlp/snli", None, "test", None),
        (*sick, "train", parquet),
        (*sick, "validation", parquet),
        ("stanfordnlp/snli", None, "train", None),
        ("stanfordnlp/snli", None, "test", None),
        ("nyu-mll/glue", "mnli", "train", None),
        ("nyu-mll/glue", "mnli", "validation_mismatched", None),
        ("facebook/anli", None, "dev_r2", None),
    ]


# -- attack suites -------------------------------------------------------------------------------


def _context(data_dir: Path | None, task_name="snli_sick", task=None):
    task = task or tasks.get(task_name)()
    return MeasureContext(task, None, 0, "cpu", data_dir, Path("."), "t")


def test_anli_reports_each_round_and_the_pooled_accuracy(tmp_path):
    # R1: all gold e; R2: half e; R3: no e. An always-entailment model scores 1, 0.5, 0.
    folder = nli_folder(tmp_path, anli_labels={1: "eeeeee", 2: "eeennn", 3: "cccnnn"})
    result = ANLI().run(Always(0), _context(folder))
    assert result.metrics == {
        "accuracy_r1": 1.0,
        "accuracy_r2": 0.5,
        "accuracy_r3": 0.0,
        "accuracy": pytest.approx(9 / 18),
    }
    assert result.n_examples == 18
    assert [(c.key, c.table) for c in result.columns] == [
        ("accuracy", "main"),
        ("accuracy_r1", "detail"),
        ("accuracy_r2", "detail"),
        ("accuracy_r3", "detail"),
    ]
    capped = ANLI(rounds=[2], max_examples=3).run(Always(0), _context(folder))
    chosen = select_examples(ANLI(rounds=[2]).examples(_context(folder)), 3)
    assert capped.n_examples == 3 and capped.outcomes.ids == [e.id for e in chosen]
    expected = sum(e.label == 0 for e in chosen) / 3
    assert capped.metrics == {"accuracy_r2": expected, "accuracy": expected}


def test_anli_names_a_missing_round_file(tmp_path):
    folder = nli_folder(tmp_path)
    (folder / "anli" / "R3" / "dev.jsonl").unlink()
    with pytest.raises(UserError, match=r"anli/R3/dev.jsonl is missing"):
        ANLI().run(Always(0), _context(folder))


def test_anli_needs_an_nli_task():
    with pytest.raises(UserError, match="entailment, neutral, contradiction"):
        ANLI().preflight(None, tasks.get("embedded")())


def test_labels_are_matched_by_name_not_position():
    examples = [Example("p", 0, "h"), Example("p", 2, "h")]  # entailment, contradiction
    names = ("entailment", "neutral", "contradiction")
    judge = EvalTask(task="sick").judge
    assert judge(["entailment", "contradiction"], examples, names) == [True, True]
    assert judge(["contradiction", "entailment"], examples, names) == [False, False]


def test_eval_task_scores_another_tasks_eval_split(tmp_path):
    folder = nli_folder(tmp_path)
    attack = EvalTask(task="sick", task_params={"eval_split": "test"})
    result = attack.run(Always(0), _context(folder))
    # SICK test = SNLI_ROWS[:5]: labels 0, 1, 2, 0, 1
    assert result.metrics == {"accuracy": pytest.approx(2 / 5)}
    assert result.n_examples == 5
    assert [(c.key, c.role) for c in result.columns] == [("accuracy", "other")]


def test_eval_task_refuses_a_task_with_other_labels(tmp_path):
    with pytest.raises(UserError, match="entailment"):
        EvalTask(task="snli").preflight(tmp_path, tasks.get("embedded")())


def test_eval_task_validates_its_task_when_the_suite_loads(tmp_path):
    suite = _suite_file(tmp_path, attacks="[{name: eval_task, params: {task: sikc}}]")
    with pytest.raises(UserError, match=r"attacks\[0\]\.params.*Did you mean: sick"):
        load_suite(suite)
    bad = "[{name: eval_task, params: {task: sick, task_params: {eval_split: train}}}]"
    with pytest.raises(UserError, match="task_params.eval_split"):
        load_suite(_suite_file(tmp_path, attacks=bad))


# -- PGD on pairs --------------------------------------------------------------------------------
def test_pgd_perturbs_both_sentences_of_a_pair_and_no_special_token(tiny_backbone):
    from tests.conftest import make_classifier

    model = make_classifier(tiny_backbone, num_labels=3)
    pairs = [Example(p, y, h) for p, h, y in SNLI_ROWS[:3]]
    batch = model.tokenize(pairs)
    ids, mask, segment = batch["input_ids"], batch["perturb_mask"], batch["token_type_ids"]
    special = torch.isin(
        ids,
        torch.tensor(
            [
                model.tokenizer.cls_token_id,
                model.tokenizer.sep_token_id,
                model.tokenizer.pad_token_id,
            ]
        ),
    )
    assert torch.equal(mask, batch["attention_mask"].bool() & ~special)
    for row in range(len(pairs)):
        assert mask[row][segment[row] == 0].any(), "premise tokens must be perturbable"
        assert mask[row][segment[row] == 1].any(), "hypothesis tokens must be perturbable"
    labels = torch.tensor([e.label for e in pairs])
    delta = pgd_delta(model, batch, labels, 1.0, "l2", 0.5, steps=2)
    moved = delta.abs().sum(-1) > 0
    assert torch.equal(moved, mask)  # every user token of both sentences, nothing else


# -- real data -----------------------------------------------------------------------------------
def test_real_nli_data_loads(shared_data):
    data = SNLISICK().load(shared_data)
    assert (len(data.train), len(data.eval)) == (9842 + 4439, 9824)
    assert all(e.pair and e.text and e.label in (0, 1, 2) for e in data.train + data.eval)
    sick = SICK().load(shared_data)
    assert (len(sick.train), len(sick.eval)) == (4439, 4906)
    assert len(SICK(eval_split="dev").load(shared_data).eval) == 495
    snli = SNLI().load(shared_data)
    assert (len(snli.train), len(snli.eval)) == (9842, 9824)
    sizes = [len(read_anli_jsonl(shared_data / "anli" / f"R{r}" / "dev.jsonl")) for r in (1, 2, 3)]
    assert sizes == [1000, 1000, 1200]


def test_real_anli_suite_runs_on_the_shared_folder(shared_data):
    result = ANLI(max_examples=20).run(Always(0), _context(shared_data))
    assert result.n_examples == 20
    assert 0.0 < result.metrics["accuracy"] < 1.0


# -- the suite -----------------------------------------------------------------------------------
def _suite_file(tmp_path: Path, attacks: str, recipes: str = "[{name: baseline}]") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(
        f"""\
name: nli_tiny
backbone: tiny
task: {{name: snli_sick}}
recipes: {recipes}
attacks: {attacks}
output: {tmp_path / "out"}
"""
    )
    return path


def test_nli_suite_file_validates_with_every_plugin():
    suite = load_suite(REPO / "suites" / "nli.yaml")
    assert suite.task.plugin_name == "snli_sick"
    assert [v.plugin.plugin_name for v in suite.recipes] == [
        "baseline",
        "scal",
        "uscal",
        "promptbert",
    ]
    attack_names = {v.plugin.plugin_name for v in suite.attacks}
    assert {"clean", "pgd", "anli", "hans", "eval_task", "deepwordbug"} <= attack_names
    assert suite.output == Path("leaderboard/nli")


TINY_NLI_ATTACKS = """
  - {name: eval_task, label: SICK test, params: {task: sick, max_examples: 4}}
  - {name: anli, label: ANLI, params: {max_examples: 3}}
  - {name: hans, label: HANS, params: {n_per_subcase: 2}}
  - {name: pgd, label: PGD-L2, params: {eps: [0.0, 0.5], steps: 1, max_examples: 4}}"""


def test_nli_suite_runs_end_to_end_on_a_tiny_backbone(tmp_path, capsys):
    folder = nli_folder(tmp_path)
    recipes = "[{name: baseline, params: {max_steps: 2, batch_size: 4}}]"
    suite = _suite_file(tmp_path, attacks=TINY_NLI_ATTACKS, recipes=recipes)
    assert main(["run", str(suite), "--data-dir", str(folder)]) == 0, capsys.readouterr().err
    board = (tmp_path / "out.md").read_text()
    for heading in ("## ANLI: details", "## HANS: details", "## HANS: subcases"):
        assert heading in board
    assert "| ln_passive " in board  # the 30-column subcase table is transposed
    details = board.split("## HANS: details")[1].split("##")[0]
    assert details.split("|")[1].strip() == "Recipe"  # 8 columns: one row per recipe
    main_header = board.split("\n\n")[2].splitlines()[0]
    for column in ("clean", "SICK test", "ANLI", "HANS", "PGD-L2 ε=0.5"):
        assert column in main_header
    csv_header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert "HANS:subcase/sn_NP/Z:mean" in csv_header
