import hashlib
import json
import logging
from pathlib import Path

import pytest

from station.crypto.canonical import canonical_json, canonical_json_v1
from station.storage.audit import GENESIS, AuditLog, verify_chain
from station.storage.journal import Journal
from station.storage.paths import AUDIT_TAIL_ALERT, open_audit, read_anchor


def make_log(path: Path, n: int = 5) -> tuple[int, str]:
    anchor: dict[str, tuple[int, str]] = {}
    log = AuditLog(path, anchor=lambda s, h: anchor.__setitem__("a", (s, h)))
    for i in range(n):
        log.append(who=f"BOA-{i}", what="camera.docked", why="test", device=f"BWC-{i}", details={"i": i})
    log.close()
    return anchor["a"]


def test_intact_chain_verifies(tmp_path: Path) -> None:
    anchor = make_log(tmp_path / "audit.log")
    r = verify_chain(tmp_path / "audit.log", anchor)
    assert r.ok and r.entries == 5


def test_entries_have_who_what_when_why_device_result(tmp_path: Path) -> None:
    make_log(tmp_path / "audit.log", 1)
    entry = json.loads((tmp_path / "audit.log").read_text().splitlines()[0])
    assert {"who", "what", "ts", "why", "device", "result", "prev", "hash"} <= entry.keys()


def test_a_log_hashed_before_rfc8785_still_verifies_and_grows(tmp_path: Path) -> None:
    """Entries written by an earlier version hashed Python's sorted-keys JSON, which prints 0.0 as "0.0" where
    RFC 8785 prints "0": such a log must verify after an update, and new entries chain onto it."""
    path = tmp_path / "audit.log"
    prev, lines = GENESIS, []
    for seq in (1, 2):
        body = {"seq": seq, "ts": "2026-11-01T08:00:00.000000Z", "who": "system", "what": "slot.battery",
                "why": "old", "device": "BWC-1", "result": "ok", "details": {"offset_s": 0.0}, "prev": prev}
        digest = hashlib.sha256(canonical_json_v1(body)).hexdigest()
        assert digest != hashlib.sha256(canonical_json(body)).hexdigest()  # the two forms really differ here
        lines.append(canonical_json_v1({**body, "hash": digest}) + b"\n")
        prev = digest
    path.write_bytes(b"".join(lines))
    assert verify_chain(path, (2, prev)).ok
    log = AuditLog(path)
    log.append(who="system", what="station.start", why="updated", device="dock")
    log.close()
    r = verify_chain(path)
    assert r.ok and r.entries == 3, r


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines(keepends=True)


def test_edit_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "audit.log"
    anchor = make_log(p)
    lines = _lines(p)
    lines[2] = lines[2].replace("BOA-2", "BOA-9")
    p.write_text("".join(lines))
    r = verify_chain(p, anchor)
    assert not r.ok and "entry 3" in r.problem


def test_delete_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "audit.log"
    anchor = make_log(p)
    lines = _lines(p)
    del lines[1]
    p.write_text("".join(lines))
    assert not verify_chain(p, anchor).ok


def test_reorder_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "audit.log"
    anchor = make_log(p)
    lines = _lines(p)
    lines[1], lines[2] = lines[2], lines[1]
    p.write_text("".join(lines))
    assert not verify_chain(p, anchor).ok


def test_truncated_tail_is_detected_by_anchor(tmp_path: Path) -> None:
    p = tmp_path / "audit.log"
    anchor = make_log(p)
    p.write_text("".join(_lines(p)[:-1]))
    assert verify_chain(p, None).ok  # the chain alone cannot see it...
    assert not verify_chain(p, anchor).ok  # ...the journal's anchor can


def test_torn_last_line_is_set_aside_on_reopen(tmp_path: Path) -> None:
    p = tmp_path / "audit.log"
    make_log(p, 3)
    with p.open("ab") as fh:
        fh.write(b'{"seq":4,"who":"half')
    log = AuditLog(p)
    e = log.append(who="system", what="after-crash")
    log.close()
    assert e.seq == 5  # 4 is the notice that bytes were set aside
    assert verify_chain(p).ok
    assert list(tmp_path.glob("audit.log.torn-*"))
    notice = json.loads(_lines(p)[3])
    assert notice["what"] == "audit.tail_set_aside" and notice["details"]["anchored"] is False


def _journaled_log(tmp_path: Path, n: int) -> tuple[Journal, Path]:
    journal = Journal(tmp_path / "journal.sqlite")
    audit = open_audit(journal, tmp_path / "audit.log")
    for i in range(n):
        audit.append(who=f"BOA-{i}", what="camera.docked", device=f"BWC-{i}")
    audit.close()
    return journal, tmp_path / "audit.log"


def test_intact_last_entry_without_its_newline_is_recovered_and_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal, p = _journaled_log(tmp_path, 3)
    whole = p.read_bytes()
    p.write_bytes(whole[:-1])  # a crash between the write and its newline; the journal anchored entry 3
    assert read_anchor(journal) is not None and read_anchor(journal)[0] == 3  # type: ignore[index]
    with caplog.at_level(logging.WARNING):
        audit = open_audit(journal, p)
    assert audit.head[0] >= 4 and p.read_bytes().startswith(whole)  # entry 3 kept, byte for byte
    audit.append(who="system", what="after-crash")
    audit.close()
    entries = [json.loads(x) for x in p.read_text().splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert entries[2]["who"] == "BOA-2" and entries[3]["what"] == "audit.tail_recovered"
    assert verify_chain(p, read_anchor(journal)).ok
    assert not list(tmp_path.glob("audit.log.torn-*"))
    assert "recovered" in caplog.text
    alerts = {a.key: a for a in journal.open_alerts()}
    assert alerts[AUDIT_TAIL_ALERT].severity == "warn"


def test_torn_anchored_entry_is_set_aside_with_a_critical_alert(tmp_path: Path) -> None:
    journal, p = _journaled_log(tmp_path, 3)
    whole = p.read_bytes()
    p.write_bytes(whole[:-20])  # entry 3 is really torn, though the journal anchored it
    audit = open_audit(journal, p)
    audit.close()
    entries = [json.loads(x) for x in p.read_text().splitlines()]
    assert entries[2]["what"] == "audit.tail_set_aside" and entries[2]["details"]["anchored"] is True
    (aside,) = tmp_path.glob("audit.log.torn-*")
    third = whole.splitlines(keepends=True)[2]
    assert aside.read_bytes() == third[: len(third) - 20]  # the torn bytes, kept for the record
    alerts = {a.key: a for a in journal.open_alerts()}
    assert alerts[AUDIT_TAIL_ALERT].severity == "critical" and "anchored" in alerts[AUDIT_TAIL_ALERT].message


def test_a_complete_entry_that_does_not_chain_is_not_recovered(tmp_path: Path) -> None:
    journal, p = _journaled_log(tmp_path, 3)
    lines = _lines(p)
    p.write_text("".join(lines[:2]) + lines[2].replace("BOA-2", "BOA-7").rstrip("\n"))
    audit = open_audit(journal, p)
    audit.close()
    (aside,) = tmp_path.glob("audit.log.torn-*")
    assert b"BOA-7" in aside.read_bytes() and b"BOA-7" not in p.read_bytes()


@pytest.mark.parametrize("bad", [b"not json\n"])
def test_garbage_fails(tmp_path: Path, bad: bytes) -> None:
    p = tmp_path / "audit.log"
    make_log(p, 2)
    with p.open("ab") as fh:
        fh.write(bad)
    assert not verify_chain(p).ok


def test_two_crashes_between_entry_and_anchor_in_a_row_still_verify(tmp_path: Path) -> None:
    journal, p = _journaled_log(tmp_path, 3)
    for crash in range(2):
        audit = open_audit(journal, p)  # a station start
        unanchored = AuditLog(p)  # the same log, but the station dies before the journal hears of the entry
        unanchored.append(who="system", what=f"entry before crash {crash}")
        unanchored.close()
        audit.close()
        r = verify_chain(p, read_anchor(journal))
        assert r.ok, r.problem
