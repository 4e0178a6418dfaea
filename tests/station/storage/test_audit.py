import json
from pathlib import Path

import pytest

from station.storage.audit import AuditLog, verify_chain


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
    assert e.seq == 4
    assert verify_chain(p).ok
    assert list(tmp_path.glob("audit.log.torn-*"))


@pytest.mark.parametrize("bad", [b"not json\n"])
def test_garbage_fails(tmp_path: Path, bad: bytes) -> None:
    p = tmp_path / "audit.log"
    make_log(p, 2)
    with p.open("ab") as fh:
        fh.write(bad)
    assert not verify_chain(p).ok
