"""Drive the real kiosk app by touch, in its own process: a scenario coroutine finds widgets by
``ident`` and touches them with Kivy's test helper (``kivy.tests.common.UnitTestTouch``), which
feeds the touch through the window's normal input path, while the app runs on asyncio.

``python -m kiosk_lab.driver --socket S --window 800x480 --scenario module:function [--arg K=V]``
runs ``async function(driver, args)`` and exits 0 if it returned, 1 if it raised; the driver's
``report`` lines (JSON on stdout) carry what the scenario observed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ui.launch import configure_kivy
from ui.options import KioskOptions, parse_size

Scenario = Callable[["Driver", dict[str, str]], Awaitable[None]]


class Driver:
    def __init__(self, app: Any) -> None:
        self.app = app

    # --- looking ---------------------------------------------------------------------------
    @property
    def screen(self) -> str:
        return str(self.app.manager.current) if self.app.manager is not None else ""

    def _current(self) -> Any:
        return self.app.manager.current_screen

    def find(self, ident: str) -> Any | None:
        from ui.widgets.common import walk_idents

        return walk_idents(self._current()).get(ident)

    def idents(self) -> list[str]:
        from ui.widgets.common import walk_idents

        return sorted(walk_idents(self._current()))

    def texts(self) -> list[str]:
        from kivy.uix.label import Label

        return [w.text for w in self._current().walk(restrict=True) if isinstance(w, Label) and w.text]

    def has_text(self, fragment: str) -> bool:
        return any(fragment in t for t in self.texts())

    # --- waiting ---------------------------------------------------------------------------
    async def frames(self, n: int = 2) -> None:
        from kivy.clock import Clock

        start = Clock.frames_displayed
        while Clock.frames_displayed < start + n:
            await asyncio.sleep(0.005)

    async def wait(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate} "
                                     f"(screen {self.screen}, texts {self.texts()[:20]})")
            await asyncio.sleep(0.02)
        await self.frames(2)

    async def wait_text(self, fragment: str, timeout: float = 30.0) -> None:
        await self.wait(lambda: self.has_text(fragment), timeout, what=f"text {fragment!r}")

    # --- touching --------------------------------------------------------------------------
    async def tap(self, ident: str, timeout: float = 20.0) -> None:
        """Touch the widget's centre, the way a finger would (down, a frame, up)."""
        from kivy.tests.common import UnitTestTouch

        def ready() -> bool:
            w = self.find(ident)
            return w is not None and not w.disabled and w.opacity > 0 and w.get_root_window() is not None

        await self.wait(ready, timeout, what=f"{ident} on screen {self.screen} (has {self.idents()})")
        w = self.find(ident)
        assert w is not None
        x, y = w.to_window(*w.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        await self.frames(1)
        touch.touch_up()
        await self.frames(2)

    async def type(self, keys: str, prefix: str = "key-") -> None:
        for k in keys:
            await self.tap(f"{prefix}{k}")

    # --- recording -------------------------------------------------------------------------
    def screenshot(self, path: Path) -> Path:
        from kivy.core.window import Window

        path.parent.mkdir(parents=True, exist_ok=True)
        made = Path(Window.screenshot(name=str(path.with_suffix("")) + "%(counter)04d.png"))
        made.replace(path)
        return path

    def report(self, **facts: Any) -> None:
        print(json.dumps(facts), flush=True)


def load_scenario(spec: str) -> Scenario:
    module, _, name = spec.partition(":")
    fn: Scenario = getattr(importlib.import_module(module), name)
    return fn


def run(options: KioskOptions, scenario: Scenario, args: dict[str, str]) -> int:
    configure_kivy(options)
    from ui.app import KioskApp

    app = KioskApp(options)
    outcome: list[BaseException] = []

    async def drive() -> None:
        while app.manager is None or app.root_window is None:
            await asyncio.sleep(0.02)
        driver = Driver(app)
        try:
            await driver.frames(3)
            await scenario(driver, args)
        except BaseException as exc:
            outcome.append(exc)
            traceback.print_exc()
        finally:
            app.stop()

    async def main() -> None:
        await asyncio.gather(app.async_run(async_lib="asyncio"), drive())

    asyncio.run(main())
    return 1 if outcome else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kiosk_lab.driver")
    p.add_argument("--socket", type=Path, required=True)
    p.add_argument("--window", type=parse_size, default=(800, 480))
    p.add_argument("--language", default="nl")
    p.add_argument("--idle-timeout", type=float, default=60.0)
    p.add_argument("--scenario", required=True, help="module:function")
    p.add_argument("--arg", action="append", default=[], help="K=V passed to the scenario")
    a = p.parse_args(argv)
    # As locked down as the appliance (no closing, no Escape); the driver ends the app itself.
    options = KioskOptions(socket=a.socket, language=a.language, idle_timeout_s=a.idle_timeout, size=a.window)
    args = dict(kv.split("=", 1) for kv in a.arg)
    return run(options, load_scenario(a.scenario), args)


if __name__ == "__main__":
    sys.exit(main())
