"""The base every plugin shares: hyperparameters as validated, recorded fields.

A plugin (recipe, attack, task) is a pydantic model: its fields are its hyperparameters with their
defaults, so a suite is validated field by field with the path of every mistake, and
``params()`` gives every setting (defaults included) for records and checkpoint keys. Methods
hold the algorithm; constructing a plugin does no work.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


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
