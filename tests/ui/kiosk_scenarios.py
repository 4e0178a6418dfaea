"""Touch scenarios, run inside the kiosk process by ``ui.tools.driver``: what an officer or a
staff member does with their fingers. The tests that start them assert the station's state."""

from __future__ import annotations

from ui.tools.driver import Driver


async def checkout_by_pin(d: Driver, args: dict[str, str]) -> None:
    await d.wait(lambda: d.screen == "home" and d.has_text("Gereed"), what="a ready camera on the home grid")
    await d.tap("checkout")
    await d.wait_text("Houd uw pas bij de lezer")
    await d.type(args["number"])
    await d.tap("key-next")
    await d.wait_text("Typ uw pincode")
    await d.type(args["pin"])
    assert d.has_text("●" * len(args["pin"])) and not d.has_text(args["pin"])  # the PIN only as dots
    await d.tap("key-next")
    await d.wait_text("Neem de camera uit vak", timeout=60)
    d.report(message=next(t for t in d.texts() if t.startswith("Neem de camera uit vak")))
    await d.tap("done")
    await d.wait(lambda: d.screen == "home", what="home")
    await d.wait_text("Meenemen")
    d.report(home_texts=d.texts())
