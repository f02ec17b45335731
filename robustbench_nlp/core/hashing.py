"""Stable fingerprints: of JSON data (cell ids, checkpoint keys) and of files (data, models).

A fingerprint must not depend on key order, the machine or the Python process, so that the same
settings give the same cell id anywhere and a changed file gives a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def stable_hash(payload: Any, length: int = 16) -> str:
    """Hash of JSON data that does not depend on key order."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def files_fingerprint(paths: Iterable[Path], root: Path | None = None, length: int = 16) -> str:
    """One fingerprint of several files' contents (and their names relative to ``root``).

    The same files in another folder (another copy of the data) give the same fingerprint; an
    edited byte gives a different one.
    """
    entries = []
    for path in sorted(Path(p) for p in paths):
        name = str(path.relative_to(root)) if root is not None else path.name
        entries.append([name, file_digest(path)])
    return stable_hash(entries, length)
