"""The roster: strict parsing that never echoes a PIN hash, badge UIDs, signed vault rosters,
refresh and the journal cache."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bodydock.shift_runtime import JournalRosterCache
from station.shift.roster import (
    FileRosterSource,
    Role,
    RosterError,
    RosterKeeper,
    VaultRosterSource,
    normalise_badge,
    parse_roster,
    sign_roster,
)
from station.storage.journal import Journal
from tests.station.shift_helpers import PEOPLE, pin_hash, write_roster


def test_parse(tmp_path: Path) -> None:
    roster = parse_roster(write_roster(tmp_path / "r.yaml").read_bytes(), "r.yaml")
    a = roster.by_number("100234")
    assert a is not None and a.name == "A. de Vries" and a.roles == {Role.OFFICER} and not a.is_staff
    assert roster.by_badge("04a1b2c3") is a and roster.by_badge("04:A1:B2:C3") is a
    assert roster.by_badge("zz") is None and roster.by_number("nobody") is None
    staff = roster.by_number("900001")
    assert staff is not None and staff.is_staff
    assert roster.by_number("100511").camera == "CAM-A"  # type: ignore[union-attr]
    assert "scrypt" not in repr(a)  # the PIN hash stays out of logs and tracebacks


def test_badge_normalisation() -> None:
    assert normalise_badge(" 04:a1-b2 c3 ") == "04A1B2C3"
    for bad in ("", "XYZ", "04A1\x00", "04 G1"):
        with pytest.raises(ValueError):
            normalise_badge(bad)


@pytest.mark.parametrize(("doc", "problem"), [
    ({"officers": [{"personnel_number": "1", "name": "x", "roles": ["chief"]}]}, "officers/0/roles/0"),
    ({"officers": [{"personnel_number": "1", "name": "x", "roles": ["officer"], "pin": "1234"}]}, "additional"),
    ({"officers": [{"personnel_number": "1", "name": "x", "roles": ["officer"]}] * 2}, "appears twice"),
    ({"officers": [{"personnel_number": "1", "name": "x", "roles": ["officer"], "pin_hash": "scrypt$weak"}]},
     "pin_hash"),
    ({"people": []}, "(top)"),
])
def test_invalid_rosters(doc: object, problem: str) -> None:
    with pytest.raises(RosterError, match=re.escape(problem)) as info:
        parse_roster(yaml.safe_dump(doc).encode(), "r.yaml")
    assert "1234" not in str(info.value) and "scrypt$weak" not in str(info.value)


def test_duplicate_badges_refused() -> None:
    doc = {"officers": [{"personnel_number": str(i), "name": "x", "roles": ["officer"], "badge_uid": "04AA"}
                        for i in (1, 2)]}
    with pytest.raises(RosterError, match="badge UID is used twice"):
        parse_roster(yaml.safe_dump(doc).encode(), "r")


def test_file_keeper_reloads_and_keeps_last_good(tmp_path: Path) -> None:
    path = write_roster(tmp_path / "r.yaml", PEOPLE[:1])
    problems: list[str | None] = []
    keeper = RosterKeeper(FileRosterSource(path), refresh_s=0.05, on_problem=problems.append)
    keeper.start()
    try:
        assert [o.personnel_number for o in keeper.current().officers] == ["100234"]
        write_roster(path, PEOPLE[:2])
        deadline = time.monotonic() + 20
        while len(keeper.current().officers) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(keeper.current().officers) == 2
        path.write_text("officers: [broken")
        assert not keeper.refresh()
        assert len(keeper.current().officers) == 2 and problems[-1] is not None
    finally:
        keeper.stop()


def test_vault_roster_must_be_signed_and_is_cached(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    vault = tmp_path / "vault"
    (vault / "config").mkdir(parents=True)
    data = write_roster(vault / "config" / "roster.yaml").read_bytes()
    (vault / "config" / "roster.yaml.sig").write_bytes(sign_roster(data, key))
    files: dict[str, bytes] = {}

    def fetch(rel: str) -> bytes:
        if "offline" in files:
            raise OSError("vault unreachable")
        return (vault / rel).read_bytes()

    journal = Journal(tmp_path / "j.sqlite")
    cache = JournalRosterCache(journal)
    source = VaultRosterSource(fetch, "config/roster.yaml", key.public_key())
    keeper = RosterKeeper(source, cache=cache)
    assert keeper.refresh() and len(keeper.current().officers) == 4
    # Tampered roster (an officer added without the municipality's key): refused.
    doctored = data + b"  - {personnel_number: '666', name: Mallory, roles: [admin], pin_hash: '" + \
        pin_hash("1111").encode() + b"'}\n"
    (vault / "config" / "roster.yaml").write_bytes(doctored)
    assert not keeper.refresh() and keeper.current().by_number("666") is None
    wrong_key = VaultRosterSource(fetch, "config/roster.yaml", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(RosterError, match="signature"):
        wrong_key.check(wrong_key.fetch())
    # A restart while the vault is unreachable: the last good roster comes from the journal.
    files["offline"] = b""
    later = RosterKeeper(source, cache=cache, refresh_s=3600)
    later.start()
    later.stop()
    assert len(later.current().officers) == 4
    journal.close()
