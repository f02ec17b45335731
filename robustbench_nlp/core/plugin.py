"""The base every plugin shares: hyperparameters as validated, recorded fields.

A plugin (recipe, attack, task) is a pydantic model: its fields are its hyperparameters with their
defaults, so a suite is validated field by field with the path of every mistake, and
``params()`` gives every setting (defaults included) for records and checkpoint keys. Methods
hold the algorithm; constructing a plugin does no work.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from robustbench_nlp.core.registry import REQUIRED, Param


class Plugin(BaseModel):
    """Base class of recipes, attacks and tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    #: What kind of plugin this is ("recipe", "attack", "task").
    kind: ClassVar[str] = "plugin"
    #: The name the class is registered under (set by the registry).
    plugin_name: ClassVar[str] = ""
    #: Bump when a change to the plugin's code changes its results: it is part of the identity
    #: of every checkpoint and cell the plugin takes part in, so those are recomputed.
    version: ClassVar[int] = 1

    def params(self) -> dict[str, Any]:
        """Every hyperparameter, defaults included, as plain JSON data."""
        return self.model_dump(mode="json")


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
    return create_model(f"{name}_params", __config__=ConfigDict(extra="forbid"), **fields)
