"""Tasks: labelled datasets that recipes train on and attacks evaluate on.

``Example``, ``Task`` and ``TaskData`` are imported on first use, so the package's registry
(``tasks.registry``) loads without pydantic.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Example", "Task", "TaskData"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'robustbench_nlp.tasks' has no attribute {name!r}")
    from robustbench_nlp.tasks import base

    return getattr(base, name)
