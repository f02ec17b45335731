"""Nothing lost, nothing misleading: a results folder belongs to one suite, records are checked
when read, concurrent runs compute each cell once, and numbers that cannot be trusted are not
recorded as ok. (Every bad input of these kinds is also a row of ``test_bad_input``.)"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustbench_nlp.cli import main
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.model.checkpoints import CheckpointStore
from robustbench_nlp.recipes.base import TrainContext, TrainingDiverged
from robustbench_nlp.report.leaderboard import write_leaderboard
from robustbench_nlp.run.runner import check_ownership
from robustbench_nlp.run.store import (
    Record,
    ResultsStore,
    manifest_conflict,
    merge_manifests,
    read_record,
)
from robustbench_nlp.run.suite import load_suite
from tests.test_bad_input import manifest, record, results

REPO = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""Test plugins: a recipe that logs each training, an attack that logs each cell and can sleep,
return a number that is not finite, or call sys.exit."""
import os
import sys
import time

from robustbench_nlp import Attack, Metric, Outcomes, register_attack, register_recipe
from robustbench_nlp.recipes.baseline import Baseline


@register_recipe("logged")
class Logged(Baseline):
    """Baseline that logs every training."""
    log: str = ""

    def train(self, context):
        with open(self.log, "a") as handle:
            handle.write(f"train {os.getpid()}\\n")
        return super().train(context)


@register_attack("slow")
class Slow(Attack):
    """Logs every cell; sleeps; optionally breaks."""
    log: str
    seconds: float = 0.0
    infinite: bool = False
    exits: bool = False

    def metrics(self, outcomes):
        return [Metric("score")]

    def run(self, model, context):
        with open(self.log, "a") as handle:
            handle.write(f"start {context.label} {os.getpid()}\\n")
        time.sleep(self.seconds)
        if self.exits:
            sys.exit(0)
        score = float("inf") if self.infinite else 0.5
        with open(self.log, "a") as handle:
            handle.write(f"done {context.label} {os.getpid()}\\n")
        return self.finish(Outcomes(["one"], {"score": [score]}), context)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "logged.py"
    path.write_text(PLUGIN)
    return path


def suite_file(
    folder: Path, attacks: int = 2, seconds: float = 0.0, lr: str = "1.0e-4", extra: str = ""
) -> Path:
    log = folder / "log.txt"
    entries = "\n".join(
        f"  - {{name: slow, label: a{i}, params: {{log: '{log}', seconds: {seconds}}}}}"
        for i in range(attacks)
    )
    path = folder / "suite.yaml"
    path.write_text(
        f"""\
name: tiny
backbone: tiny
task: {{name: embedded, params: {{train_size: 16, eval_size: 8}}}}
recipes:
  - {{name: logged, params: {{log: '{log}', max_steps: 2, batch_size: 4, lr: {lr}}}}}
attacks:
{entries}
seeds: [0]
output: out
{extra}"""
    )
    return path


def records(folder: Path) -> dict[str, dict]:
    paths = (folder / "records").glob("*.json")
    return {
        p.name: json.loads(p.read_text()) for p in paths if not p.name.endswith(".outcomes.json")
    }


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- 1. a results folder belongs to one suite -------------------------------------------------
def test_the_committed_board_is_not_overwritten_by_another_suite_named_sst2(
    tmp_path, monkeypatch, capsys
):
    """A user's own sst2.yaml (no name:, no output:) run from the root of a checkout."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO / "leaderboard", root / "leaderboard")
    before = tree(root)
    committed = len(json.loads((REPO / "leaderboard" / "sst2" / "suite.json").read_text())["cells"])
    own = tmp_path / "experiments" / "sst2.yaml"
    own.parent.mkdir()
    own.write_text(
        "backbone: tiny\ntask: {name: embedded, params: {train_size: 16, eval_size: 8}}\n"
        "recipes: [{name: baseline, params: {max_steps: 1, batch_size: 4}}]\n"
    )
    monkeypatch.chdir(root)
    assert main(["run", str(own)]) == 2
    err = capsys.readouterr().err
    assert f"leaderboard/sst2 belongs to suite suites/sst2.yaml ('sst2', {committed} cells)" in err
    assert "--output" in err and "--force" in err
    assert tree(root) == before
    manifest_ = json.loads((root / "leaderboard" / "sst2" / "suite.json").read_text())
    assert len(manifest_["cells"]) == committed

    # --output puts the experiment elsewhere; the committed board is still untouched.
    assert main(["run", str(own), "--output", "mine"]) == 0
    assert (root / "mine" / "suite.json").is_file() and (root / "mine.md").is_file()
    assert {k: v for k, v in tree(root).items() if k.startswith("leaderboard")} == before


@pytest.mark.parametrize("name", ["sst2", "nli", "sts"])
def test_the_committed_suites_own_their_committed_boards(name):
    """Manifests written before owners existed belong to the same-named suite whose settings
    match: rerunning a committed suite into its committed folder is allowed."""
    suite = load_suite(REPO / "suites" / f"{name}.yaml")
    store = ResultsStore(REPO / "leaderboard" / name)
    check_ownership(suite, store)  # no UserError
    changed = load_suite(REPO / "suites" / f"{name}.yaml", ["recipes.0.params.lr=0.5"])
    with pytest.raises(UserError, match="differs from it: recipes .*lr"):
        check_ownership(changed, store)


def test_a_manifest_written_before_owners_belongs_to_the_suite_with_its_settings(tmp_path):
    committed = json.loads((REPO / "leaderboard" / "sts" / "suite.json").read_text())
    committed.pop("owner", None)
    folder = tmp_path / "sts"
    folder.mkdir()
    (folder / "suite.json").write_text(json.dumps(committed))
    check_ownership(load_suite(REPO / "suites" / "sts.yaml"), ResultsStore(folder))
    changed = load_suite(REPO / "suites" / "sts.yaml", ["recipes.2.params.lr=0.5"])
    with pytest.raises(UserError, match="differs from it"):
        check_ownership(changed, ResultsStore(folder))


def test_added_cells_are_merged_and_a_subset_run_drops_none(tmp_path, plugin, capsys):
    suite = suite_file(tmp_path, attacks=1)
    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    first = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert len(first["cells"]) == 2
    assert first["owner"] == {
        "source": "../suite.yaml",
        "settings_hash": first["owner"]["settings_hash"],
    }

    more = suite_file(tmp_path, attacks=2)  # an added attack: allowed, the checkpoint reused
    assert main(["run", str(more), "--include", str(plugin)]) == 0
    grown = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert set(first["cells"]) < set(grown["cells"]) and len(grown["cells"]) == 3
    assert [a["label"] for a in grown["attacks"]] == ["clean", "a0", "a1"]

    fewer = suite_file(tmp_path, attacks=1)  # a run of a subset keeps every cell listed
    capsys.readouterr()
    assert main(["run", str(fewer), "--include", str(plugin)]) == 0
    assert "0 cells computed, 2 reused" in capsys.readouterr().out
    kept = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert kept["cells"] == grown["cells"] and kept["attacks"] == grown["attacks"]
    board = json.loads((tmp_path / "out.json").read_text())
    assert "a1:score" in board["rows"][0]["metrics"] and "owner" not in board["settings"]
    assert log_lines(tmp_path, "train") == 1


def log_lines(folder: Path, word: str) -> int:
    return sum(line.startswith(word) for line in (folder / "log.txt").read_text().splitlines())


def test_manifest_conflicts_are_changed_settings_not_added_entries():
    old = manifest()
    added = manifest(
        seeds=[0, 1],
        attacks=[*old["attacks"], {"label": "pgd", "name": "pgd", "params": {"eps": [0.1]}}],
    )
    assert manifest_conflict(old, added) is None
    assert (
        manifest_conflict(old, manifest(suite="other")) == "the suite's name is 'other', not 'good'"
    )
    assert "backbone" in manifest_conflict(old, manifest(backbone="minilm"))
    task = {"name": "embedded", "params": {"train_size": 9}}
    assert "task.params: train_size 8 -> 9" in manifest_conflict(old, manifest(task=task))
    renamed = [{"label": "baseline", "name": "scal", "params": {}}]
    assert "recipes 'baseline'" in manifest_conflict(old, manifest(recipes=renamed))
    merged = merge_manifests(old, added)
    assert merged["seeds"] == [0, 1] and [a["label"] for a in merged["attacks"]] == ["clean", "pgd"]
    newer = "baseline__seed0__clean__aaaaaaaaaa"  # same cell, new data: replaces the old id
    assert merge_manifests(old, manifest(cells=[newer]))["cells"] == [newer]


def test_relative_paths_in_a_suite_are_relative_to_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "s.yaml").write_text(
        "name: s\nbackbone: tiny\ntask: {name: embedded}\nrecipes: [{name: baseline}]\n"
        "output: results/s\ncheckpoint_dir: ckpt\n"
    )
    monkeypatch.chdir(tmp_path)
    suite = load_suite("suites/s.yaml")
    assert suite.output == Path("suites/results/s")
    assert suite.checkpoint_dir == Path("suites/ckpt")
    (folder / "d.yaml").write_text(
        "backbone: tiny\ntask: {name: embedded}\nrecipes: [{name: baseline}]\n"
    )
    assert load_suite(folder / "d.yaml").output == Path("leaderboard/d")  # the default: cwd


def test_leaderboard_run_inside_a_results_folder_writes_beside_it(tmp_path, monkeypatch):
    folder = results(tmp_path)
    inside = tree(folder)
    monkeypatch.chdir(folder)
    assert main(["leaderboard", "."]) == 0
    assert tree(folder) == inside  # no hidden (or other) file inside the results folder
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["out", "out.csv", "out.html", "out.json", "out.md"]  # (no figure to draw)
    rendered = (tmp_path / "out.md").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", "out"]) == 0
    assert (tmp_path / "out.md").read_bytes() == rendered


# -- 2. records are checked when read --------------------------------------------------------
def test_a_foreign_record_is_refused_by_the_leaderboard(tmp_path):
    results(tmp_path, rec=record(suite="nli"))
    with pytest.raises(UserError, match="record of suite 'nli', not 'good'"):
        write_leaderboard(tmp_path / "out")
    assert not (tmp_path / "out.md").exists()


def test_labels_equal_after_slugging_are_refused_at_load(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: s\nbackbone: tiny\ntask: {name: embedded}\nrecipes: [{name: baseline}]\n"
        "attacks: [{name: pgd, label: PGD}, {name: pgd, label: pgd}]\n"
    )
    with pytest.raises(UserError, match="'PGD' and 'pgd' give the same cell id"):
        load_suite(tmp_path / "s.yaml")


# -- 3. concurrent runs -----------------------------------------------------------------------
def test_two_concurrent_runs_compute_each_cell_once(tmp_path, plugin):
    suite = suite_file(tmp_path, attacks=4, seconds=1.0)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    command = [sys.executable, "-m", "robustbench_nlp", "run", str(suite), "--include", str(plugin)]
    processes = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    log = (tmp_path / "log.txt").read_text().splitlines()
    assert sum(line.startswith("train") for line in log) == 1, log
    starts = [line.split()[1] for line in log if line.startswith("start")]
    assert sorted(starts) == ["a0", "a1", "a2", "a3"], log  # each cell computed once
    found = records(tmp_path / "out")
    assert len(found) == 5 and all(r["status"] == "ok" for r in found.values())
    summaries = [
        line for out, _ in outputs for line in out.splitlines() if "cells computed" in line
    ]
    computed = [int(line.split(":")[1].split()[0]) for line in summaries]
    assert sum(computed) == 5, outputs
    manifest_ = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert sorted(manifest_["cells"]) == sorted(name[: -len(".json")] for name in found)


def test_a_failed_record_never_replaces_an_ok_one(tmp_path):
    store = ResultsStore(tmp_path / "out")
    ok = Record.model_validate(record())
    store.write(ok)
    store.write(ok.model_copy(update={"status": "failed", "error": "boom", "metrics": {}}))
    assert read_record(store.record_path(ok.cell_id)).status == "ok"
    failed = ok.model_copy(
        update={"cell_id": "baseline__seed0__clean__1111111111", "status": "failed"}
    )
    store.write(failed)
    store.write(failed.model_copy(update={"status": "ok"}))  # an ok record replaces a failed one
    assert read_record(store.record_path(failed.cell_id)).status == "ok"


def test_a_checkpoint_published_meanwhile_is_kept_not_an_error(tmp_path, tiny_classifier):
    store = CheckpointStore(tmp_path)
    store.save("k", tiny_classifier, {"n": 1})
    store.save("k", tiny_classifier, {"n": 2})  # a second writer of the same key
    assert store.meta("k") == {"n": 1}
    (tmp_path / "stray").mkdir()  # a folder that is not a checkpoint is replaced
    (tmp_path / "stray" / "junk").write_text("x")
    store.save("stray", tiny_classifier, {"n": 3})
    assert store.meta("stray") == {"n": 3}


# -- 4. numbers that cannot be trusted are not recorded as ok ----------------------------------
def test_a_training_whose_loss_turns_nan_fails_its_group_naming_the_step(tmp_path, plugin, capsys):
    suite = suite_file(tmp_path, attacks=1, lr="1.0e+6", extra="")
    assert main(["run", str(suite), "--include", str(plugin)]) == 1
    found = records(tmp_path / "out")
    assert len(found) == 2 and {r["status"] for r in found.values()} == {"failed"}
    error = next(iter(found.values()))["error"]
    assert "TrainingDiverged: train step" in error and "is nan" in error
    assert not list(Path(os.environ["RBNLP_CACHE_DIR"]).glob("checkpoints/[!.]*"))
    assert "## Incomplete" in (tmp_path / "out.md").read_text()


def test_fit_stops_at_the_first_non_finite_loss(tiny_backbone):
    import torch

    from robustbench_nlp.recipes.baseline import Baseline
    from robustbench_nlp.run.plugins import tasks

    task = tasks.get("embedded")(train_size=16)
    data = task.load(None)
    recipe = Baseline(max_steps=4, batch_size=4)
    context = TrainContext(task, data, tiny_backbone, 0)
    model = recipe.build_classifier(context)
    calls = []

    def step(model, examples):
        calls.append(1)
        loss, logs = recipe.classification_loss(model, examples)
        return (loss * math.nan if len(calls) == 3 else loss), logs

    with pytest.raises(TrainingDiverged, match=r"train step 3 of 4 \(lr 5e-05\): the loss is nan"):
        recipe.fit(model, data.train, step, context, "train")
    assert len(calls) == 3 and all(torch.isfinite(p).all() for p in model.parameters())


def test_a_cell_with_a_non_finite_metric_fails(tmp_path, plugin):
    suite = suite_file(tmp_path, attacks=1)
    text = suite.read_text().replace("seconds: 0.0}", "seconds: 0.0, infinite: true}")
    suite.write_text(text)
    assert main(["run", str(suite), "--include", str(plugin)]) == 1
    by_label = {r["attack"]["label"]: r for r in records(tmp_path / "out").values()}
    assert by_label["a0"]["status"] == "failed"
    assert "metric score is inf" in by_label["a0"]["error"]
    assert by_label["clean"]["status"] == "ok"


# -- 7. say what runs code ---------------------------------------------------------------------
def test_help_says_that_include_and_entry_points_execute_code(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "executes the file, or every *.py in the folder" in text
    assert "entry points" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "execute plugin code" in " ".join(capsys.readouterr().out.split())


def test_a_plugin_calling_sys_exit_in_a_cell_fails_that_cell_not_the_run(tmp_path, plugin):
    suite = suite_file(tmp_path, attacks=2)
    text = suite.read_text().replace("label: a0, params: {", "label: a0, params: {exits: true, ")
    suite.write_text(text)
    assert main(["run", str(suite), "--include", str(plugin)]) == 1
    by_label = {r["attack"]["label"]: r for r in records(tmp_path / "out").values()}
    assert by_label["a0"]["status"] == "failed" and "sys.exit(0)" in by_label["a0"]["error"]
    assert by_label["a1"]["status"] == "ok"
