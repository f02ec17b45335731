"""Every bad input the project knows, as one table: each ends in one line on stderr
(``error: ...``), exit status 2, and nothing written.

A row builds its input in a fresh folder, which is also the working directory of the command
(so a default ``leaderboard/<name>`` would land there too), and gives the command line. The test
runs it and checks the status, that stderr is one line naming the problem, and that no file or
folder under that folder or under the checkpoint cache was created, changed or removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from robustbench_nlp.cli import main
from tests.test_nli import nli_folder, sick_text

REPO = Path(__file__).resolve().parent.parent

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
output: out
"""


def good(task: str = "embedded") -> str:
    return GOOD.format(task=task)


def suite(tmp: Path, text: str | bytes | None = None, name: str = "suite.yaml") -> str:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = good() if text is None else text
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def edited(old: str, new: str, task: str = "embedded") -> str:
    text = good(task)
    assert old in text, old
    return text.replace(old, new)


def run(text: str | None = None, *extra: str) -> Callable:
    return lambda tmp, mp: ["run", suite(tmp, text), *extra]


def sst2_folder(tmp: Path, train: str | bytes, dev: str = "label\tcontent\n1\tfine film\n") -> Path:
    folder = tmp / "data"
    (folder / "sst2").mkdir(parents=True)
    train_path = folder / "sst2" / "train.tsv"
    if isinstance(train, bytes):
        train_path.write_bytes(train)
    else:
        train_path.write_text(train)
    (folder / "sst2" / "dev.tsv").write_text(dev)
    return folder


def run_sst2(train: str | bytes) -> Callable:
    def build(tmp, mp):
        data = sst2_folder(tmp, train)
        return ["run", suite(tmp, good("sst2")), "--data-dir", str(data)]

    return build


def run_nli(attacks: str, edit: Callable[[Path], None] | None = None) -> Callable:
    def build(tmp, mp):
        data = nli_folder(tmp)
        if edit is not None:
            edit(data)
        text = edited(
            "attacks:\n  - name: pgd\n    params: {eps: [0.0, 0.1], steps: 1}\n",
            f"attacks: {attacks}\n",
            task="snli_sick",
        )
        return ["run", suite(tmp, text), "--data-dir", str(data)]

    return build


# -- results folders made by hand (the leaderboard reads nothing else) --------------------------
CELL = "baseline__seed0__clean__0123456789"
TASK = {"name": "embedded", "params": {"train_size": 8, "eval_size": 4, "subset_seed": 0}}


def manifest(**changes) -> dict:
    return {
        "suite": "good",
        "description": "",
        "source": "suite.yaml",
        "backbone": "tiny",
        "seeds": [0],
        "task": TASK,
        "recipes": [{"label": "baseline", "name": "baseline", "params": {}}],
        "attacks": [{"label": "clean", "name": "clean", "params": {}}],
        "cells": [CELL],
        **changes,
    }


def record(**changes) -> dict:
    plugin = {"params": {}}
    return {
        "cell_id": CELL,
        "suite": "good",
        "status": "ok",
        "backbone": "tiny",
        "task": {**TASK, "label": "embedded"},
        "task_source": "embedded",
        "recipe": {**plugin, "name": "baseline", "label": "baseline"},
        "seed": 0,
        "attack": {**plugin, "name": "clean", "label": "clean"},
        "metrics": {"clean_accuracy": 0.5},
        "columns": [{"key": "clean_accuracy", "role": "clean"}],
        "n_examples": 4,
        **changes,
    }


def results(tmp: Path, suite_json: str | dict | None = None, rec: str | dict | None = None):
    folder = tmp / "out"
    (folder / "records").mkdir(parents=True)
    text = suite_json if suite_json is not None else manifest()
    (folder / "suite.json").write_text(text if isinstance(text, str) else json.dumps(text))
    rec = rec if rec is not None else record()
    (folder / "records" / f"{CELL}.json").write_text(
        rec if isinstance(rec, str) else json.dumps(rec)
    )
    return folder


def board(suite_json=None, rec=None, *extra: str) -> Callable:
    return lambda tmp, mp: ["leaderboard", str(results(tmp, suite_json, rec)), *extra]


# -- rows that need more set-up ----------------------------------------------------------------
def env_data_dir(tmp, mp):
    mp.setenv("RBNLP_DATA_DIR", str(tmp / "gone"))
    return ["run", suite(tmp, good("sst2"))]


def data_folder_without_files(tmp, mp):
    (tmp / "data").mkdir()
    return ["run", suite(tmp, good("sst2")), "--data-dir", str(tmp / "data")]


def plugin_file(source: str, command: str = "run") -> Callable:
    def build(tmp, mp):
        path = tmp / "plugin.py"
        path.write_text(source)
        head = ["list"] if command == "list" else ["run", suite(tmp)]
        return [*head, "--include", str(path)]

    return build


def unwritable(tmp: Path) -> Path:
    """A folder nobody may write in (root may write anywhere but /proc)."""
    if os.geteuid() == 0:
        return Path("/proc/rbnlp-no-such-folder")
    folder = tmp / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def hub_task_offline(tmp, mp):
    from robustbench_nlp.tasks.base import _hub_answers

    if _hub_answers("glue"):
        pytest.skip("the Hugging Face hub answers here: sst2 would load from it")
    return ["run", suite(tmp, good("sst2"))]


# -- models made elsewhere (hf_classifier) and AdvGLUE -------------------------------------------
BASELINE = "  - name: baseline\n    params: {max_steps: 1, batch_size: 4}\n"


def hf_suite(model: str, extra: str = "") -> str:
    return edited(BASELINE, f"  - {{name: hf_classifier, params: {{model: '{model}'{extra}}}}}\n")


def run_hf(extra: str = "", labels=("negative", "positive")) -> Callable:
    """An hf_classifier row on a tiny model saved with save_pretrained into the folder."""

    def build(tmp, mp):
        from tests.helpers import save_tiny_hf_classifier

        model = save_tiny_hf_classifier(tmp / "model", labels=labels)
        return ["run", suite(tmp, hf_suite(str(model), extra))]

    return build


def hf_bare_encoder(tmp, mp):
    from robustbench_nlp.model.backbones import minilm_path

    return ["run", suite(tmp, hf_suite(str(minilm_path())))]


def run_advglue(edit: Callable[[dict], None]) -> Callable:
    """The advglue evaluation on sst2, with a hand-made AdvGLUE dev.json edited by ``edit``."""

    def build(tmp, mp):
        data = sst2_folder(tmp, "label\tsentence\n1\tgood\n0\tbad\n")
        rows = {"sst2": [{"idx": 0, "label": 1, "sentence": "a fine film ."}]}
        edit(rows)
        (data / "advglue").mkdir()
        (data / "advglue" / "dev.json").write_text(json.dumps(rows))
        text = edited("attacks:\n", "attacks:\n  - name: advglue\n", task="sst2")
        return ["run", suite(tmp, text), "--data-dir", str(data)]

    return build


def output_is_a_file(tmp, mp):
    (tmp / "out").write_text("not a folder\n")
    return ["run", suite(tmp)]


def output_unwritable(tmp, mp):
    return ["run", suite(tmp, edited("output: out", f"output: {unwritable(tmp) / 'out'}"))]


def checkpoint_dir_is_a_file(tmp, mp):
    (tmp / "ckpt").write_text("not a folder\n")
    return ["run", suite(tmp, good() + "checkpoint_dir: ckpt\n")]


def no_cuda(tmp, mp):
    import torch

    mp.setattr(torch.cuda, "is_available", lambda: False)
    return ["run", suite(tmp, good() + "device: cuda\n")]


def empty_resources(tmp, mp):
    mp.setenv("RBNLP_RESOURCES_DIR", str(tmp / "resources"))
    (tmp / "resources").mkdir()
    text = edited("  - name: pgd\n    params: {eps: [0.0, 0.1], steps: 1}\n", "  - name: pwws\n")
    return ["run", suite(tmp, text)]


def committed_board_of_another_suite(tmp, mp):
    """The issue's case: a user's own ``sst2.yaml`` (no name:, no output:) run from the root of
    a checkout whose leaderboard/sst2 is the committed 60-cell board."""
    for suffix in (".md", ".csv", ".json"):
        (tmp / "leaderboard").mkdir(exist_ok=True)
        shutil.copy(REPO / "leaderboard" / f"sst2{suffix}", tmp / "leaderboard")
    shutil.copytree(REPO / "leaderboard" / "sst2", tmp / "leaderboard" / "sst2")
    text = good().replace("name: good\n", "").replace("output: out\n", "")
    return ["run", suite(tmp / "experiments", text, name="sst2.yaml")]


def planned_cells(path: str) -> list[str]:
    from robustbench_nlp.run.runner import plan, preflight
    from robustbench_nlp.run.suite import load_suite

    loaded = load_suite(path)
    return [cell.cell_id for cell in plan(loaded, preflight(loaded, None))]


def foreign_record_in_the_output(tmp, mp):
    path = suite(tmp)
    cell = planned_cells(path)[0]
    (tmp / "out" / "records").mkdir(parents=True)
    copied = record(
        cell_id=cell,
        suite="another-suite",
        attack={"name": "clean", "label": "clean", "params": {}},
    )
    (tmp / "out" / "records" / f"{cell}.json").write_text(json.dumps(copied))
    return ["run", path]


def alias_bomb() -> str:
    lines = ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    return "\n".join(lines) + "\n"


PGD = "  - name: pgd\n    params: {eps: [0.0, 0.1], steps: 1}\n"
HUGE_SWEEP = edited(
    "    params: {max_steps: 1, batch_size: 4}\n",
    "    sweep: {epochs: &v [1, 2, 3, 4, 5, 6, 7, 8, 9], max_steps: *v, batch_size: *v, lr: *v,\n"
    "            warmup_ratio: *v, weight_decay: *v, max_length: *v, dropout: *v, pooling: *v}\n",
).replace("attacks:\n" + PGD, "attacks: []\n")


@dataclass(frozen=True)
class Bad:
    id: str
    build: Callable  # (folder, monkeypatch) -> argv
    needles: tuple[str, ...]
    #: The most seconds the command may take (bad input must not wait on a network).
    seconds: float | None = None


ROWS = [
    # -- the suite file ------------------------------------------------------------------------
    Bad("malformed-yaml", run("name: x\nrecipes: [baseline\n"), ("invalid YAML at line",)),
    Bad("not-a-mapping", run("- a\n- b\n"), ("must be a YAML mapping",)),
    Bad("missing-suite-file", lambda t, m: ["run", str(t / "nope.yaml")], ("no such file",)),
    Bad("suite-is-a-folder", lambda t, m: ["run", str(t)], ("no such file",)),
    Bad("suite-not-utf8", run(b"name: x\ndescription: caf\xe9\n"), ("not UTF-8", "line 2")),
    Bad(
        "duplicate-key", run(good() + "seeds: [1]\n"), ("duplicate key 'seeds'", "first at line 12")
    ),
    Bad("empty-suite", run(""), ("task", "Field required")),
    Bad("unknown-key", run(edited("seeds:", "sedes:")), ("sedes", "unknown key")),
    Bad(
        "unknown-key-in-a-plugin-spec",
        run(edited("  - name: baseline\n", "  - name: baseline\n    parms: {}\n")),
        ("recipes[0].parms",),
    ),
    Bad(
        "unknown-recipe",
        run(edited("name: baseline", "name: basline")),
        ("recipes[0].name", "unknown recipe 'basline'", "Did you mean: baseline?"),
    ),
    Bad(
        "unknown-attack",
        run(edited("name: pgd", "name: pdg")),
        ("attacks[0].name", "unknown attack 'pdg'", "pgd"),
    ),
    Bad("unknown-task", run(good("sst3")), ("task.name", "unknown task 'sst3'", "sst2")),
    Bad("wrong-type", run(edited("seeds: [0]", "seeds: x")), ("seeds",)),
    Bad("boolean-seed", run(edited("seeds: [0]", "seeds: [true]")), ("seeds[0]", "boolean")),
    Bad("no-seeds", run(edited("seeds: [0]", "seeds: []")), ("seeds",)),
    Bad("repeated-seed", run(edited("seeds: [0]", "seeds: [0, 0]")), ("seeds must be unique",)),
    Bad("name-with-a-slash", run(edited("name: good", "name: a/b")), ("plain file name",)),
    Bad(
        "boolean-plugin-number",
        run(edited("max_steps: 1,", "max_steps: true,")),
        ("recipes[0].params.max_steps", "boolean"),
    ),
    Bad(
        "bad-plugin-parameter-value",
        run(edited("max_steps: 1", "max_steps: 1, lr: -1")),
        ("recipes[0].params.lr", "greater than 0"),
    ),
    Bad(
        "bad-plugin-parameter-name",
        run(edited("steps: 1}", "stepz: 1}")),
        ("attacks[0].params.stepz", "unknown key"),
    ),
    Bad(
        "infinite-lr",
        run(edited("max_steps: 1", "max_steps: 1, lr: .inf")),
        ("recipes[0].params.lr", "finite"),
    ),
    Bad(
        "nan-eps",
        run(edited("eps: [0.0, 0.1]", "eps: [0.0, .nan]")),
        ("attacks[0].params.eps[1]", "finite"),
    ),
    Bad(
        "infinite-step-size",
        run(edited("steps: 1}", "steps: 1, step_size: .inf}")),
        ("attacks[0].params.step_size", "finite"),
    ),
    Bad(
        "infinite-lr-in-a-sweep",
        run(edited("  - name: baseline\n", "  - name: baseline\n    sweep: {lr: [0.1, .inf]}\n")),
        ("recipes[0].params.lr", "finite"),
    ),
    Bad(
        "sweep-of-an-unknown-parameter",
        run(edited("  - name: baseline\n", "  - name: baseline\n    sweep: {epz: [0.1, 0.2]}\n")),
        ("recipes[0].sweep.epz", "not a parameter"),
    ),
    Bad(
        "empty-sweep",
        run(edited("  - name: baseline\n", "  - name: baseline\n    sweep: {lr: []}\n")),
        ("recipes[0].sweep.lr", "empty"),
    ),
    Bad("387-million-cell-sweep", run(HUGE_SWEEP), ("387,420,489 cells", "max_cells"), 1.0),
    Bad("over-max-cells", run(good() + "max_cells: 1\n"), ("has 2 cells", "max_cells: 1")),
    Bad("alias-bomb", run(alias_bomb()), ("expands", "100,000")),
    Bad(
        "duplicate-labels",
        run(edited("seeds:", "  - name: fgsm\n    label: pgd\nseeds:")),
        ("'pgd' is used twice",),
    ),
    Bad(
        "labels-equal-after-slugging",
        run(edited("seeds:", "  - name: fgsm\n    label: PGD\nseeds:")),
        ("'pgd' and 'PGD'", "same cell id"),
    ),
    Bad(
        "recipe-labels-equal-after-slugging",
        run(
            edited(
                "  - name: baseline\n",
                "  - name: baseline\n  - name: baseline\n    label: Baseline!\n",
            )
        ),
        ("'baseline' and 'Baseline!'", "same cell id"),
    ),
    Bad(
        "bae-without-a-masked-lm",
        run(edited(PGD, "  - name: bae\n")),
        ("attacks[0].params.mlm", "masked language model"),
    ),
    Bad(
        "eval-task-of-an-unknown-task",
        run(edited(PGD, "  - {name: eval_task, params: {task: sikc}}\n")),
        ("attacks[0].params", "Did you mean: sick"),
    ),
    # -- paths: results, checkpoints, backbone, device -------------------------------------------
    Bad("output-is-a-file", output_is_a_file, ("output", "is a file")),
    Bad("output-unwritable", output_unwritable, ("output", "cannot write")),
    Bad(
        "run---output-is-a-file",
        lambda t, m: ["run", suite(t), "--output", str(t / "suite.yaml")],
        ("output", "is a file"),
    ),
    Bad("checkpoint-dir-is-a-file", checkpoint_dir_is_a_file, ("checkpoint_dir", "is a file")),
    Bad("cuda-without-cuda", no_cuda, ("device: cuda", "no CUDA device")),
    Bad(
        "backbone-folder-missing",
        run(edited("backbone: tiny", "backbone: ./no-model")),
        ("no such folder",),
    ),
    Bad(
        "backbone-folder-without-config",
        lambda t, m: (
            (t / "model").mkdir()
            or ["run", suite(t, edited("backbone: tiny", f"backbone: {t / 'model'}"))]
        ),
        ("no config.json",),
    ),
    Bad(
        "unknown-hub-backbone",
        run(edited("backbone: tiny", "backbone: no-such-org/no-such-model-1234")),
        ("backbone no-such-org/no-such-model-1234",),
        15.0,
    ),
    Bad(
        "invalid-hub-backbone",
        run(edited("backbone: tiny", "backbone: not a model id")),
        ("nor a valid Hugging Face model id",),
    ),
    # -- the results folder belongs to another suite; records of another suite ------------------
    Bad(
        "committed-board-of-another-suite-named-sst2",
        committed_board_of_another_suite,
        ("leaderboard/sst2 belongs to suite", "cells)", "--output", "--force"),
    ),
    Bad(
        "foreign-record-in-the-output", foreign_record_in_the_output, ("another-suite", "remove it")
    ),
    # -- data -----------------------------------------------------------------------------------
    Bad(
        "missing-data-folder",
        lambda t, m: ["run", suite(t, good("sst2")), "--data-dir", str(t / "nowhere")],
        ("--data-dir", "no such folder"),
    ),
    Bad(
        "data-folder-without-the-tasks-files",
        data_folder_without_files,
        ("sst2/train.tsv is missing",),
    ),
    Bad("data-dir-from-the-environment-missing", env_data_dir, ("$RBNLP_DATA_DIR",)),
    Bad("hub-task-offline", hub_task_offline, ("could not load glue", "--data-dir"), 15.0),
    Bad(
        "wrong-label", run_sst2("label\tsentence\n1\tgood\n7\tbad\n"), ("train.tsv:3", "label '7'")
    ),
    Bad("empty-dataset", run_sst2("label\tsentence\n"), ("task sst2: the train split", "is empty")),
    Bad("empty-sentence", run_sst2("label\tsentence\n1\t   \n"), ("train.tsv:2", "empty")),
    Bad("missing-column", run_sst2("label\tsentence\n1\n"), ("train.tsv:2", "column")),
    Bad(
        "data-file-not-utf8",
        run_sst2(b"label\tsentence\n1\tgood\n0\tcaf\xe9\n"),
        ("train.tsv:3", "not UTF-8"),
    ),
    Bad(
        "nli-bad-row",
        run_nli(
            "[]", lambda d: (d / "sick" / "train.txt").write_text(sick_text() + "A.\tB.\tmaybe\n")
        ),
        ("sick/train.txt:7", "maybe"),
    ),
    Bad(
        "anli-file-not-utf8",
        run_nli(
            "[{name: anli}]",
            lambda d: (d / "anli" / "R2" / "dev.jsonl").write_bytes(b'{"uid": "\xff"}\n'),
        ),
        ("anli/R2/dev.jsonl:1", "not UTF-8"),
    ),
    Bad(
        "anli-round-missing",
        run_nli("[{name: anli}]", lambda d: (d / "anli" / "R3" / "dev.jsonl").unlink()),
        ("anli/R3/dev.jsonl is missing",),
    ),
    Bad(
        "hans-file-missing",
        run_nli("[{name: hans, params: {path: nowhere/hans.txt}}]"),
        ("attack hans", "no such file"),
    ),
    # -- models made elsewhere (hf_classifier) and AdvGLUE ---------------------------------------
    Bad(
        "hf-classifier-bare-encoder",
        hf_bare_encoder,
        ("recipe hf_classifier", "not a sequence classifier", "BertModel"),
    ),
    Bad(
        "hf-classifier-label-map-unknown-labels",
        run_hf(", label_map: {good: 0, bad: 1}"),
        ("unknown label(s) good, bad", "task labels (negative, positive)", "model labels"),
    ),
    Bad(
        "hf-classifier-label-count-mismatch",
        run_hf(labels=("entailment", "neutral", "contradiction")),
        ("3 outputs", "2 labels", "(negative, positive)", "(entailment, neutral, contradiction)"),
    ),
    Bad(
        "hf-classifier-hub-id-offline",
        lambda t, m: ["run", suite(t, hf_suite("no-such-org/no-such-model-1234"))],
        ("recipe hf_classifier (model no-such-org/no-such-model-1234)",),
        15.0,
    ),
    Bad(
        "advglue-missing-field",
        run_advglue(lambda rows: rows["sst2"][0].pop("sentence")),
        ("advglue/dev.json: sst2[0]: missing field(s) sentence",),
    ),
    Bad(
        "advglue-unknown-label",
        run_advglue(lambda rows: rows["sst2"][0].update(label=5)),
        ("sst2[0]: label 5 is not one of 0 negative, 1 positive",),
    ),
    # -- attacks that do not fit the task, or cannot run -----------------------------------------
    Bad("hans-on-a-sentiment-task", run(edited(PGD, "  - name: hans\n")), ("entailment",)),
    Bad(
        "anli-on-a-sentiment-task",
        run(edited(PGD, "  - name: anli\n")),
        ("entailment, neutral, contradiction",),
    ),
    Bad(
        "eval-task-with-other-labels",
        run(edited(PGD, "  - {name: eval_task, params: {task: snli}}\n")),
        ("entailment",),
    ),
    Bad(
        "textattack-unknown-recipe",
        run(edited(PGD, "  - {name: textattack, params: {recipe: nosuch}}\n")),
        ("recipe 'nosuch' is not a TextAttack recipe",),
    ),
    Bad("word-attack-without-resources", empty_resources, ("robustbench-nlp resources prepare",)),
    # -- --set ----------------------------------------------------------------------------------
    Bad("set-without-a-value", run(None, "--set", "seeds"), ("expected key.path=value",)),
    Bad(
        "set-index-out-of-range",
        run(None, "--set", "recipes.5.params.lr=1"),
        ("index out of range",),
    ),
    Bad(
        "set-unknown-entry",
        run(None, "--set", "recipes.nosuch.params.lr=1"),
        ("no list entry named",),
    ),
    Bad("set-into-a-scalar", run(None, "--set", "name.x=1"), ("is not a mapping or list",)),
    Bad("set-bad-yaml", run(None, "--set", "seeds=[0, 1"), ("not valid YAML",)),
    Bad(
        "set-bad-value",
        run(None, "--set", "recipes.baseline.params.lr=fast"),
        ("recipes[0].params.lr",),
    ),
    Bad(
        "set-infinite-value",
        run(None, "--set", "recipes.baseline.params.lr=.inf"),
        ("recipes[0].params.lr", "finite"),
    ),
    # -- plugins --------------------------------------------------------------------------------
    Bad(
        "bad-plugin-file",
        plugin_file("def broken(:\n"),
        ("plugin.py", "failed to import", "SyntaxError"),
    ),
    Bad(
        "plugin-exits-at-import",
        plugin_file("import sys\nsys.exit(0)\n"),
        ("plugin.py", "sys.exit(0)"),
    ),
    Bad(
        "plugin-exits-at-import-in-list",
        plugin_file("raise SystemExit\n", command="list"),
        ("plugin.py", "sys.exit(None)"),
    ),
    Bad(
        "include-of-a-missing-path",
        lambda t, m: ["list", "--include", str(t / "nope.py")],
        ("no such file",),
    ),
    Bad(
        "include-of-a-non-python-file",
        lambda t, m: ["list", "--include", suite(t)],
        ("expected a .py file",),
    ),
    Bad(
        "include-of-an-empty-folder",
        lambda t, m: (t / "plugins").mkdir() or ["list", "--include", str(t / "plugins")],
        ("holds no .py files",),
    ),
    # -- leaderboard ----------------------------------------------------------------------------
    Bad(
        "leaderboard-of-a-folder-that-is-not-a-results-folder",
        lambda t, m: (t / "empty").mkdir() or ["leaderboard", str(t / "empty")],
        ("no suite.json",),
    ),
    Bad(
        "leaderboard-of-a-missing-folder",
        lambda t, m: ["leaderboard", str(t / "nope")],
        ("no such results folder",),
    ),
    Bad(
        "leaderboard-truncated-manifest",
        board(json.dumps(manifest())[:100]),
        ("suite.json", "not valid JSON"),
    ),
    Bad(
        "leaderboard-manifest-not-an-object",
        board("[1, 2]"),
        ("suite.json", "expected a JSON object"),
    ),
    Bad(
        "leaderboard-manifest-without-cells",
        board({k: v for k, v in manifest().items() if k != "cells"}),
        ("suite.json", "cells: Field required"),
    ),
    Bad("leaderboard-manifest-of-wrong-types", board(manifest(cells=5)), ("suite.json", "cells")),
    Bad(
        "leaderboard-manifest-with-a-bad-cell-id",
        board(manifest(cells=["../../etc/passwd"])),
        ("suite.json", "cells.0"),
    ),
    Bad(
        "leaderboard-manifest-listing-a-cell-twice",
        board(manifest(cells=[CELL, CELL])),
        ("listed twice",),
    ),
    Bad(
        "leaderboard-manifest-with-colliding-labels",
        board(
            manifest(
                attacks=[
                    {"label": "PGD", "name": "pgd", "params": {}},
                    {"label": "pgd", "name": "pgd", "params": {}},
                ]
            )
        ),
        ("same cell id",),
    ),
    Bad(
        "leaderboard-manifest-not-utf8",
        lambda t, m: ["leaderboard", str(_bytes_manifest(t))],
        ("not UTF-8",),
    ),
    Bad(
        "leaderboard-invalid-record", board(None, "{not json"), ("not a valid record", "delete it")
    ),
    Bad(
        "leaderboard-record-of-another-suite",
        board(None, record(suite="other")),
        ("suite 'other'", "remove it"),
    ),
    Bad(
        "leaderboard-record-of-another-task",
        board(None, record(task={"name": "sst2", "label": "sst2", "params": {}})),
        ("task 'sst2'",),
    ),
    Bad(
        "leaderboard-record-of-another-cell",
        board(None, record(cell_id="baseline__seed0__clean__9999999999")),
        ("copied or renamed",),
    ),
    Bad(
        "leaderboard-unwritable-out",
        lambda t, m: ["leaderboard", str(results(t)), "--out", str(unwritable(t) / "board")],
        ("cannot write the board",),
    ),
    Bad(
        "leaderboard-out-without-a-name",
        lambda t, m: ["leaderboard", str(results(t)), "--out", str(t / ".hidden")],
        ("--out", "file name"),
    ),
    # -- resources ------------------------------------------------------------------------------
    Bad(
        "resources-without-data-and-a-data-dir",
        lambda t, m: ["resources", "prepare", "--without-data", "--data-dir", str(t)],
        ("contradict",),
    ),
]


def _bytes_manifest(tmp: Path) -> Path:
    folder = results(tmp)
    (folder / "suite.json").write_bytes(b'{"suite": "caf\xe9"}')
    return folder


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: type, size, content hash and modification time."""
    state = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_dir():
                state[str(path)] = ("dir",)
            else:
                data = path.read_bytes()
                state[str(path)] = (
                    len(data),
                    hashlib.sha256(data).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return state


def test_the_table_holds_at_least_45_distinct_inputs():
    assert len({row.id for row in ROWS}) == len(ROWS) >= 45


@pytest.mark.parametrize("case", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = case.build(work, monkeypatch)
    cache = Path(os.environ["RBNLP_CACHE_DIR"])
    before = snapshot(work, cache)
    capsys.readouterr()
    started = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, f"expected one line, got:\n{err}"
    assert err.startswith("error: "), err
    for needle in case.needles:
        assert needle in err, err
    assert snapshot(work, cache) == before, "nothing may be written on bad input"
    if case.seconds is not None:
        assert seconds < case.seconds, f"took {seconds:.1f} s"
