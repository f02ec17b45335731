"""Progress of long work: a tqdm bar on a terminal, a plain line every ``STEP`` percent off one.

CI logs and files cannot show a redrawn bar (every redraw becomes a line); off a terminal this
prints ``desc: 40/200 (20%)`` when the work crosses each step instead, and ``TQDM_DISABLE=1``
silences both (worker processes set it).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: Off a terminal, a line each time the work crosses another multiple of this many percent.
STEP = 10


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close``, printed as occasional plain lines."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n, self.postfix, self._reported = 0, "", -1
        self._started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        percent = 100 * self.n // self.total if self.total else 100
        if percent // STEP > self._reported or self.n >= self.total:
            if self._reported == 100 // STEP and self.n >= self.total:
                return
            self._reported = percent // STEP
            seconds = time.perf_counter() - self._started
            extra = f" {self.postfix}" if self.postfix else ""
            done = f"{self.n}/{self.total} {self.unit}"
            print(
                f"{self.desc}: {done} ({percent}%, {seconds:.0f} s){extra}",
                file=self.stream,
                flush=True,
            )

    def set_postfix(self, values: dict[str, Any], refresh: bool = False) -> None:
        self.postfix = " ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        pass


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, values: dict[str, Any], refresh: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(total: int, desc: str, unit: str = "ex", stream: TextIO | None = None):
    """A progress object for ``total`` units of work (see the module docstring)."""
    stream = stream or sys.stderr
    if os.environ.get("TQDM_DISABLE") in ("1", "true", "True"):
        return _Silent()
    if stream.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream)
    return LineProgress(total, desc, unit, stream)


@contextmanager
def progress(total: int, desc: str, unit: str = "ex") -> Iterator[Any]:
    bar = make_progress(total, desc, unit)
    try:
        yield bar
    finally:
        bar.close()


def write(message: str) -> None:
    """A message that does not break a progress bar."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)
