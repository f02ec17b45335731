"""Cell and checkpoint identities see the data and the code: an edited training row retrains
and recomputes, a bumped plugin version recomputes only that plugin's cells."""

from __future__ import annotations

import json
from pathlib import Path

from robustbench_nlp.attacks.embedding_pgd import EmbeddingPGD
from robustbench_nlp.cli import main

TRAIN = [
    ("1", "a gripping , beautifully acted film"),
    ("0", "dull and far too long"),
    ("1", "the best thing i have seen this year"),
    ("0", "a mess from start to finish"),
    ("1", "an utterly charming movie"),
    ("0", "the plot is thin and the acting is wooden"),
    ("1", "funny , warm and wise"),
    ("0", "a tedious , joyless slog"),
]


def sst2_folder(root: Path) -> Path:
    folder = root / "data"
    (folder / "sst2").mkdir(parents=True)
    rows = "".join(f"{label}\t{text}\n" for label, text in TRAIN)
    (folder / "sst2" / "train.tsv").write_text("label\tsentence\n" + rows)
    (folder / "sst2" / "dev.tsv").write_text("label\tcontent\n" + rows)
    return folder


def suite_file(root: Path) -> Path:
    suite = root / "suite.yaml"
    suite.write_text(
        f"""\
name: identity
backbone: tiny
task: {{name: sst2}}
recipes: [{{name: baseline, params: {{max_steps: 1, batch_size: 4}}}}]
attacks: [{{name: pgd, label: PGD, params: {{eps: [0.1], steps: 1}}}}]
output: {root / "out"}
"""
    )
    return suite


def records(root: Path) -> dict[str, dict]:
    paths = (root / "out" / "records").glob("*.json")
    return {p.name: json.loads(p.read_text()) for p in paths if ".outcomes." not in p.name}


def test_editing_one_training_row_retrains_and_recomputes_every_cell(tmp_path, capsys):
    data = sst2_folder(tmp_path)
    suite = suite_file(tmp_path)
    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    first = records(tmp_path)
    capsys.readouterr()

    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    assert "0 cells computed, 2 reused" in capsys.readouterr().out

    train = data / "sst2" / "train.tsv"
    train.write_text(train.read_text().replace("dull and far too long", "dull and too long"))
    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    assert "2 cells computed, 0 reused" in capsys.readouterr().out
    new = {k: v for k, v in records(tmp_path).items() if k not in first}
    assert len(new) == 2
    assert all(not r["checkpoint_reused"] for r in new.values()), "the model must be retrained"
    old_data = {r["fingerprints"]["data"] for r in first.values()}
    assert {r["fingerprints"]["data"] for r in new.values()}.isdisjoint(old_data)


def test_another_copy_of_the_same_data_reuses_everything(tmp_path, capsys):
    suite = suite_file(tmp_path)
    assert main(["run", str(suite), "--data-dir", str(sst2_folder(tmp_path / "a"))]) == 0
    capsys.readouterr()
    assert main(["run", str(suite), "--data-dir", str(sst2_folder(tmp_path / "b"))]) == 0
    assert "0 cells computed, 2 reused" in capsys.readouterr().out


def test_bumping_an_attack_version_recomputes_only_its_cells(tmp_path, capsys, monkeypatch):
    data = sst2_folder(tmp_path)
    suite = suite_file(tmp_path)
    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    first = records(tmp_path)
    capsys.readouterr()

    monkeypatch.setattr(EmbeddingPGD, "version", EmbeddingPGD.version + 1)
    assert main(["run", str(suite), "--data-dir", str(data)]) == 0
    assert "1 cells computed, 1 reused" in capsys.readouterr().out
    new = [r for k, r in records(tmp_path).items() if k not in first]
    assert [r["attack"]["label"] for r in new] == ["PGD"]
    assert new[0]["checkpoint_reused"] is True
    assert new[0]["fingerprints"]["versions"]["attack"] == EmbeddingPGD.version
