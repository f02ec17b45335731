"""The results store: one self-describing JSON record per cell, written atomically.

Records are the project's data (RobustBench style): the leaderboard is rendered from them alone,
so each carries its recipe, task, attack and all parameters, metrics with their column labels,
timings and library versions. A record is written to a temporary file and renamed, so a killed
run leaves either the whole record or none.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_write_text
from robustbench_nlp.core.metrics import Metric

SCHEMA_VERSION = 3
OUTCOMES_SUFFIX = ".outcomes.json"
#: The oldest record schema this reader upgrades (older ones: recompute the cell).
OLDEST_SCHEMA = 2


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

    def is_finished(self, cell_id: str) -> bool:
        record = self.load(cell_id)
        return record is not None and record.status == "ok"

    def write(self, record: Record) -> Path:
        path = self.record_path(record.cell_id)
        atomic_write_text(path, record.model_dump_json(indent=2) + "\n")
        return path

    def write_outcomes(self, cell_id: str, text: str) -> str:
        """The cell's per-example outcomes beside its record; returns the file name."""
        name = f"{cell_id}{OUTCOMES_SUFFIX}"
        atomic_write_text(self.records_dir / name, text)
        return name

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / "suite.json", json.dumps(manifest, indent=2) + "\n")

    def manifest(self) -> dict[str, Any]:
        path = self.root / "suite.json"
        if not path.is_file():
            raise UserError(f"{self.root}: no suite.json here; is it a results folder of a run?")
        return json.loads(path.read_text())


def read_record(path: Path) -> Record:
    try:
        return Record.model_validate_json(path.read_text())
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
