"""Every kind of bad input ends in one line on stderr, exit status 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_nlp.cli import main

GOOD = """\
name: good
backbone: tiny
task:
  name: {task}
  params: {{train_size: 8, eval_size: 4}}
recipes:
  - name: baseline
    params: {{max_steps: 1, batch_size: 4}}
attacks:
  - name: pgd
    params: {{eps: [0.0, 0.1], steps: 1}}
seeds: [0]
output: {output}
"""


def write_suite(tmp_path: Path, text: str | None = None, task: str = "embedded") -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text if text is not None else GOOD.format(task=task, output=tmp_path / "out"))
    return path


def sst2_folder(tmp_path: Path, train: str, dev: str = "label\tcontent\n1\tfine film\n") -> Path:
    folder = tmp_path / "data"
    (folder / "sst2").mkdir(parents=True)
    (folder / "sst2" / "train.tsv").write_text(train)
    (folder / "sst2" / "dev.tsv").write_text(dev)
    return folder


def fails_with(capsys, tmp_path: Path, argv: list[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, f"expected one line, got:\n{err}"
    assert err.startswith("error: ")
    for needle in needles:
        assert needle in err, err
    assert not (tmp_path / "out").exists(), "nothing may be written on bad input"
    return err


def test_malformed_yaml(tmp_path, capsys):
    suite = write_suite(tmp_path, "name: x\nrecipes: [baseline\n")
    fails_with(capsys, tmp_path, ["run", str(suite)], "invalid YAML at line")


def test_unknown_key_is_reported_with_its_path(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace("seeds:", "sedes:")
    fails_with(capsys, tmp_path, ["run", str(write_suite(tmp_path, text))], "sedes", "unknown key")


def test_unknown_key_inside_a_plugin_spec(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace(
        "  - name: baseline\n", "  - name: baseline\n    parms: {}\n"
    )
    fails_with(capsys, tmp_path, ["run", str(write_suite(tmp_path, text))], "recipes[0].parms")


def test_unknown_recipe_suggests_the_closest(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace("baseline", "basline")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, text))],
        "recipes[0].name",
        "unknown recipe 'basline'",
        "Did you mean: baseline?",
    )


def test_unknown_attack(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace("name: pgd", "name: pdg")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, text))],
        "attacks[0].name",
        "unknown attack 'pdg'",
        "pgd",
    )


def test_unknown_task(tmp_path, capsys):
    suite = write_suite(tmp_path, task="sst3")
    fails_with(capsys, tmp_path, ["run", str(suite)], "task.name", "unknown task 'sst3'", "sst2")


def test_wrong_type(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace("seeds: [0]", "seeds: x")
    fails_with(capsys, tmp_path, ["run", str(write_suite(tmp_path, text))], "seeds")


def test_bad_plugin_parameter_value_and_name(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out")
    bad_value = text.replace("max_steps: 1", "max_steps: 1, lr: -1")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, bad_value))],
        "recipes[0].params.lr",
        "greater than 0",
    )
    bad_name = text.replace("steps: 1}", "stepz: 1}")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, bad_name))],
        "attacks[0].params.stepz",
        "unknown key",
    )


def test_sweep_of_an_unknown_parameter(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace(
        "  - name: baseline\n", "  - name: baseline\n    sweep: {epz: [0.1, 0.2]}\n"
    )
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, text))],
        "recipes[0].sweep.epz",
        "not a parameter",
    )


def test_duplicate_labels(tmp_path, capsys):
    text = GOOD.format(task="embedded", output=tmp_path / "out").replace(
        "seeds:", "  - name: fgsm\n    label: pgd\nseeds:"
    )
    fails_with(capsys, tmp_path, ["run", str(write_suite(tmp_path, text))], "'pgd' is used twice")


def test_missing_suite_file(tmp_path, capsys):
    fails_with(capsys, tmp_path, ["run", str(tmp_path / "nope.yaml")], "no such file")


def test_missing_data_folder(tmp_path, capsys):
    suite = write_suite(tmp_path, task="sst2")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(suite), "--data-dir", str(tmp_path / "nowhere")],
        "--data-dir",
        "no such folder",
    )


def test_data_folder_without_the_tasks_files(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    suite = write_suite(tmp_path, task="sst2")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(suite), "--data-dir", str(tmp_path / "data")],
        "sst2/train.tsv is missing",
    )


def test_data_dir_from_the_environment_must_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RBNLP_DATA_DIR", str(tmp_path / "gone"))
    fails_with(
        capsys, tmp_path, ["run", str(write_suite(tmp_path, task="sst2"))], "$RBNLP_DATA_DIR"
    )


@pytest.mark.parametrize(
    ("train", "needles"),
    [
        ("label\tsentence\n1\tgood\n7\tbad\n", ("train.tsv:3", "label '7'")),  # wrong label
        ("label\tsentence\n", ("train split", "is empty")),  # empty dataset
        ("label\tsentence\n1\t   \n", ("train.tsv:2", "empty")),  # empty sentence
        ("label\tsentence\n1\n", ("train.tsv:2", "column")),  # missing column
    ],
    ids=["wrong-label", "empty-dataset", "empty-sentence", "missing-column"],
)
def test_bad_data_file_names_file_and_line(tmp_path, capsys, train, needles):
    data = sst2_folder(tmp_path, train)
    argv = ["run", str(write_suite(tmp_path, task="sst2")), "--data-dir", str(data)]
    fails_with(capsys, tmp_path, argv, *needles)


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("seeds", "expected key.path=value"),
        ("recipes.5.params.lr=1", "index out of range"),
        ("recipes.nosuch.params.lr=1", "no list entry named"),
        ("name.x=1", "is not a mapping or list"),
        ("seeds=[0, 1", "not valid YAML"),
        ("recipes.baseline.params.lr=fast", "recipes[0].params.lr"),
    ],
)
def test_bad_set(tmp_path, capsys, assignment, needle):
    fails_with(capsys, tmp_path, ["run", str(write_suite(tmp_path)), "--set", assignment], needle)


def test_bad_plugin_file(tmp_path, capsys):
    plugin = tmp_path / "broken.py"
    plugin.write_text("def broken(:\n")
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path)), "--include", str(plugin)],
        "broken.py",
        "failed to import",
        "SyntaxError",
    )


def test_include_of_a_missing_path(tmp_path, capsys):
    fails_with(capsys, tmp_path, ["list", "--include", str(tmp_path / "nope.py")], "no such file")


def test_leaderboard_of_a_folder_that_is_not_a_results_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    fails_with(capsys, tmp_path, ["leaderboard", str(tmp_path / "empty")], "no suite.json")


def test_suite_that_is_not_a_mapping(tmp_path, capsys):
    fails_with(
        capsys,
        tmp_path,
        ["run", str(write_suite(tmp_path, "- a\n- b\n"))],
        "must be a YAML mapping",
    )
