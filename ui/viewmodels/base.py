"""A minimal observable: screens subscribe and re-render from the view-model's state."""

from __future__ import annotations

from collections.abc import Callable


class ViewModel:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()
