"""The HTTP side: ``create_app`` builds the Starlette app the daemon serves.

Two flavours of the same app: ``local=True`` for the Unix socket (the kiosk, ``bodydock
status``; access is the socket file's permissions; alerts can be acknowledged there), and the
LAN flavour behind token/basic auth, read-only, with people shown as initials only. The kiosk
adds its own routes through ``routes``.

Endpoints: ``GET /`` (status page), ``GET /api/status``, ``GET /api/alerts``, ``GET /metrics``,
``GET /healthz`` (no auth: only says whether the core runs), and on the local socket
``POST /api/alerts/{id}/ack`` with ``{"by": "<staff name>"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from health.checks import CORE_STALL_S
from health.page import render
from health.report import HealthReport, alert_json, report_json
from health.texts import LANGUAGES
from localapi.auth import Authenticator, AuthMiddleware

OPEN_PATHS = ("/healthz",)
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class StatusSource(Protocol):
    def report(self) -> HealthReport: ...

    def acknowledge(self, alert_id: int, who: str) -> bool: ...


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    source: StatusSource,
    registry: CollectorRegistry,
    *,
    timezone: str = "Europe/Amsterdam",
    language: str = "nl",
    auth: Authenticator | None = None,
    local: bool = False,
    loop_age: Callable[[], float | None] = lambda: None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    if not local and auth is None:
        raise ValueError("the LAN status app needs authentication")
    public = not local

    async def page(request: Request) -> Response:
        # The station's language; ``?lang=en`` / ``?lang=nl`` for a reader who needs the other one.
        asked = request.query_params.get("lang")
        return HTMLResponse(render(source.report(), timezone, asked if asked in LANGUAGES else language))

    async def status(request: Request) -> Response:
        return JSONResponse(report_json(source.report(), public=public))

    async def alerts(request: Request) -> Response:
        return JSONResponse({"alerts": [alert_json(a, public=public) for a in source.report().facts.alerts]})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        age = loop_age()
        alive = age is not None and age < CORE_STALL_S
        return PlainTextResponse("ok\n" if alive else "core not responding\n", status_code=200 if alive else 503)

    async def acknowledge(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        who = body.get("by") if isinstance(body, dict) else None
        if not isinstance(who, str) or not who.strip():
            return JSONResponse({"error": 'give {"by": "<staff name>"}'}, status_code=400)
        alert_id = request.path_params["alert_id"]
        if not source.acknowledge(alert_id, who.strip()):
            return JSONResponse({"error": f"alert {alert_id} is not open or already acknowledged"}, status_code=409)
        return JSONResponse({"acknowledged": alert_id, "by": who.strip()})

    table: list[BaseRoute] = [
        Route("/", page), Route("/api/status", status), Route("/api/alerts", alerts),
        Route("/metrics", metrics), Route("/healthz", healthz),
    ]
    if local:
        table.append(Route("/api/alerts/{alert_id:int}/ack", acknowledge, methods=["POST"]))
    middleware = [Middleware(_SecurityHeaders)]
    if auth is not None:
        middleware.append(Middleware(AuthMiddleware, auth=auth, open_paths=OPEN_PATHS))
    return Starlette(routes=[*table, *routes], middleware=middleware)
