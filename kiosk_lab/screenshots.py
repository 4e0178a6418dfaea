"""Screenshots of every kiosk screen, in Dutch, at 800x480 and 1280x800, for docs/screenshots/.

``python -m kiosk_lab.screenshots --out docs/screenshots`` builds a busy simulated dock per size
(``bodydock.demo_kiosk``), starts the real kiosk on a private Xvfb display and walks it by touch
(``tour`` below, run inside the kiosk process by ``kiosk_lab.driver``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kiosk_lab.driver import Driver

SIZES = ((800, 480), (1280, 800))
OFFICER, OFFICER_PIN = "100888", "1357"  # Joost Visser in bodydock.demo_kiosk: his camera is back in slot 2
STAFF, STAFF_PIN = "900001", "9999"


async def tour(d: Driver, args: dict[str, str]) -> None:
    out = Path(args["out"])
    prefix = args["prefix"]
    n = 0

    def shot(name: str) -> None:
        nonlocal n
        n += 1
        path = d.screenshot(out / f"{prefix}-{n:02d}-{name}.png")
        d.report(screenshot=str(path))

    await d.wait(lambda: d.has_text("Kopiëren") and d.has_text("vak 8 –"), what="the busy dock")
    shot("home")
    # Check-out: the keypad with a number typed, the PIN as dots, a refusal, and the answer.
    await d.tap("checkout")
    await d.type("100234")
    shot("checkout-number")
    await d.tap("key-next")
    await d.type("12")
    shot("checkout-pin")
    await d.type("99")
    await d.tap("key-next")
    await d.wait_text("klopt niet")
    shot("checkout-refused")
    await d.tap("retry")
    await d.type("100234")
    await d.tap("key-next")
    await d.type("1234")
    await d.tap("key-next")
    await d.wait_text("Neem de camera uit vak", timeout=60)
    shot("checkout-done")
    await d.tap("done")
    # Check-in: who are you (several cameras are docked; the dock finds yours), the recordings,
    # labelling one.
    await d.tap("checkin")
    await d.wait_text("Eerst: wie bent u?")
    await d.type(OFFICER)
    shot("checkin-identify")
    await d.tap("key-next")
    await d.type(OFFICER_PIN)
    await d.tap("key-next")
    await d.wait_text("3 opnamen op deze camera", timeout=60)
    shot("checkin-list")
    await d.tap("rec-1")
    await d.wait_text("Wat is deze opname?")
    shot("checkin-label")
    await d.tap("tag-evidence")
    await d.type("PL1300-2026", prefix="case-")
    shot("checkin-case-number")
    await d.tap("save")
    await d.wait_text("Bewijs · zaak PL1300-2026")
    await d.tap("rec-2")
    await d.tap("tag-learning")
    await d.wait_text("toestemming gegeven voor gebruik")
    shot("checkin-consent")
    await d.tap("consent-yes")
    await d.wait_text("Hoe is de toestemming gegeven?")
    shot("checkin-consent-how")
    await d.tap("how-verbal")
    await d.wait_text("Leren · toestemming gegeven")
    shot("checkin-labelled")
    await d.tap("finish")
    await d.wait(lambda: d.has_text("veilig gekopieerd"), what="the waiting screen")
    shot("checkin-wait")
    await d.wait_text("U kunt gaan", timeout=120)
    shot("checkin-done")
    await d.tap("done")
    # Staff: health checks and alerts; admin.
    await d.tap("staff")
    await d.type(STAFF)
    shot("staff-identify")
    await d.tap("key-next")
    await d.type(STAFF_PIN)
    await d.tap("key-next")
    await d.wait_text("Status dock", timeout=60)
    # The worst check tapped open: what is the case and what to do, in full.
    worst = d.app.manager.current_screen.vm.state.checks[0].name
    await d.tap(f"check-{worst}")
    await d.wait(lambda: d.app.manager.current_screen.vm.state.checks[0].expanded, what="the check opened")
    shot("staff")
    await d.tap("admin")
    await d.wait_text("Versie", timeout=30)
    shot("admin")
    await d.tap("home")
    await d.wait(lambda: d.screen == "home")
    await d.tap("lang")
    await d.wait_text("Take a camera")
    shot("home-english")


def shoot(out: Path, size: tuple[int, int], display: str) -> list[str]:
    from bodydock.demo_kiosk import busy_dock, demo_dock

    with tempfile.TemporaryDirectory(prefix="bodydock-shots-") as tmp, demo_dock(Path(tmp)) as dock:
        busy_dock(dock)
        prefix = f"kiosk-{size[0]}x{size[1]}"
        for old in out.glob(f"{prefix}-*.png"):
            old.unlink()
        cmd = [sys.executable, "-m", "kiosk_lab.driver", "--socket", str(dock.socket), "--window",
               f"{size[0]}x{size[1]}", "--scenario", "kiosk_lab.screenshots:tour", "--arg", f"out={out}",
               "--arg", f"prefix={prefix}"]
        proc = subprocess.run(cmd, env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"the screenshot tour failed at {size}:\n{proc.stdout[-3000:]}{proc.stderr[-6000:]}")
        return sorted(str(p) for p in out.glob(f"{prefix}-*.png"))


def main(argv: list[str] | None = None) -> int:
    from kiosk_lab.xvfb import virtual_display

    p = argparse.ArgumentParser(prog="python -m kiosk_lab.screenshots")
    p.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    out = a.out.resolve()
    with virtual_display(1280, 800) as display:
        for size in SIZES:
            for path in shoot(out, size, display):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
