"""The runner: cells, records, resume after a kill, failures recorded, checkpoint reuse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustbench_nlp.cli import main
from robustbench_nlp.core.errors import UserError
from robustbench_nlp.report.leaderboard import write_leaderboard
from robustbench_nlp.run.runner import Runner, plan, preflight
from robustbench_nlp.run.store import ResultsStore
from robustbench_nlp.run.suite import load_suite
from tests.conftest import TINY_RECIPE, TINY_TASK

REPO = Path(__file__).resolve().parent.parent

COUNTING_PLUGIN = '''
"""Test plugin: an attack that logs its start and end to a file and can sleep or fail."""
import time
from pathlib import Path
from robustbench_nlp import Attack, Metric, Outcomes, register_attack

@register_attack("counting")
class Counting(Attack):
    """Logs every run to a file."""
    log: str
    seconds: float = 0.0
    fail: bool = False
    score: float = 0.5
    robust: bool = True

    def metrics(self, outcomes):
        return [Metric("score", role="robust" if self.robust else "other")]

    def run(self, model, context):
        label = context.label
        with open(self.log, "a") as handle:
            handle.write(f"start {label}\\n")
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("boom from " + label)
        with open(self.log, "a") as handle:
            handle.write(f"done {label}\\n")
        return self.finish(Outcomes(["one"], {"score": [self.score]}), context)
'''


def suite_text(
    output: Path, log: Path, seconds: float = 0.0, fail_label: str | None = None, seeds: str = "[0]"
) -> str:
    attacks = "\n".join(
        f"  - {{name: counting, label: c{i}, params: {{log: '{log}', seconds: {seconds}, "
        f"fail: {str(f'c{i}' == fail_label).lower()}}}}}"
        for i in range(3)
    )
    return f"""\
name: tiny
backbone: tiny
task: {TINY_TASK}
recipes:
  - {TINY_RECIPE}
attacks:
{attacks}
seeds: {seeds}
output: {output}
"""


@pytest.fixture(scope="module")
def counting_plugin(tmp_path_factory) -> Path:
    """One plugin file for the module: registering it twice from two files would collide."""
    plugin = tmp_path_factory.mktemp("plugin") / "counting.py"
    plugin.write_text(COUNTING_PLUGIN)
    return plugin


@pytest.fixture
def setup(tmp_path, counting_plugin, warm_cache):
    """A suite of the counting plugin on the session's trained tiny baseline."""
    return lambda **kwargs: _setup(tmp_path, counting_plugin, **kwargs)


def _setup(tmp_path, plugin, **kwargs):
    log = tmp_path / "log.txt"
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text(tmp_path / "out", log, **kwargs))
    return suite, plugin, log


def records(folder: Path) -> dict[str, dict]:
    """Each cell's record (not its outcomes file), by file name."""
    paths = (folder / "records").glob("*.json")
    return {
        p.name: json.loads(p.read_text()) for p in paths if not p.name.endswith(".outcomes.json")
    }


def test_rerun_skips_finished_cells_and_reuses_the_checkpoint(tmp_path, capsys, setup):
    suite, plugin, log = setup()
    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    first = records(tmp_path / "out")
    assert len(first) == 4  # clean + 3 attacks
    assert all(r["status"] == "ok" for r in first.values())
    assert all(r["checkpoint_reused"] for r in first.values())  # the session's tiny baseline
    assert log.read_text().count("done") == 3
    capsys.readouterr()

    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    assert "0 cells computed, 4 reused" in capsys.readouterr().out
    assert log.read_text().count("done") == 3
    assert records(tmp_path / "out") == first


def test_a_changed_attack_parameter_is_a_new_cell_but_reuses_the_checkpoint(tmp_path, setup):
    suite, plugin, log = setup()
    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    changed = [
        "run",
        str(suite),
        "--include",
        str(plugin),
        "--set",
        "attacks.c1.params.seconds=0.01",
    ]
    assert main(changed) == 2  # a changed setting is another suite: the folder is not its own
    assert main([*changed, "--force"]) == 0
    assert log.read_text().count("done c1") == 2 and log.read_text().count("done c0") == 1
    new = [
        r
        for r in records(tmp_path / "out").values()
        if r["attack"]["label"] == "c1" and r["attack"]["params"]["seconds"] == 0.01
    ]
    assert len(new) == 1 and new[0]["checkpoint_reused"] is True


def test_a_failing_cell_is_recorded_and_the_others_go_on(tmp_path, capsys, setup):
    suite, plugin, log = setup(fail_label="c1")
    assert main(["run", str(suite), "--include", str(plugin)]) == 1
    by_label = {r["attack"]["label"]: r for r in records(tmp_path / "out").values()}
    assert by_label["c1"]["status"] == "failed"
    assert "RuntimeError: boom from c1" in by_label["c1"]["error"]
    assert by_label["c0"]["status"] == by_label["c2"]["status"] == "ok"
    board = (tmp_path / "out.md").read_text()
    assert "## Incomplete" in board and "boom from c1" in board


def test_killing_a_run_loses_no_finished_cell_and_recomputes_none(tmp_path, setup):
    suite, plugin, log = setup(seconds=1.5)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    command = [sys.executable, "-m", "robustbench_nlp", "run", str(suite), "--include", str(plugin)]
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    records_dir = tmp_path / "out" / "records"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait for clean + the first counting cell
        if records_dir.is_dir() and len(records(tmp_path / "out")) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = records(tmp_path / "out")
    assert 2 <= len(before) < 4, "the kill must land mid-run"
    assert not list(records_dir.glob(".*")), "no half-written record may remain"
    finished_labels = {r["attack"]["label"] for r in before.values()}
    starts_before = log.read_text().count("start")

    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    after = records(tmp_path / "out")
    assert len(after) == 4
    for name, record in before.items():
        assert after[name] == record, f"{name} was recomputed"
    rerun_log = log.read_text().splitlines()[starts_before:]
    rerun_starts = {line.split()[1] for line in rerun_log if line.startswith("start")}
    assert not rerun_starts & finished_labels
    assert all(r["checkpoint_reused"] for n, r in after.items() if n not in before)


def test_plan_is_recipe_by_seed_by_attack_with_stable_ids(tmp_path, setup):
    suite_path, plugin, log = setup(seeds="[0, 1]")
    from robustbench_nlp.core.registry import include

    include(plugin)
    suite = load_suite(suite_path)
    cells = plan(suite, preflight(suite, None))
    assert len(cells) == 2 * 4
    assert len({c.cell_id for c in cells}) == 8
    assert len({c.checkpoint_key for c in cells}) == 2
    again = load_suite(suite_path)
    assert [c.cell_id for c in plan(again, preflight(again, None))] == [c.cell_id for c in cells]


def test_leaderboard_rerenders_byte_for_byte(tmp_path, setup):
    suite, plugin, log = setup(seeds="[0, 1]")
    assert main(["run", str(suite), "--include", str(plugin)]) == 0
    rendered = {p: p.read_bytes() for p in tmp_path.glob("out.*")}
    assert set(p.suffix for p in rendered) == {".md", ".csv", ".json", ".html"}
    for path in rendered:
        path.unlink()
    assert main(["leaderboard", str(tmp_path / "out")]) == 0
    for path, content in rendered.items():
        assert path.read_bytes() == content


def test_mean_and_std_over_seeds_on_the_board(tmp_path, setup):
    suite_path, plugin, log = setup(seeds="[0, 1]")
    assert main(["run", str(suite_path), "--include", str(plugin)]) == 0
    store = ResultsStore(tmp_path / "out")
    cleans = [
        store.load(c).metrics["clean_accuracy"]
        for c in store.manifest()["cells"]
        if "__clean__" in c
    ]
    data = json.loads((tmp_path / "out.json").read_text())
    clean = data["rows"][0]["metrics"]["clean:clean_accuracy"]
    assert clean["n"] == 2
    assert abs(clean["mean"] - sum(cleans) / 2) < 1e-9
    assert "± " in (tmp_path / "out.md").read_text()


def test_sweep_gives_one_row_per_setting(tmp_path, setup):
    suite_path, plugin, log = setup()
    text = suite_path.read_text().replace(
        "  - {name: baseline, params: {max_steps: 2, batch_size: 4}}",
        "  - {name: baseline, params: {max_steps: 2, batch_size: 4},"
        " sweep: {lr: [1.0e-4, 2.0e-4]}}",
    )
    suite_path.write_text(text)
    from robustbench_nlp.core.registry import include

    include(plugin)
    suite = load_suite(suite_path)
    assert [v.label for v in suite.recipes] == ["baseline (lr=0.0001)", "baseline (lr=0.0002)"]
    Runner(suite, None).run()
    write_leaderboard(suite.output)
    board = (tmp_path / "out.md").read_text()
    assert "baseline (lr=0.0001)" in board and "baseline (lr=0.0002)" in board


def test_mean_robust_leaves_out_columns_that_measure_no_attack(tmp_path, setup):
    suite_path, plugin, log = setup()
    text = suite_path.read_text()
    text = text.replace("label: c0, params: {", "label: c0, params: {score: 0.2, ")
    text = text.replace("label: c1, params: {", "label: c1, params: {score: 0.9, robust: false, ")
    text = text.replace("label: c2, params: {", "label: c2, params: {score: 0.4, ")
    suite_path.write_text(text)
    assert main(["run", str(suite_path), "--include", str(plugin)]) == 0
    row = json.loads((tmp_path / "out.json").read_text())["rows"][0]
    assert row["metrics"]["c1:score"]["mean"] == 0.9  # shown on the board ...
    assert abs(row["mean_robust_accuracy"] - (0.2 + 0.4) / 2) < 1e-9  # ... but not averaged
    assert "except c1, which measures no attack" in (tmp_path / "out.md").read_text()


def _old_record(version: int) -> dict:
    plugin = {"name": "pgd", "label": "PGD", "params": {}}
    column = {"table": "main", "percent": True, "higher_is_better": True, "rank": False}
    return {
        "schema_version": version,
        "cell_id": "x",
        "suite": "s",
        "status": "ok",
        "backbone": "tiny",
        "task": plugin,
        "task_source": "",
        "recipe": plugin,
        "seed": 0,
        "attack": plugin,
        "columns": [
            {**column, "key": "clean_accuracy", "label": "clean"},
            {**column, "key": "robust_accuracy@eps=0", "label": "PGD ε=0", "robust": False},
            {**column, "key": "robust_accuracy@eps=0.1", "label": "PGD ε=0.1", "robust": True},
            {**column, "key": "spearman/avg", "label": "STS avg", "rank": True},
        ],
    }


def test_schema_2_records_keep_their_titles_and_map_flags_onto_roles():
    from robustbench_nlp.run.store import SCHEMA_VERSION, Record

    record = Record.model_validate(_old_record(2))
    assert record.schema_version == SCHEMA_VERSION == 3
    assert [c.role for c in record.columns] == ["clean", "other", "robust", "score"]
    assert [c.title for c in record.columns] == ["clean", "PGD ε=0", "PGD ε=0.1", "STS avg"]


def test_records_older_than_schema_2_are_refused_naming_the_fix(tmp_path):
    from robustbench_nlp.run.store import read_record

    path = tmp_path / "x.json"
    path.write_text(json.dumps(_old_record(1)))
    with pytest.raises(UserError, match=r"x.json: not a valid record .*schema_version 1.*delete"):
        read_record(path)


def _published_boards() -> list[Path]:
    """The boards under version control (a local quickstart board is gitignored scratch)."""
    listed = subprocess.run(
        ["git", "ls-files", "leaderboard/*.md"], cwd=REPO, capture_output=True, text=True
    )
    if listed.returncode == 0:
        names = listed.stdout.split()
    else:  # no git (an exported tree): every board but the gitignored quickstart
        names = [str(p.relative_to(REPO)) for p in (REPO / "leaderboard").glob("*.md")]
        names = [n for n in names if not n.endswith("quickstart.md")]
    return sorted((REPO / name).with_suffix("") for name in names)


def test_there_are_committed_boards_to_check():
    assert _published_boards(), "no committed leaderboard found under leaderboard/"


@pytest.mark.parametrize("board", _published_boards(), ids=lambda p: p.name)
def test_committed_boards_rerender_exactly_from_their_records(tmp_path, board):
    """A committed board is a pure render of the records committed beside it."""
    if not (board / "suite.json").is_file():
        pytest.fail(f"{board}.md has no records folder beside it")
    write_leaderboard(board, tmp_path / board.name)
    for suffix in (".md", ".csv", ".json"):
        committed = board.with_suffix(suffix)
        assert (tmp_path / (board.name + suffix)).read_text() == committed.read_text(), suffix


def test_suite_max_examples_gives_clean_and_every_attack_one_example_set(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nbackbone: tiny\ntask: {name: embedded}\nrecipes: [{name: baseline}]\n"
        "max_examples: 30\nattacks:\n  - {name: pgd}\n  - {name: deepwordbug, label: own, "
        "params: {max_examples: 10}}\n  - {name: eval_task, params: {task: embedded}}\n"
    )
    clean, pgd, own, other = load_suite(suite).attacks
    assert (clean.plugin.max_examples, pgd.plugin.max_examples) == (30, 30)
    assert own.plugin.max_examples == 10  # the suite gave this attack its own subset
    assert other.plugin.max_examples is None  # a fixed set of another task keeps all of it


def test_no_model_outlives_its_cells(tmp_path, monkeypatch):
    """The local executor keeps one model alive at a time: when the next (recipe, seed) is
    obtained, the previous model has been freed (memory per cell does not grow)."""
    import gc
    import weakref

    from robustbench_nlp.run.compute import CellWorker

    alive: list[weakref.ref] = []
    original = CellWorker.obtain_model

    def tracked(self, cell, data):
        gc.collect()
        assert all(ref() is None for ref in alive), "a previous model is still referenced"
        model, trained = original(self, cell, data)
        alive.append(weakref.ref(model))
        return model, trained

    monkeypatch.setattr(CellWorker, "obtain_model", tracked)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: t\nbackbone: tiny\ntask: {TINY_TASK}\nrecipes: [{TINY_RECIPE}]\n"
        f"seeds: [0, 1, 2]\nattacks:\n  - {{name: pgd, params: {{eps: [0.0, 1.0], steps: 1}}}}\n"
        f"output: {tmp_path / 'out'}\ncheckpoint_dir: {tmp_path / 'ck'}\n"
    )
    Runner(load_suite(suite), None).run()
    gc.collect()
    assert len(alive) == 3 and all(ref() is None for ref in alive)
