"""The results store: one self-describing JSON record per cell, written atomically.

Records are the project's data (RobustBench style): the leaderboard is rendered from them alone,
so each carries its recipe, task, attack and all parameters, metrics with their column labels,
timings and library versions. A record is written to a temporary file and renamed, so a killed
run leaves either the whole record or none.

A results folder belongs to one suite. Its manifest (``suite.json``) lists the suite's resolved
settings and cells and its ``owner`` (the suite file, relative to the folder, and a hash of the
settings); a run of a suite whose settings differ from the manifest's in anything but added
entries (a new seed, recipe or attack) is refused (``manifest_conflict``), and a compatible run
merges its cells into the manifest instead of replacing it (``merge_manifests``), so a run of
one seed never drops the others' cells. A manifest without an owner (written before owners
existed) belongs to whichever suite of the same name has compatible settings.

Records are checked when read: a record whose cell id, suite, task, backbone, recipe, seed or
attack is not the manifest's (a file copied in from another folder) is refused
(``foreign_reason``), and a failed record never replaces an ok one (``write``). Processes
running the same suite at once coordinate through lock files in ``.locks/`` (``lock``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from filelock import FileLock
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_write_text
from robustbench_nlp.core.hashing import stable_hash
from robustbench_nlp.core.metrics import Metric

SCHEMA_VERSION = 3
OUTCOMES_SUFFIX = ".outcomes.json"
#: The oldest record schema this reader upgrades (older ones: recompute the cell).
OLDEST_SCHEMA = 2


#: The folder of a results folder's (and a checkpoint store's) lock files.
LOCKS = ".locks"
CELL_ID = r"^[A-Za-z0-9.=-]+__seed-?[0-9]+__[A-Za-z0-9.=-]+__[0-9a-f]+$"


def label_slug(label: str) -> str:
    """A label as it appears in cell ids and file names."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "-", label).strip("-").lower() or "x"


def cell_prefix(recipe_label: str, seed: int, attack_label: str) -> str:
    """The readable part of a cell id: one per (recipe, seed, attack) of a suite."""
    return f"{label_slug(recipe_label)}__seed{seed}__{label_slug(attack_label)}"


def check_labels(labels: list[str], where: str) -> None:
    """Labels must be unique, also once slugged (``PGD`` and ``pgd`` give one cell id)."""
    seen: dict[str, str] = {}
    for label in labels:
        slug = label_slug(label)
        if slug in seen:
            if seen[slug] == label:
                raise UserError(
                    f"{where}: label {label!r} is used twice; give each entry its own label:."
                )
            raise UserError(
                f"{where}: labels {seen[slug]!r} and {label!r} give the same cell id "
                f"({slug!r}); labels must differ in more than case or punctuation."
            )
        seen[slug] = label


class PluginRecord(BaseModel):
    name: str
    label: str
    params: dict[str, Any]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    cell_id: str
    suite: str
    status: Literal["ok", "failed"]
    backbone: str
    task: PluginRecord
    task_source: str
    recipe: PluginRecord
    seed: int
    attack: PluginRecord
    metrics: dict[str, float] = Field(default_factory=dict)
    columns: list[Metric] = Field(default_factory=list)
    n_examples: int = 0
    #: What the cell's identity saw: the task's data, the measurement's own data and
    #: resources, and every plugin's version (see ``runner.Identity``).
    fingerprints: dict[str, Any] = Field(default_factory=dict)
    #: The per-example outcomes file beside the record (None for records before schema 3).
    outcomes: str | None = None
    checkpoint: str | None = None
    checkpoint_reused: bool = False
    training: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    #: The cell's peak resident memory in MiB (``run.compute.peak_memory_mib``); None before it
    #: was recorded.
    peak_memory_mib: float | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)
    #: What a reader must know about the numbers (e.g. an undefined correlation, left out).
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Read schema-2 records (columns carried their own titles and ``rank`` / ``robust``
        flags): keep each title and map the flags onto ``Metric.role``."""
        if (
            not isinstance(data, dict)
            or data.get("schema_version", SCHEMA_VERSION) == SCHEMA_VERSION
        ):
            return data
        version = data.get("schema_version")
        if not isinstance(version, int) or version < OLDEST_SCHEMA:
            raise ValueError(
                f"schema_version {version!r} is older than this reader understands "
                f"({OLDEST_SCHEMA}+)"
            )
        columns = []
        for col in data.get("columns", []):
            role = (
                "score"
                if col.get("rank")
                else "clean"
                if col.get("key") == "clean_accuracy" and col.get("table", "main") == "main"
                else "robust"
                if col.get("robust", True)
                else "other"
            )
            columns.append(
                {
                    "key": col["key"],
                    "title": col["label"],
                    "table": col.get("table", "main"),
                    "percent": col.get("percent", True),
                    "higher_is_better": col.get("higher_is_better", True),
                    "role": role,
                    "field": None,
                }
            )
        return {**data, "schema_version": SCHEMA_VERSION, "columns": columns}


class ManifestEntry(BaseModel):
    label: str
    name: str
    params: dict[str, Any]


class ManifestTask(BaseModel):
    name: str
    params: dict[str, Any]


class Owner(BaseModel):
    #: The suite file, relative to the results folder where possible.
    source: str
    #: ``settings_hash`` of the manifest's settings.
    settings_hash: str


class Manifest(BaseModel):
    """The schema of ``suite.json`` (checked whenever it is read; extra keys are kept)."""

    model_config = ConfigDict(extra="allow")

    suite: str
    description: str = ""
    source: str = ""
    backbone: str
    seeds: list[StrictInt]
    task: ManifestTask
    recipes: list[ManifestEntry]
    attacks: list[ManifestEntry]
    cells: list[Annotated[str, StringConstraints(pattern=CELL_ID)]]
    owner: Owner | None = None

    @field_validator("cells")
    @classmethod
    def _unique_cells(cls, cells: list[str]) -> list[str]:
        repeated = sorted({c for c in cells if cells.count(c) > 1})
        if repeated:
            raise ValueError(f"cell {repeated[0]!r} is listed twice")
        return cells

    @model_validator(mode="after")
    def _distinct_labels(self) -> Manifest:
        for kind, entries in (("recipes", self.recipes), ("attacks", self.attacks)):
            try:
                check_labels([e.label for e in entries], kind)
            except UserError as error:
                raise ValueError(str(error)) from None
        return self


#: The manifest keys that decide results (``description`` and ``source`` only describe them).
SETTINGS = ("suite", "backbone", "seeds", "task", "recipes", "attacks")


def settings_hash(manifest: dict[str, Any]) -> str:
    return stable_hash({key: manifest.get(key) for key in SETTINGS})


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first parameter both give a different value (a parameter only one of them has, e.g.
    one added to a plugin since, is not a change: its cells get new ids anyway)."""
    for key in old.keys() & new.keys():
        if old[key] != new[key]:
            return f"{key} {json.dumps(old[key])} -> {json.dumps(new[key])}"
    return None


def manifest_conflict(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """How the settings ``new`` differ from those of the manifest ``old`` in more than added
    seeds, recipes and attacks; None when ``new`` may run in ``old``'s folder."""
    if old["suite"] != new["suite"]:
        return f"the suite's name is {new['suite']!r}, not {old['suite']!r}"
    if old["backbone"] != new["backbone"]:
        return f"backbone {old['backbone']!r} -> {new['backbone']!r}"
    if old["task"]["name"] != new["task"]["name"]:
        return f"task {old['task']['name']!r} -> {new['task']['name']!r}"
    changed = _changed(old["task"]["params"], new["task"]["params"])
    if changed:
        return f"task.params: {changed}"
    for kind in ("recipes", "attacks"):
        before = {entry["label"]: entry for entry in old[kind]}
        for entry in new[kind]:
            was = before.get(entry["label"])
            if was is None:
                continue
            if was["name"] != entry["name"]:
                return f"{kind} {entry['label']!r}: {was['name']!r} -> {entry['name']!r}"
            changed = _changed(was["params"], entry["params"])
            if changed:
                return f"{kind} {entry['label']!r}: {changed}"
    return None


def _by_label(old: list[dict], new: list[dict]) -> list[dict]:
    fresh = {entry["label"]: entry for entry in new}
    merged = [fresh.pop(entry["label"], entry) for entry in old]
    return merged + [entry for entry in new if entry["label"] in fresh]


def merge_manifests(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` (a compatible run) merged into ``old``: every entry and cell of either, the new
    cell replacing the old one of the same (recipe, seed, attack) (new data or resources)."""
    cells = {cell.rsplit("__", 1)[0]: cell for cell in new["cells"]}
    kept = [cells.pop(cell.rsplit("__", 1)[0], cell) for cell in old["cells"]]
    merged = {
        **old,
        **new,
        "seeds": old["seeds"] + [seed for seed in new["seeds"] if seed not in old["seeds"]],
        "recipes": _by_label(old["recipes"], new["recipes"]),
        "attacks": _by_label(old["attacks"], new["attacks"]),
        "cells": kept + list(cells.values()),
    }
    return merged


def foreign_reason(record: Record, cell_id: str, manifest: dict[str, Any]) -> str | None:
    """Why ``record`` (read from the file of ``cell_id``) is not that cell of the manifest's
    suite; None when it is."""
    if record.cell_id != cell_id:
        return f"it holds cell {record.cell_id!r} (copied or renamed from another cell)"
    if record.suite != manifest["suite"]:
        return f"it is a record of suite {record.suite!r}, not {manifest['suite']!r}"
    task = manifest["task"]
    if record.task.name != task["name"] or _changed(task["params"], record.task.params):
        return f"it is a record of task {record.task.name!r} {record.task.params}, not this one"
    if record.backbone != manifest["backbone"]:
        return f"it is a record of backbone {record.backbone!r}"
    recipes = {entry["label"] for entry in manifest["recipes"]}
    attacks = {entry["label"] for entry in manifest["attacks"]}
    if (
        record.recipe.label not in recipes
        or record.attack.label not in attacks
        or record.seed not in manifest["seeds"]
    ):
        return (
            f"its recipe {record.recipe.label!r}, seed {record.seed} or attack "
            f"{record.attack.label!r} is not in this suite"
        )
    if cell_id.rsplit("__", 1)[0] != cell_prefix(
        record.recipe.label, record.seed, record.attack.label
    ):
        return "its recipe, seed and attack are not those its cell id names"
    return None


class ResultsStore:
    """A results folder: ``suite.json`` plus ``records/<cell_id>.json`` (and artifacts)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.records_dir = self.root / "records"

    def record_path(self, cell_id: str) -> Path:
        return self.records_dir / f"{cell_id}.json"

    def load(self, cell_id: str) -> Record | None:
        path = self.record_path(cell_id)
        return read_record(path) if path.is_file() else None

    def load_checked(self, cell_id: str, manifest: dict[str, Any]) -> Record | None:
        """The record of ``cell_id`` (None if there is none), refused if it is not this
        suite's cell (``foreign_reason``)."""
        record = self.load(cell_id)
        if record is not None:
            reason = foreign_reason(record, cell_id, manifest)
            if reason:
                raise UserError(
                    f"{self.record_path(cell_id)}: not a record of this results folder "
                    f"({reason}); remove it (the run recomputes the cell)."
                )
        return record

    def is_finished(self, cell_id: str) -> bool:
        record = self.load(cell_id)
        return record is not None and record.status == "ok"

    def write(self, record: Record) -> Path:
        """Write a record atomically; a failed record never replaces an ok one (another
        process may have finished the cell meanwhile)."""
        path = self.record_path(record.cell_id)
        if record.status != "ok" and path.is_file():
            try:
                if read_record(path).status == "ok":
                    return path
            except UserError:  # an unreadable record: replace it
                pass
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        return path

    def lock(self, name: str) -> FileLock:
        """A lock shared by every process that writes ``name`` (a cell id, ``suite.json``)."""
        return FileLock(self.root / LOCKS / f"{name}.lock")

    def write_outcomes(self, cell_id: str, text: str) -> str:
        """The cell's per-example outcomes beside its record; returns the file name."""
        name = f"{cell_id}{OUTCOMES_SUFFIX}"
        atomic_write_text(self.records_dir / name, text)
        return name

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / "suite.json", json.dumps(manifest, indent=2) + "\n")

    @property
    def manifest_path(self) -> Path:
        return self.root / "suite.json"

    def has_manifest(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        """The manifest, checked against its schema (UserError naming the problem if not)."""
        path = self.manifest_path
        if not path.is_file():
            raise UserError(f"{self.root}: no suite.json here; is it a results folder of a run?")
        fix = "rerun its suite with --force to rewrite it"
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text; {fix}.") from None
        except json.JSONDecodeError as error:
            raise UserError(
                f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg}); {fix}."
            ) from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: not a manifest (expected a JSON object); {fix}.")
        try:
            Manifest.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise UserError(
                f"{path}: not a valid manifest ({where + ': ' if where else ''}{message}); {fix}."
            ) from None
        return data


def read_record(path: Path) -> Record:
    try:
        return Record.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserError(
            f"{path}: not a valid record ({where + ': ' if where else ''}{first['msg']}); "
            "delete it to recompute that cell."
        ) from None
    except ValueError as error:
        raise UserError(
            f"{path}: not a valid record ({str(error).splitlines()[0]}); "
            "delete it to recompute that cell."
        ) from None
