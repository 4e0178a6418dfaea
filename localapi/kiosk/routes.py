"""The kiosk's routes on the local API socket (mounted by ``create_app(routes=...)``).

``GET /api/kiosk/snapshot``; ``GET /api/kiosk/events`` (server-sent events: ``snapshot`` with the
full home-grid state whenever it changed, ``notice`` for things to react to: ``checkin_opened``,
``checkout_started``/``checkout_done``/``checkout_refused`` for a badge check-out, ``session``/
``session_refused`` for a badge sign-in; comment lines as heartbeats); ``POST /api/kiosk/checkout``;
``POST|DELETE /api/kiosk/sessions``; ``PUT /api/kiosk/badge``; ``GET /api/kiosk/checkins/{id}``,
``POST .../tags``, ``POST .../finish``; ``GET /api/kiosk/staff/health``,
``POST /api/kiosk/staff/alerts/{id}/ack``; ``GET /api/kiosk/admin``, ``POST /api/kiosk/admin/roster-sync``.
Session-bound routes take the token in ``X-Kiosk-Session``. Refusals are
``{"error": <code>, "message": <English>, "until"?: <iso>}`` with a 4xx status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from config.model import StationConfig
from localapi.kiosk.backend import KioskBackend, StatusSource
from localapi.kiosk.codes import KioskRefusal
from localapi.kiosk.notices import Notice
from station.shift import ShiftService
from station.shift.roster import RosterKeeper

POLL_S = 0.25  # offload progress has no events: poll the snapshot this often, send only changes
HEARTBEAT_S = 5.0
SESSION_HEADER = "x-kiosk-session"


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise KioskRefusal("bad_request", "the body is not JSON", status=400) from None
    if not isinstance(body, dict):
        raise KioskRefusal("bad_request", "the body is a JSON object", status=400)
    return body


async def _answer(fn: Callable[[], Any]) -> Response:
    try:
        result = await run_in_threadpool(fn)
    except KioskRefusal as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse(result)


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def event_stream(backend: KioskBackend, *, poll_s: float = POLL_S,
                       heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Notice] = asyncio.Queue()

    def deliver(n: Notice) -> None:  # on whichever thread published
        loop.call_soon_threadsafe(inbox.put_nowait, n)

    unsubscribe = backend.notices.subscribe(deliver)
    last = ""
    sent_at = time.monotonic()
    try:
        while not backend.closing.is_set():
            notices: list[Notice] = []
            if last:
                with contextlib.suppress(TimeoutError):
                    notices.append(await asyncio.wait_for(inbox.get(), timeout=poll_s))
                while not inbox.empty():
                    notices.append(inbox.get_nowait())
            # The snapshot first, so a notice never refers to something the kiosk has not seen yet.
            snap = await run_in_threadpool(backend.snapshot_text)
            out = b""
            if snap != last:
                out += _sse("snapshot", snap)
                last = snap
            for n in notices:
                if n.get("type") != "wake":
                    out += _sse("notice", json.dumps(n, separators=(",", ":")))
            now = time.monotonic()
            if not out and now - sent_at >= heartbeat_s:
                out = b": ping\n\n"
            if out:
                sent_at = now
                yield out
    finally:
        unsubscribe()
        backend.kiosk_gone()


def kiosk_routes(backend: KioskBackend) -> list[BaseRoute]:
    def token(request: Request) -> str | None:
        return request.headers.get(SESSION_HEADER)

    async def snapshot(request: Request) -> Response:
        return await _answer(backend.snapshot)

    async def events(request: Request) -> Response:
        return StreamingResponse(event_stream(backend), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def checkout(request: Request) -> Response:
        try:
            body = await _body(request)
        except KioskRefusal as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: backend.checkout(body))

    async def sessions(request: Request) -> Response:
        if request.method == "DELETE":
            backend.close_session(token(request))
            return JSONResponse({"closed": True})
        try:
            body = await _body(request)
        except KioskRefusal as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: backend.open_session(body))

    async def badge(request: Request) -> Response:
        try:
            body = await _body(request)
        except KioskRefusal as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: backend.set_badge_purpose(body))

    async def checkin(request: Request) -> Response:
        cid = request.path_params["checkin_id"]
        return await _answer(lambda: backend.checkin(token(request), cid))

    async def tag(request: Request) -> Response:
        cid = request.path_params["checkin_id"]
        try:
            body = await _body(request)
        except KioskRefusal as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: backend.tag(token(request), cid, body))

    async def finish(request: Request) -> Response:
        cid = request.path_params["checkin_id"]
        return await _answer(lambda: backend.finish(token(request), cid))

    async def staff_health(request: Request) -> Response:
        return await _answer(lambda: backend.staff_health(token(request)))

    async def ack(request: Request) -> Response:
        aid = request.path_params["alert_id"]
        return await _answer(lambda: backend.acknowledge(token(request), aid))

    async def admin(request: Request) -> Response:
        return await _answer(lambda: backend.admin(token(request)))

    async def roster_sync(request: Request) -> Response:
        return await _answer(lambda: backend.roster_sync(token(request)))

    p = "/api/kiosk"
    return [
        Route(f"{p}/snapshot", snapshot),
        Route(f"{p}/events", events),
        Route(f"{p}/checkout", checkout, methods=["POST"]),
        Route(f"{p}/sessions", sessions, methods=["POST", "DELETE"]),
        Route(f"{p}/badge", badge, methods=["PUT"]),
        Route(f"{p}/checkins/{{checkin_id:int}}", checkin),
        Route(f"{p}/checkins/{{checkin_id:int}}/tags", tag, methods=["POST"]),
        Route(f"{p}/checkins/{{checkin_id:int}}/finish", finish, methods=["POST"]),
        Route(f"{p}/staff/health", staff_health),
        Route(f"{p}/staff/alerts/{{alert_id:int}}/ack", ack, methods=["POST"]),
        Route(f"{p}/admin", admin),
        Route(f"{p}/admin/roster-sync", roster_sync, methods=["POST"]),
    ]


class ShiftHost(Protocol):
    """What the kiosk routes need of the daemon's shift wiring (``bodydock.shift_runtime.ShiftRuntime``),
    named here so the API does not import the wiring above it."""

    shift: ShiftService
    roster: RosterKeeper | None
    badge_handler: Callable[[str], None] | None


class KioskMount:
    """For ``start_health(local_routes=...)``: builds the backend once the health monitor exists
    and lets it take over the badge reader. ``close()`` before the HTTP servers stop ends the open
    event streams at once (uvicorn would otherwise wait for them, then cancel them noisily)."""

    def __init__(self, cfg: StationConfig, runtime: ShiftHost) -> None:
        self.cfg, self.runtime = cfg, runtime
        self.backend: KioskBackend | None = None

    def __call__(self, status: StatusSource) -> list[BaseRoute]:
        self.backend = KioskBackend(self.cfg, self.runtime.shift, status, roster=self.runtime.roster)
        self.runtime.badge_handler = self.backend.on_badge
        return kiosk_routes(self.backend)

    def close(self) -> None:
        self.runtime.badge_handler = None
        if self.backend is not None:
            self.backend.close()


def kiosk_mount(cfg: StationConfig, runtime: ShiftHost) -> KioskMount:
    return KioskMount(cfg, runtime)
