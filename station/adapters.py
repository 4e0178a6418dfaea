"""Adapter discovery through the ``bodydock.adapters`` entry-point group.

Entry points resolve to static manifests; an adapter's implementation is imported only when a
camera that needs it is docked, so a broken third-party adapter cannot stop the station.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from device_adapters.api import API_VERSION, AdapterFactory, AdapterManifest

GROUP = "bodydock.adapters"


class AdapterLoadError(Exception):
    pass


def discover() -> dict[str, AdapterManifest]:
    found: dict[str, AdapterManifest] = {}
    for ep in entry_points(group=GROUP):
        manifest = ep.load()
        if not isinstance(manifest, AdapterManifest):
            raise AdapterLoadError(f"entry point {ep.name} does not name an AdapterManifest")
        if manifest.api_version != API_VERSION:
            raise AdapterLoadError(
                f"adapter {manifest.name} wants API v{manifest.api_version}, station has v{API_VERSION}"
            )
        found[manifest.name] = manifest
    return found


class AdapterRegistry:
    def __init__(self, options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.manifests = discover()
        self._options = options or {}
        self._factories: dict[str, AdapterFactory] = {}

    def factory(self, name: str) -> AdapterFactory:
        if name not in self._factories:
            manifest = self.manifests.get(name)
            if manifest is None:
                raise AdapterLoadError(f"no adapter named {name!r} is installed")
            module, _, attr = manifest.factory.partition(":")
            cls = getattr(importlib.import_module(module), attr)
            factory = cls(**self._options.get(name, {}))
            if not isinstance(factory, AdapterFactory):
                raise AdapterLoadError(f"{manifest.factory} is not an AdapterFactory")
            self._factories[name] = factory
        return self._factories[name]
