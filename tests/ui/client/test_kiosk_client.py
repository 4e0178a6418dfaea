"""The kiosk's client side without a display: SSE parsing, lenient wire models, the inbox, and the
event stream reconnecting after the daemon restarts."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import wait_for
from tests.localapi.kiosk_dock import start_kiosk_dock
from ui.client.bridge import EventFeed, Inbox
from ui.client.model import CheckinDetail, DomainNotice, Snapshot
from ui.client.sse import SseEvent, SseParser


def test_sse_parser() -> None:
    p = SseParser()
    lines = [": ping", "", "event: snapshot", "data: {\"a\":", "data: 1}", "", "data: x", "", "event: x", ""]
    out = [ev for line in lines if (ev := p.feed(line)) is not None]
    assert out == [SseEvent("snapshot", "{\"a\":\n1}"), SseEvent("message", "x")]


def test_models_are_lenient() -> None:
    snap = Snapshot.parse({"slots": [{"id": 3, "state": "ready", "battery": "full", "extra": 1}, "junk"],
                           "alerts": [{"id": 1}], "future": True})
    assert snap.slots[0].label == "3" and snap.slots[0].battery is None
    assert snap.slots[1].state == "unknown" and snap.alerts[0].kind == "other"
    d = CheckinDetail.parse({"id": 1, "recordings": [{"id": "r", "started_at": "2026-03-02T13:05:00Z",
                                                      "consent": {"given": True, "method": "verbal"}}]})
    assert d.recordings[0].started_at is not None and d.recordings[0].consent is not None
    n = DomainNotice.parse({"type": "session", "session": {"session": "t", "name": "X", "roles": ["staff", 3]}})
    assert n.session is not None and n.session.roles == ("staff",)


def test_inbox_runs_on_the_draining_thread() -> None:
    inbox = Inbox()
    ran: list[str] = []
    t = threading.Thread(target=lambda: inbox.post(lambda: ran.append(threading.current_thread().name)))
    t.start()
    t.join()
    assert ran == [] and inbox.drain() == 1 and ran == [threading.current_thread().name]
    inbox.post(lambda: 1 / 0)  # type: ignore[func-returns-value]
    assert inbox.drain() == 1  # a failing update does not stop the kiosk


def test_event_feed_reconnects_after_a_daemon_restart(tmp_path: Path) -> None:
    dock = start_kiosk_dock(tmp_path)
    inbox = Inbox()
    snaps: list[Snapshot] = []
    connected: list[bool] = []
    feed = EventFeed(dock.socket, inbox, on_snapshot=snaps.append, on_notice=lambda n: None,
                     on_connected=connected.append, backoff_s=(0.1, 0.5))
    feed.start()

    def drained(pred: object) -> bool:
        inbox.drain()
        return bool(pred())  # type: ignore[operator]

    try:
        wait_for(lambda: drained(lambda: connected == [True] and snaps), 20, what="connected")
        dock.stop()
        wait_for(lambda: drained(lambda: connected == [True, False]), 20, what="disconnected")
        from bodydock.daemon_inproc import start_daemon
        from tests.station.shift_helpers import SYNCED

        dock.daemon = start_daemon(dock.env.load(), clock=SYNCED)
        n = len(snaps)
        wait_for(lambda: drained(lambda: connected == [True, False, True] and len(snaps) > n), 30,
                 what="reconnected")
    finally:
        feed.stop()
        dock.stop()
