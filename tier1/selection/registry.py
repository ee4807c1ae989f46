"""Which selection plugins exist: the in-tree ones and those installed as entry points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from common.recipe import PluginSetting
from tier1.selection.framework import EnabledPlugin
from tier1.selection.interface import Plugin
from tier1.selection.plugins.bandwidth import BandwidthHeadroom
from tier1.selection.plugins.capacity import Capacity
from tier1.selection.plugins.client_networks import ClientNetworks
from tier1.selection.plugins.freshness import Freshness
from tier1.selection.plugins.legacy import LegacyMatchers
from tier1.selection.plugins.load import LeastLoaded
from tier1.selection.plugins.operator import OperatorPreference
from tier1.selection.plugins.proximity import Proximity
from tier1.selection.plugins.requirements import RecipeRequirements

ENTRY_POINT_GROUP = "sinfonia.selectors"


class PluginClass(Protocol):
    """A plugin class: its `NAME`, its `Args` model, and a constructor taking the args."""

    NAME: str
    Args: type[BaseModel]

    def __call__(self, args: Any) -> Plugin: ...


IN_TREE: Mapping[str, PluginClass] = {
    cls.NAME: cls  # type: ignore[misc]
    for cls in (
        ClientNetworks,
        Freshness,
        RecipeRequirements,
        Capacity,
        Proximity,
        LeastLoaded,
        BandwidthHeadroom,
        OperatorPreference,
        LegacyMatchers,
    )
}


class PipelineError(ValueError):
    """A selection pipeline names an unknown plugin or gives it bad arguments."""


class Registry:
    """Plugin classes by name; built fresh (tests make their own), never a module global."""

    def __init__(self, plugins: Mapping[str, PluginClass]) -> None:
        self._plugins = dict(plugins)

    @classmethod
    def with_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> Registry:
        """The in-tree plugins plus third-party ones; a name defined twice is an error."""
        plugins = dict(IN_TREE)
        for entry in entry_points(group=group):
            if entry.name in plugins:
                raise PipelineError(f"selection plugin {entry.name!r} is defined twice")
            loaded = entry.load()
            if getattr(loaded, "NAME", None) != entry.name:
                raise PipelineError(
                    f"entry point {entry.name!r} must name a class whose NAME is {entry.name!r}"
                )
            plugins[entry.name] = loaded
        return cls(plugins)

    @property
    def names(self) -> list[str]:
        return sorted(self._plugins)

    def build(self, settings: Iterable[PluginSetting]) -> list[EnabledPlugin]:
        """Instantiate a pipeline; any unknown name or bad argument fails here, at start."""
        enabled: list[EnabledPlugin] = []
        seen: set[str] = set()
        for setting in settings:
            plugin_class = self._plugins.get(setting.name)
            if plugin_class is None:
                raise PipelineError(
                    f"unknown selection plugin {setting.name!r}; known: {', '.join(self.names)}"
                )
            if setting.name in seen:
                raise PipelineError(f"selection plugin {setting.name!r} is enabled twice")
            seen.add(setting.name)
            try:
                args = plugin_class.Args.model_validate(setting.args)
                plugin = plugin_class(args)
            except (ValidationError, ValueError) as exc:
                raise PipelineError(f"selection plugin {setting.name!r}: {exc}") from exc
            enabled.append(EnabledPlugin(plugin=plugin, weight=setting.weight))
        return enabled
