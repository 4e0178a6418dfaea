"""Touch scenarios, run inside the kiosk process by ``kiosk_lab.driver``: what an officer or a
staff member does with their fingers. The tests that start them assert the station's state."""

from __future__ import annotations

from kiosk_lab.driver import Driver


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


async def checkin_and_tag(d: Driver, args: dict[str, str]) -> None:
    await d.wait(lambda: d.screen == "home", what="home")
    await d.tap("checkin")
    await d.wait_text("Camera in vak 2")  # the one open check-in is chosen by itself
    await d.type(args["number"])
    await d.tap("key-next")
    await d.type(args["pin"])
    await d.tap("key-next")
    await d.wait_text("2 opnamen op deze camera", timeout=60)
    d.report(list_texts=d.texts())

    await d.tap("rec-1")
    await d.wait_text("Wat is deze opname?")
    await d.tap("tag-evidence")
    await d.wait_text("Typ het zaaknummer")
    await d.type(args["case"], prefix="case-")
    await d.tap("save")
    await d.wait_text(f"Bewijs · zaak {args['case']}")

    await d.tap("rec-2")
    await d.tap("tag-learning")
    await d.wait_text("Heeft de gefilmde persoon toestemming gegeven")
    await d.tap("consent-yes")
    await d.tap("how-verbal")
    await d.wait_text("Leren · toestemming gegeven")
    d.report(tagged_texts=d.texts())

    await d.tap("finish")
    await d.wait_text("U kunt gaan", timeout=90)
    d.report(done=True)


def _check_targets(d: Driver, where: str) -> int:
    """Every visible touch target is at least 9 mm each way on this panel."""
    from ui.theme import MIN_TARGET_MM
    from ui.widgets.common import TouchButton

    ppm = d.app.theme.px_per_mm
    seen = 0
    for w in d.app.manager.current_screen.walk(restrict=True):
        if isinstance(w, TouchButton) and w.opacity > 0 and w.width > 0 and w.get_root_window() is not None:
            seen += 1
            assert min(w.width, w.height) >= MIN_TARGET_MM * ppm, (
                f"{where}: {w.ident or w.text!r} is {w.width:.0f}x{w.height:.0f} px, "
                f"under {MIN_TARGET_MM} mm ({MIN_TARGET_MM * ppm:.0f} px)")
    return seen


async def layout_and_lockdown(d: Driver, args: dict[str, str]) -> None:
    from kivy.core.window import Window

    checked: dict[str, int] = {}
    await d.wait(lambda: d.screen == "home" and d.has_text("Gereed"), what="home")
    checked["home"] = _check_targets(d, "home")
    # English and back, by touch.
    await d.tap("lang")
    await d.wait_text("Take a camera")
    assert d.has_text("Ready")
    await d.tap("lang")
    await d.wait_text("Camera ophalen")
    # No way out: Escape, F1 (Kivy's settings) and a close request all leave the kiosk where it is.
    for key in (27, 282):
        Window.dispatch("on_key_down", key, 0, None, [])
        Window.dispatch("on_key_up", key, 0)
    assert Window.dispatch("on_request_close") is True
    await d.frames(3)
    assert d.screen == "home" and d.app.root_window is not None
    await d.tap("checkout")
    await d.wait_text("Houd uw pas bij de lezer")
    checked["checkout"] = _check_targets(d, "checkout")
    await d.tap("home")
    await d.tap("checkin")
    await d.type(args["number"])
    await d.tap("key-next")
    await d.type(args["pin"])
    await d.tap("key-next")
    await d.wait_text("1 opname op deze camera", timeout=60)
    checked["checkin-list"] = _check_targets(d, "checkin list")
    await d.tap("rec-1")
    checked["checkin-tag"] = _check_targets(d, "checkin tag")
    await d.tap("tag-evidence")
    await d.wait_text("Typ het zaaknummer")
    checked["checkin-case"] = _check_targets(d, "checkin case")
    await d.tap("back")
    await d.tap("tag-learning")
    checked["checkin-consent"] = _check_targets(d, "checkin consent")
    await d.tap("consent-yes")
    checked["checkin-consent-how"] = _check_targets(d, "checkin consent how")
    await d.tap("home")
    await d.tap("staff")
    await d.type(args["staff"])
    await d.tap("key-next")
    await d.type(args["staff_pin"])
    await d.tap("key-next")
    await d.wait_text("Status dock", timeout=30)
    checked["staff"] = _check_targets(d, "staff")
    # Someone switches to English and walks away mid check-out: the kiosk goes home by itself (the
    # idle timeout is short in this run), in Dutch again for the next person.
    await d.tap("home")
    await d.tap("lang")
    await d.tap("checkout")
    await d.wait_text("Hold your badge to the reader")
    await d.wait(lambda: d.screen == "home", timeout=30, what="home after the idle timeout")
    await d.wait_text("Camera ophalen")
    d.report(checked=checked)


async def stay(d: Driver, args: dict[str, str]) -> None:
    """Show the home grid until killed (the test kills this kiosk mid-offload)."""
    import asyncio

    await d.wait(lambda: d.screen == "home", timeout=120, what="the home grid")
    d.report(home=True)  # the test docks the camera now
    await d.wait(lambda: d.has_text("Kopiëren"), timeout=120, what="copying on the home grid")
    d.report(watching=True)
    await asyncio.sleep(600)


def _labels(w: object) -> list[object]:
    from kivy.uix.label import Label

    return [x for x in w.walk(restrict=True) if isinstance(x, Label)]  # type: ignore[attr-defined]


def _one_line(label: object) -> bool:
    """The label's text fits its width on one line (no wrapped or clipped '%')."""
    # Kivy's laid-out lines: a wrapped "100%" is two lines, a clipped one is wider than the label.
    lines = [ln for ln in label._label._cached_lines if ln.w > 0]  # type: ignore[attr-defined]
    return len(lines) == 1 and lines[0].w <= label.width + 1  # type: ignore[attr-defined]


async def faces(d: Driver, args: dict[str, str]) -> None:
    """Home: battery shapes by charge, "100%" on one line, banners that do not repeat their
    severity; staff: check details in the kiosk's language, tapped open in full."""
    from dataclasses import replace

    from ui.widgets.icons import icon_texture

    await d.wait(lambda: d.screen == "home" and d.has_text("Vak 2") and d.has_text("37%")
                 and d.has_text("vak 2 –"), what="both tiles and the fault banner")
    home = d.app.manager.current_screen
    t1, t2 = home.tiles[0], home.tiles[1]
    kinds = [t1.battery_icon.kind, t2.battery_icon.kind]
    # Filled pixels of each battery shape as drawn: more charge, more black.
    size = int(t1.battery_icon.width)
    filled = [sum(1 for i in range(3, len(px), 4) if px[i] > 128)
              for px in (bytes(icon_texture(k, size, (0, 0, 0, 1), (1, 1, 1, 1)).pixels) for k in kinds)]
    # A tile copying at 100 %, battery full: the numbers stay on one line at this window size.
    t1.show(replace(t1.tile, progress=1.0, progress_text="100%", battery="100%"))
    await d.frames(3)
    d.report(battery_kinds=kinds, battery_filled=filled, percent_one_line=_one_line(t1.percent),
             battery_one_line=_one_line(t1.battery),
             banners=[t for t in d.texts() if t.startswith(("Storing", "Let op"))])

    await d.tap("staff")
    await d.type(args["number"])
    await d.tap("key-next")
    await d.type(args["pin"])
    await d.tap("key-next")
    await d.wait_text("Status dock", timeout=60)
    worst = d.app.manager.current_screen.vm.state.checks[0]  # worst first: the one staff look at
    ident = f"check-{worst.name}"
    row = d.find(ident)
    assert row is not None
    before = [(x.text, x.shorten) for x in _labels(row) if x.text and ":" in x.text]
    await d.tap(ident)

    def opened() -> bool:
        r = d.find(ident)
        return r is not None and any(not x.shorten for x in _labels(r) if x.text and ":" in x.text)

    await d.wait(opened, what="the row opened")
    row = d.find(ident)
    after = [(x.text, x.shorten, _one_line(x)) for x in _labels(row) if x.text and ":" in x.text]
    d.report(check=ident.removeprefix("check-"), closed=before, opened=after)
