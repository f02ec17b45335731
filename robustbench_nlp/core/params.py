"""Plugin parameters as registration records: what ``list`` shows and what a suite is checked
against, without importing the plugin's module (which imports torch).

``Param`` describes one hyperparameter (type as source text, default, bounds); ``shadow_model``
turns a plugin's records into a pydantic model that rejects a bad value with the message the
plugin class would give; ``params_of`` reads the records a class implies (for the test that
keeps the tables honest).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a parameter that has none (the suite must set it).
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One hyperparameter as registration knows it: enough to list it and to validate a value.

    ``type`` is the annotation as source text (``"int | None"``, ``"Literal['l2', 'linf']"``),
    ``bounds`` the pydantic ``Field`` constraints (``(("ge", 0), ("lt", 1))``).
    """

    name: str
    type: str
    default: Any = REQUIRED
    doc: str = ""
    bounds: tuple[tuple[str, Any], ...] = ()


def param(name: str, type: str, default: Any = REQUIRED, doc: str = "", **bounds: Any) -> Param:
    """``Param`` with the bounds as keywords: ``param("lr", "float", 5e-5, gt=0)``."""
    return Param(name, type, default, doc, tuple(bounds.items()))


def extend(params: tuple[Param, ...], *more: Param) -> tuple[Param, ...]:
    """A subclass's parameters: ``more`` replaces same-named ones in place (pydantic keeps an
    overridden field where the base declared it) and appends the others."""
    replaced = {p.name: p for p in more}
    kept = tuple(replaced.pop(p.name, p) for p in params)
    return kept + tuple(p for p in more if p.name in replaced)


#: The names a ``Param.type`` may use.
_TYPE_NAMES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "None": None,
    "Any": Any,
    "Literal": typing.Literal,
    "Optional": typing.Optional,
}


def type_text(annotation: Any) -> str:
    """An annotation as source text that ``_TYPE_NAMES`` evaluates back to it."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def field_param(name: str, field: FieldInfo) -> Param:
    """A pydantic field as a ``Param`` (type, default, description, bounds)."""
    if field.default_factory is not None:
        default = field.default_factory()
    elif field.default is PydanticUndefined:
        default = REQUIRED
    else:
        default = field.default
    bounds = []
    for item in field.metadata:
        if not dataclasses.is_dataclass(item):
            raise TypeError(f"field {name}: cannot describe the constraint {item!r}")
        bounds += [(f.name, getattr(item, f.name)) for f in dataclasses.fields(item)]
    return Param(name, type_text(field.annotation), default, field.description or "", tuple(bounds))


def shadow_model(name: str, params: tuple[Param, ...]) -> type[BaseModel]:
    """A model with exactly ``params`` (types, defaults, bounds; unknown keys forbidden): it
    rejects a bad value with the message the plugin class would give, without importing it."""
    fields: dict[str, Any] = {}
    for p in params:
        annotation = eval(p.type, {"__builtins__": {}}, _TYPE_NAMES)  # noqa: S307 - our tables
        default = PydanticUndefined if p.default is REQUIRED else p.default
        fields[p.name] = (annotation, Field(default, **dict(p.bounds)))
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{name}_params", __config__=config, **fields)


def params_of(cls: Any) -> tuple[Param, ...]:
    """A plugin class's fields as ``Param`` records (what a ``PluginInfo`` must hold)."""
    fields = getattr(cls, "model_fields", {})
    return tuple(field_param(name, field) for name, field in fields.items())
