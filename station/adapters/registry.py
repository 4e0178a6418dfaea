"""Adapter discovery through the ``bodydock.adapters`` entry-point group, and matching by descriptor.

Entry points resolve to static descriptors; an adapter's implementation is imported only when a
camera that needs it is docked, so a broken third-party adapter cannot stop the station: a
descriptor that fails to load is logged and skipped, a factory that fails faults only its slot.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from device_adapters.api import API_VERSION, AdapterDescriptor, AdapterFactory, CameraAdapter
from station.adapters.calls import CallTimeouts, GuardedAdapter

log = logging.getLogger(__name__)

GROUP = "bodydock.adapters"


class AdapterLoadError(Exception):
    pass


def _load(ep: Any) -> AdapterDescriptor:
    descriptor = ep.load()
    if not isinstance(descriptor, AdapterDescriptor):
        raise AdapterLoadError(f"entry point {ep.name} does not name an AdapterDescriptor")
    if descriptor.api_version != API_VERSION:
        raise AdapterLoadError(f"adapter {descriptor.name} wants API v{descriptor.api_version}, "
                               f"station has v{API_VERSION}")
    if descriptor.name != ep.name:
        raise AdapterLoadError(f"entry point {ep.name} names adapter {descriptor.name!r}; the names must agree")
    return descriptor


def discover(errors: dict[str, str] | None = None) -> dict[str, AdapterDescriptor]:
    """Installed descriptors by name. Broken entry points are skipped (and recorded in ``errors``)."""
    found: dict[str, AdapterDescriptor] = {}
    for ep in entry_points(group=GROUP):
        try:
            found[ep.name] = _load(ep)
        except Exception as exc:  # a third-party package must not stop the station
            log.error("adapter entry point %s skipped: %s", ep.name, exc)
            if errors is not None:
                errors[ep.name] = f"{type(exc).__name__}: {exc}"
    return found


@dataclass(frozen=True)
class DeviceFacts:
    """What the device source knows about a USB device, for matching against descriptors."""

    vendor_id: int | None = None
    product_id: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)


def match_score(descriptor: AdapterDescriptor, facts: DeviceFacts) -> int | None:
    """How specifically ``descriptor`` claims the device (higher wins), or None if it does not."""
    if not descriptor.usb_ids and not descriptor.udev_properties:
        return None
    score = 0
    if descriptor.usb_ids:
        if (facts.vendor_id, facts.product_id) not in descriptor.usb_ids:
            return None
        score += 1000
    for key, pattern in descriptor.udev_properties:
        value = facts.properties.get(key)
        if value is None or not fnmatch.fnmatchcase(value, pattern):
            return None
        score += 10
    return score


def best_match(descriptors: Mapping[str, AdapterDescriptor], facts: DeviceFacts) -> AdapterDescriptor | None:
    scored = [(s, name) for name, m in descriptors.items() if (s := match_score(m, facts)) is not None]
    if not scored:
        return None
    scored.sort(key=lambda sn: (-sn[0], sn[1]))
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        log.warning("adapters %s and %s match the device equally; using %s", scored[0][1], scored[1][1], scored[0][1])
    return descriptors[scored[0][1]]


class AdapterRegistry:
    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        timeouts: CallTimeouts | None = None,
        on_hang: Callable[[int, str], None] | None = None,
        descriptors: Mapping[str, AdapterDescriptor] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.errors: dict[str, str] = {}
        self.descriptors = dict(descriptors) if descriptors is not None else discover(self.errors)
        self._options = options or {}
        self._factories: dict[str, AdapterFactory] = {}
        # Factories are made on adapter-call threads, maybe two at once; one lock per adapter so a
        # hanging import of one adapter does not block the others.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self.timeouts = timeouts or CallTimeouts()
        self._on_hang = on_hang
        # Station facts a factory may ask for by naming them as keyword parameters (e.g.
        # ``station_timezone``); passed only to factories that accept them, options win.
        self._context = dict(context or {})

    def match(self, facts: DeviceFacts) -> AdapterDescriptor | None:
        """The adapter for a device, chosen from descriptors alone (no adapter code is imported)."""
        return best_match(self.descriptors, facts)

    def factory(self, name: str) -> AdapterFactory:
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            return self._factory(name)

    def _factory(self, name: str) -> AdapterFactory:
        if name not in self._factories:
            descriptor = self.descriptors.get(name)
            if descriptor is None:
                raise AdapterLoadError(f"no adapter named {name!r} is installed")
            module, _, attr = descriptor.factory.partition(":")
            cls = getattr(importlib.import_module(module), attr)
            kwargs = dict(self._options.get(name, {}))
            try:
                params = inspect.signature(cls).parameters
            except (TypeError, ValueError):
                params = {}  # type: ignore[assignment]
            for key, value in self._context.items():
                if key in params and key not in kwargs:
                    kwargs[key] = value
            factory = cls(**kwargs)
            if not isinstance(factory, AdapterFactory):
                raise AdapterLoadError(f"{descriptor.factory} is not an AdapterFactory")
            self._factories[name] = factory
        return self._factories[name]

    def bind(self, name: str, locator: str, *, slot_id: int) -> CameraAdapter:
        """An adapter for the device at ``locator``, every call of it guarded by a timeout.

        Nothing is imported or opened here (this runs on the station's core thread): the factory
        is loaded and called on the adapter's first call, under that call's timeout.
        """
        descriptor = self.descriptors.get(name)
        if descriptor is None:
            raise AdapterLoadError(f"no adapter named {name!r} is installed")
        on_hang = self._on_hang

        def hung(what: str) -> None:
            if on_hang is not None:
                on_hang(slot_id, what)

        return GuardedAdapter(
            descriptor,
            lambda: self.factory(name)(locator),
            self.timeouts,
            label=f"slot {slot_id} ({name})",
            on_hang=hung,
        )
