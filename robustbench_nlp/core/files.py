"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file the project writes that another run may read (records, manifests, boards, resources,
adversarial examples, checkpoints) goes through here: written to a temporary file in the same
folder, flushed and fsynced, then renamed over the target.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a staging folder beside ``target``; on success it replaces ``target`` whole.

    A killed or failing build leaves ``target`` as it was (or absent), never half built.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish_folder(staging: Path, target: Path, keep_existing: Callable[[], bool]) -> bool:
    """Rename a finished ``staging`` folder to ``target`` unless ``keep_existing()`` says another
    writer already published one (then staging is removed). Returns True if ours was kept."""
    if keep_existing():
        shutil.rmtree(staging, ignore_errors=True)
        return False
    try:
        os.replace(staging, target)
    except OSError:  # a concurrent writer published between the check and the rename
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True


def writable_folder_problem(folder: Path) -> str | None:
    """Why files cannot be written under ``folder`` (created if missing), or None.

    Checked before a run writes anything: ``folder`` must be a folder (or not exist yet), and
    its nearest existing ancestor must take a new file (probed with a temporary file that is
    removed at once, so root, read-only mounts and ACLs are judged as they are).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        handle, probe = tempfile.mkstemp(prefix=".rbnlp-probe-", dir=existing)
    except OSError as error:
        return f"cannot write in {existing} ({error.strerror or error})"
    os.close(handle)
    Path(probe).unlink(missing_ok=True)
    return None
