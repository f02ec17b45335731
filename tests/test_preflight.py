"""Preflight: every file and resource a suite will read is checked before the first training
step; a problem is one line on stderr, exit status 2, and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robustbench_nlp.cli import main
from tests.test_nli import nli_folder


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _nli_suite(tmp_path: Path, attack: str) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""\
name: preflight
backbone: tiny
task: {{name: snli_sick, params: {{train_size: 8, eval_size: 4}}}}
recipes: [{{name: baseline, params: {{max_steps: 1, batch_size: 4}}}}]
attacks: [{attack}]
output: {tmp_path / "out"}
"""
    )
    return suite


def _fails_before_training(tmp_path, capsys, argv, match: str) -> None:
    cache = Path(os.environ["RBNLP_CACHE_DIR"])
    before = _tree(cache)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert match in err
    assert not (tmp_path / "out").exists(), "nothing may be written"
    assert _tree(cache) == before, "no model may be trained"


def test_a_missing_anli_round_fails_in_preflight(tmp_path, capsys):
    data = nli_folder(tmp_path)
    (data / "anli" / "R2" / "dev.jsonl").unlink()
    suite = _nli_suite(tmp_path, "{name: anli}")
    argv = ["run", str(suite), "--data-dir", str(data)]
    _fails_before_training(tmp_path, capsys, argv, "anli/R2/dev.jsonl is missing")


def test_a_malformed_anli_row_fails_in_preflight(tmp_path, capsys):
    data = nli_folder(tmp_path)
    (data / "anli" / "R1" / "dev.jsonl").write_text('{"uid": "u", "context": "A."}\n')
    suite = _nli_suite(tmp_path, "{name: anli}")
    argv = ["run", str(suite), "--data-dir", str(data)]
    _fails_before_training(tmp_path, capsys, argv, "R1/dev.jsonl:1")


def test_a_missing_hans_file_fails_in_preflight(tmp_path, capsys):
    data = nli_folder(tmp_path)
    suite = _nli_suite(tmp_path, "{name: hans, params: {path: hans/nowhere.txt}}")
    argv = ["run", str(suite), "--data-dir", str(data)]
    _fails_before_training(tmp_path, capsys, argv, "hans/nowhere.txt: no such file")


def test_missing_word_attack_resources_fail_in_preflight(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RBNLP_RESOURCES_DIR", str(tmp_path / "no-resources"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"""\
name: preflight
backbone: tiny
task: {{name: embedded, params: {{train_size: 8, eval_size: 4}}}}
recipes: [{{name: baseline, params: {{max_steps: 1, batch_size: 4}}}}]
attacks: [{{name: pwws}}]
output: {tmp_path / "out"}
"""
    )
    _fails_before_training(
        tmp_path, capsys, ["run", str(suite)], "offline attack resources missing"
    )


@pytest.mark.parametrize("attack", ["bae", "bert_attack"])
def test_a_masked_lm_folder_that_is_not_there_fails_in_preflight(tmp_path, capsys, attack):
    suite = _nli_suite(tmp_path, f"{{name: {attack}, params: {{mlm: {tmp_path / 'no-mlm'}}}}}")
    data = nli_folder(tmp_path)
    argv = ["run", str(suite), "--data-dir", str(data)]
    _fails_before_training(tmp_path, capsys, argv, "no model folder there")
