"""``robustbench-nlp plan``: every cell, what is finished, and an estimate that holds up."""

from __future__ import annotations

import json
from pathlib import Path

from robustbench_nlp.cli import main
from robustbench_nlp.run.estimate import estimate
from robustbench_nlp.run.runner import Runner
from robustbench_nlp.run.suite import load_suite
from tests.test_word_attacks import need

REPO = Path(__file__).resolve().parent.parent


def write_suite(tmp_path: Path, seeds: str) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: t\nbackbone: tiny\ntask: {name: embedded, params: {train_size: 32, eval_size: 12}}\n"
        "recipes:\n  - {name: baseline, params: {max_steps: 4, batch_size: 4}}\n"
        "  - {name: uscal, params: {max_steps: 3, batch_size: 4, unsup_max_steps: 2}}\n"
        "attacks:\n  - {name: pgd, params: {eps: [0.0, 1.0], steps: 2}}\n"
        f"seeds: {seeds}\noutput: {tmp_path / 'out'}\ncheckpoint_dir: {tmp_path / 'ck'}\n"
    )
    return suite


def test_plan_lists_every_cell_and_writes_nothing(tmp_path, capsys):
    path = write_suite(tmp_path, "[0, 1]")
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("| to run ") == 8 and "0 of 8 cells finished; 8 to run, 4 models" in out
    assert "calibrated `baseline`" in out and "calibrated `uscal`" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "ck").exists()


def test_after_a_partial_run_the_plan_uses_the_measured_costs(tmp_path):
    Runner(load_suite(write_suite(tmp_path, "[0]")), None).run()
    cost = estimate(load_suite(write_suite(tmp_path, "[0, 1]")), None)
    by_seed = {seed: [c for c in cost.cells if c.cell.seed == seed] for seed in (0, 1)}
    assert {c.status for c in by_seed[0]} == {"finished"}
    assert all(c.seconds == 0 and c.train_seconds == 0 for c in by_seed[0])
    assert {(c.status, c.checkpoint, c.basis) for c in by_seed[1]} == {
        ("to run", "to train", "measured")
    }
    assert not cost.speeds  # nothing left to calibrate: every cost was measured here
    records = [
        json.loads(p.read_text())
        for p in (tmp_path / "out" / "records").glob("*.json")
        if not p.name.endswith(".outcomes.json")
    ]
    recorded = {r["recipe"]["label"]: r["timings"]["train_seconds"] for r in records}
    trained = {c.cell.recipe.label: c.train_seconds for c in by_seed[1] if c.train_seconds}
    assert trained == recorded


def test_the_quickstart_estimate_is_within_2x_of_its_real_run(tmp_path):
    """Calibrated on this machine, checked against the quickstart itself (MiniLM, the embedded
    data, PGD and DeepWordBug)."""
    need("stopwords", "wordnet", "textattack-cache")
    text = (REPO / "suites" / "quickstart.yaml").read_text()
    suite_file = tmp_path / "quickstart.yaml"
    suite_file.write_text(
        f"{text}\noutput: {tmp_path / 'out'}\ncheckpoint_dir: {tmp_path / 'ck'}\n"
    )
    cost = estimate(load_suite(suite_file), None)
    planned = cost.train_seconds + cost.attack_seconds
    Runner(load_suite(suite_file), None).run()
    records = [
        json.loads(p.read_text())
        for p in (tmp_path / "out" / "records").glob("*.json")
        if not p.name.endswith(".outcomes.json")
    ]
    measured = records[0]["timings"]["train_seconds"] + sum(
        r["timings"]["attack_seconds"] for r in records
    )
    assert 0.5 <= planned / measured <= 2.0, (planned, measured)


def test_plan_of_a_bad_suite_fails_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ntask: {name: embedded}\nrecipes: [{name: nosuch}]\n")
    assert main(["plan", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nosuch" in err
