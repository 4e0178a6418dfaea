"""Which camera an officer gets (pure rules) and what a tag must carry."""

from __future__ import annotations

import pytest

from station.core.checkout import ReadyCamera
from station.offload.tagging import Consent, ConsentMethod, Tag, TagError, TagRequest
from station.shift.roster import Officer, Role
from station.shift.selection import NoCamera, choose, why_not


def cam(slot: int, serial: str, battery: int | None, **kw: object) -> ReadyCamera:
    base: dict[str, object] = {"model": "SimCam", "firmware": "2.0", "battery_health": 95, "holds_footage": False,
                               "healthy": True}
    return ReadyCamera(slot_id=slot, serial=serial, battery=battery, **{**base, **kw})  # type: ignore[arg-type]


OFFICER = Officer("1", "A", frozenset({Role.OFFICER}), camera="OWN")
RULES = {"min_battery": 50, "firmware_current": {"SimCam": "2.0"}}


def test_pool_takes_the_highest_battery_that_passes_every_rule() -> None:
    cams = [cam(1, "LOW", 40), cam(2, "MID", 70), cam(3, "HI", 99, firmware="1.9"), cam(4, "FULL", 100,
            holds_footage=True), cam(5, "SICK", 100, healthy=False), cam(6, "OK", 80)]
    assert choose(cams, policy="pool", officer=OFFICER, **RULES) == cams[5]  # type: ignore[arg-type]
    assert choose(cams[:1], policy="pool", officer=OFFICER, **RULES) == NoCamera(  # type: ignore[arg-type]
        "no ready camera meets the battery, firmware and health rules; ask staff")
    assert isinstance(choose([], policy="pool", officer=OFFICER, **RULES), NoCamera)  # type: ignore[arg-type]


def test_unknown_battery_comes_last_and_ties_go_to_the_lowest_slot() -> None:
    cams = [cam(3, "C", None), cam(2, "B", 80), cam(1, "A", 80)]
    assert choose(cams, policy="pool", officer=OFFICER, **RULES).serial == "A"  # type: ignore[arg-type,union-attr]
    assert choose(cams[:1], policy="pool", officer=OFFICER, **RULES).serial == "C"  # type: ignore[arg-type,union-attr]


def test_personal() -> None:
    own = cam(4, "OWN", 60)
    assert choose([cam(1, "X", 100), own], policy="personal", officer=OFFICER, **RULES) == own  # type: ignore[arg-type]
    low = choose([cam(4, "OWN", 10)], policy="personal", officer=OFFICER, **RULES)  # type: ignore[arg-type]
    assert isinstance(low, NoCamera) and "battery is at 10%" in low.reason
    gone = choose([cam(1, "X", 100)], policy="personal", officer=OFFICER, **RULES)  # type: ignore[arg-type]
    assert isinstance(gone, NoCamera) and "not ready" in gone.reason
    nobody = Officer("2", "B", frozenset({Role.OFFICER}))
    assert isinstance(choose([own], policy="personal", officer=nobody, **RULES), NoCamera)  # type: ignore[arg-type]


def test_why_not() -> None:
    assert why_not(cam(1, "A", 50), 50, {}) is None
    assert "firmware" in (why_not(cam(1, "A", 90, firmware="1.0"), 50, {"SimCam": "2.0"}) or "")
    assert "footage" in (why_not(cam(1, "A", 90, holds_footage=True), 50, {}) or "")


def test_tag_requests() -> None:
    ev = TagRequest(Tag.EVIDENCE, case_number="  2026-HH-1 ").validated()
    assert ev.case_number == "2026-HH-1"
    learning = TagRequest(Tag.LEARNING, consent=Consent(False, ConsentMethod.NOT_ASKED)).validated()
    assert learning.consent is not None and not learning.consent.given
    assert TagRequest(Tag.UNCATEGORISED).validated() == TagRequest(Tag.UNCATEGORISED)
    for bad in (TagRequest(Tag.EVIDENCE), TagRequest(Tag.EVIDENCE, case_number="../x"),
                TagRequest(Tag.EVIDENCE, case_number="1", consent=Consent(True, ConsentMethod.VERBAL)),
                TagRequest(Tag.LEARNING), TagRequest(Tag.LEARNING, consent=Consent(True, ConsentMethod.NOT_ASKED)),
                TagRequest(Tag.LEARNING, consent=Consent(True, ConsentMethod.VERBAL, "x" * 300)),
                TagRequest(Tag.UNCATEGORISED, case_number="1")):
        with pytest.raises(TagError):
            bad.validated()
