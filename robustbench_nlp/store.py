"""The results store: one self-describing JSON record per cell, written atomically.

Records are the project's data (RobustBench style): the leaderboard is rendered from them alone,
so each carries its recipe, task, attack and all parameters, metrics with their column labels,
timings and library versions. A record is written to a temporary file and renamed, so a killed
run leaves either the whole record or none.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from robustbench_nlp.errors import UserError

SCHEMA_VERSION = 2
#: Schema-1 main-column keys that measured no attack (PGD/FGSM at eps 0).
_SCHEMA1_UNATTACKED_KEYS = {"robust_accuracy@eps=0"}


@dataclass(frozen=True)
class Column:
    """One metric as the leaderboard shows it (attacks return these; records keep them)."""

    key: str
    label: str
    #: "main": a column of the main table; "detail" or "detail:<name>": a detail table.
    table: str = "main"
    #: True for fractions shown x100 (accuracies, Spearman); False for counts and ratios.
    percent: bool = True
    higher_is_better: bool = True
    #: True for a summary score the board should rank by (e.g. the STS average) instead of the
    #: mean of all robust columns.
    rank: bool = False
    #: False for a main column that measures no attack (PGD at eps 0, accuracy on another clean
    #: test set): shown, but left out of the "Mean robust" score so it cannot flatter a row.
    robust: bool = True


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
    columns: list[Column] = Field(default_factory=list)
    n_examples: int = 0
    checkpoint: str | None = None
    checkpoint_reused: bool = False
    training: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)
    error: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Read schema-1 records (before ``Column.robust``): mark the columns that version
        counted as robust although they measure no attack, exactly as schema 2 writes them."""
        if isinstance(data, dict) and data.get("schema_version") == 1:
            data = {**data, "schema_version": SCHEMA_VERSION}
            clean_set = (data.get("attack") or {}).get("name") == "eval_task"
            data["columns"] = [
                {**col, "robust": False}
                if isinstance(col, dict)
                and (clean_set or col.get("key") in _SCHEMA1_UNATTACKED_KEYS)
                else col
                for col in data.get("columns", [])
            ]
        return data


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
    except (ValidationError, ValueError) as error:
        raise UserError(
            f"{path}: not a valid record ({str(error).splitlines()[0]}); "
            "delete it to recompute that cell."
        ) from None
