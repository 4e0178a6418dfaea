"""The portal's pages: login, search, a recording, open for a purpose, the player and its byte
ranges, holds, retention, consent withdrawal, transfer, the access log, reconcile, users.

Every request runs in a worker thread (the catalog, the logs' fsync and decryption block); the
catalog's one connection is shared under one lock. Who may do what is asked of ``vault.access``
each time, never decided here: the portal only chooses what to show.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import json
import mimetypes
import os
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from station.timeutil import iso, utcnow
from vault import access
from vault.access import Refused
from vault.agedecrypt import AgeError
from vault.catalog import ACCESS, Catalog, Recording, open_catalog
from vault.config import PURPOSES, PortalConfig, User, VaultConfig
from vault.portal import i18n
from vault.portal.accounts import Accounts, Login
from vault.portal.agerange import AgeRange
from vault.portal.sessions import Session, Sessions, Viewing
from vault.portal.zipstream import zip_folder
from vault.search import Query, search
from vault.stores import open_store

COOKIE = "__Host-bodydock-vault"
LANG_COOKIE = "bodydock-vault-lang"
MAX_FORM = 64 * 1024
STATIC = Path(__file__).with_name("static")
TAGS = ("evidence", "learning", "uncategorised")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

SECURITY_HEADERS = {
    # No script at all: the player is the browser's own <video controls>.
    "content-security-policy": ("default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Every response, errors and 404s included, carries the headers; nothing is cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.encode() not in have:
                        headers.append((k.encode(), v.encode()))
                if b"cache-control" not in have:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


@dataclass(slots=True, kw_only=True)
class Ctx:
    request: Request
    session: Session | None
    user: User | None
    form: dict[str, str]
    lang: str
    t: Callable[..., str]
    set_lang: bool

    @property
    def name(self) -> str:
        assert self.user is not None
        return self.user.name


Handler = Callable[[Ctx], Response]


def _parse_form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def _none(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


class Portal:
    def __init__(self, cfg: VaultConfig, *, identities: Sequence[X25519PrivateKey], accounts: Accounts | None = None,
                 signing_key_loader: Callable[[], Any] | None = None) -> None:
        if cfg.portal is None:
            raise ValueError("the vault config has no portal section")
        self.cfg = cfg
        self.pc: PortalConfig = cfg.portal
        self.identities = list(identities)
        self.accounts = accounts or Accounts(self.pc.accounts_dir, max_failures=self.pc.max_failures,
                                             lockout_s=self.pc.lockout_s)
        self._signing_key_loader = signing_key_loader
        self.lock = threading.RLock()  # the catalog's one connection, shared by the request threads
        # Decryption for every stream on as many threads as there are cores: more only contend for the GIL.
        self._streams = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="portal-stream")
        self.cat: Catalog = open_catalog(cfg.state_dir)
        with self.lock:
            from vault.withdraw import recover

            self.cat.flush_logs()
            recover(cfg, self.cat)  # as the command line does: an interrupted withdrawal first
        self.sessions = Sessions(self.pc.session_timeout_s, on_end=self._session_ended)
        self._failures: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._failures_lock = threading.Lock()
        self._last_sweep = 0.0
        self._last_reconcile: list[Any] | None = None
        self._reconciled_at = ""
        self.env = Environment(loader=PackageLoader("vault.portal", "templates"), autoescape=select_autoescape())
        self.app = self._build()

    def close(self) -> None:
        self._streams.shutdown(wait=False, cancel_futures=True)
        self.sessions.end_all("server stopped")
        with self.lock:
            self.cat.close()

    # --- framework -------------------------------------------------------------------------
    def _build(self) -> ASGIApp:
        r = self._route
        routes = [
            Route("/static/{name}", self._static, methods=["GET"]),
            r("/login", self.login_page, ["GET"], auth=False),
            r("/login", self.login_submit, ["POST"], auth=False),
            r("/logout", self.logout, ["POST"]),
            r("/", lambda ctx: RedirectResponse("/search", 303), ["GET"]),
            r("/search", self.search_page, ["GET"]),
            r("/recordings/{rid}", self.recording_page, ["GET"]),
            r("/recordings/{rid}/open", self.open_recording, ["POST"]),
            r("/recordings/{rid}/hold", self.place_hold, ["POST"]),
            r("/holds/{hid:int}/release", self.release_hold, ["POST"]),
            r("/viewings/{vid}", self.viewing_page, ["GET"]),
            r("/viewings/{vid}/media", self.media, ["GET"]),
            r("/retention", self.retention_page, ["GET"], action="audit"),
            r("/transfer", self.transfer_page, ["GET"], action="transfer"),
            r("/transfer", self.transfer_submit, ["POST"], action="transfer"),
            r("/exports/{pid}/download", self.export_download, ["GET"], action="transfer"),
            r("/exports/{pid}/form", self.export_form, ["GET"], action="transfer"),
            r("/withdraw", self.withdraw_page, ["GET"], action="withdraw"),
            r("/withdraw", self.withdraw_submit, ["POST"], action="withdraw"),
            r("/receipts/{rid}", self.receipt_download, ["GET"], action="withdraw"),
            r("/log", self.log_page, ["GET"], action="audit"),
            r("/reconcile", self.reconcile_page, ["GET"], action="audit"),
            r("/reconcile", self.reconcile_run, ["POST"], action="audit"),
            r("/users", self.users_page, ["GET"], action="administer"),
            r("/users/{name}/unlock", self.unlock_user, ["POST"], action="administer"),
        ]
        return SecurityHeaders(Starlette(routes=routes))

    def _route(self, path: str, handler: Handler, methods: list[str], *, auth: bool = True,
               action: str | None = None) -> Route:
        async def endpoint(request: Request) -> Response:
            body = b""
            if request.method == "POST":
                body = await request.body()
                if len(body) > MAX_FORM:
                    return PlainTextResponse("form too large", 413)
            return await run_in_threadpool(self._handle, request, body, handler, auth, action)

        return Route(path, endpoint, methods=methods)

    def _handle(self, request: Request, body: bytes, handler: Handler, auth: bool, action: str | None) -> Response:
        now = time.monotonic()
        if now - self._last_sweep > 1.0:
            self._last_sweep = now
            self.sessions.sweep()
        asked = request.query_params.get("lang")
        lang = asked if asked in i18n.LANGS else request.cookies.get(LANG_COOKIE, i18n.DEFAULT)
        lang = lang if lang in i18n.LANGS else i18n.DEFAULT
        session, expired = self.sessions.get(request.cookies.get(COOKIE))
        user = self.cfg.users.get(session.user) if session is not None and session.user else None
        ctx = Ctx(request=request, session=session, user=user, form={}, lang=lang, t=i18n.translator(lang),
                  set_lang=asked in i18n.LANGS)
        if auth and user is None:
            if request.method == "GET" and not request.url.path.endswith("/media"):
                resp: Response = RedirectResponse("/login" + ("?expired=1" if expired else ""), 303)
            else:
                resp = PlainTextResponse("login required", 401)
            return resp
        if request.method == "POST":
            ctx.form = _parse_form(body)
            if session is None or not hmac.compare_digest(ctx.form.get("csrf", ""), session.csrf):
                return self.render(ctx, "error.html", status=403, reason=ctx.t("error.csrf"))
        if action is not None and user is not None:
            try:
                access.authorize_action(self.cfg, user.name, action)
            except Refused as exc:
                with self.lock:
                    access.log_refusal(self.cat, user.name, "portal.refused", str(exc), page=request.url.path)
                return self.render(ctx, "refused.html", status=403, reason=self.why(ctx, exc))
        resp = handler(ctx)
        if ctx.set_lang:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, secure=True, httponly=True, samesite="strict")
        return resp

    def _static(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return PlainTextResponse("not found", 404)
        return Response(path.read_bytes(), media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                        headers={"cache-control": "private, max-age=3600"})

    def may(self, user: User | None, action: str) -> bool:
        if user is None:
            return False
        try:
            access.authorize_action(self.cfg, user.name, action)
        except Refused:
            return False
        return True

    def render(self, ctx: Ctx, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        nav = [("search", "/search", None), ("retention", "/retention", "audit"), ("transfer", "/transfer", "transfer"),
               ("withdraw", "/withdraw", "withdraw"), ("log", "/log", "audit"), ("reconcile", "/reconcile", "audit"),
               ("users", "/users", "administer")]
        shown = [(key, href) for key, href, act in nav
                 if ctx.user is not None and (act is None or self.may(ctx.user, act))]
        html = self.env.get_template(template).render(
            t=ctx.t, lang=ctx.lang, other_lang="en" if ctx.lang == "nl" else "nl", user=ctx.user,
            csrf=ctx.session.csrf if ctx.session else "", path=ctx.request.url.path, app_name=self.cfg.name,
            nav=shown, when=lambda text: i18n.when(text, ctx.lang), day=lambda text: i18n.day(text, ctx.lang),
            **values)
        return HTMLResponse(html, status_code=status)

    @staticmethod
    def why(ctx: Ctx, exc: Refused) -> str:
        """The refusal in the page's language (the access log keeps the English message)."""
        return i18n.refusal(ctx.t, exc.code, exc.params, str(exc))

    def _session_ended(self, s: Session, why: str) -> None:
        if not s.viewings:
            return
        with self.lock:
            self.cat.log(ACCESS).append_many(
                {"who": s.user, "what": "view.closed", "why": v.purpose,
                 "details": {"recording": v.recording, "opened": v.opened_seq, "channel": "portal",
                             "bytes_served": v.bytes_served, "ended": why}} for v in s.viewings.values())

    def _cookie(self, resp: Response, session: Session) -> Response:
        resp.set_cookie(COOKIE, session.id, secure=True, httponly=True, samesite="strict", path="/")
        return resp

    # --- login -----------------------------------------------------------------------------
    def login_page(self, ctx: Ctx, *, message: str = "", status: int = 200) -> Response:
        session = ctx.session if ctx.session is not None and ctx.session.user is None else self.sessions.new()
        ctx.session = session
        q = ctx.request.query_params
        note = ctx.t("login.expired") if "expired" in q else ctx.t("login.logged_out") if "bye" in q else ""
        return self._cookie(self.render(ctx, "login.html", status=status, message=message, note=note), session)

    def _too_many(self, address: str) -> bool:
        now = time.monotonic()
        with self._failures_lock:
            q = self._failures[address]
            while q and now - q[0] > 60:
                q.popleft()
            return len(q) >= self.pc.failures_per_minute

    def _failed(self, address: str) -> None:
        with self._failures_lock:
            self._failures[address].append(time.monotonic())

    def login_submit(self, ctx: Ctx) -> Response:
        address = ctx.request.client.host if ctx.request.client else "?"
        name = ctx.form.get("user", "").strip()
        if self._too_many(address):
            return self.login_page(ctx, message=ctx.t("login.slow_down"), status=429)
        result = Login.REFUSED
        if name in self.cfg.users:  # an account left behind for a user no longer configured is no account
            result = self.accounts.login(name, ctx.form.get("password", ""), ctx.form.get("code", ""))
        else:
            self.accounts.login("-", "", "")  # the same cost as a real check
        with self.lock:
            self.cat.log(ACCESS).append(who=name or "-", what="portal.login", result="ok" if result is Login.OK
                                        else "refused", why="" if result is Login.OK else result.value,
                                        details={"address": address})
        if result is not Login.OK:
            self._failed(address)
            key = "login.locked" if result is Login.LOCKED else "login.refused"
            return self.login_page(ctx, message=ctx.t(key), status=403 if result is Login.LOCKED else 401)
        session = self.sessions.login(ctx.session, name)
        return self._cookie(RedirectResponse("/search", 303), session)

    def logout(self, ctx: Ctx) -> Response:
        assert ctx.session is not None
        self.sessions.end(ctx.session.id, "logout")
        resp = RedirectResponse("/login?bye=1", 303)
        resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return resp

    # --- search and a recording --------------------------------------------------------------
    def search_page(self, ctx: Ctx) -> Response:
        q = ctx.request.query_params
        fields = {k: (q.get(k) or "").strip() for k in ("from", "to", "station", "wearer", "tag", "case")}
        query = Query(date_from=_none(fields["from"]), date_to=_none(fields["to"]), station=_none(fields["station"]),
                      wearer=_none(fields["wearer"]), tag=fields["tag"] if fields["tag"] in TAGS else None,
                      case=_none(fields["case"]), limit=100)
        error = ""
        with self.lock:
            self.cat.log(ACCESS).append(who=ctx.name, what="search", details={"query": query.to_json(),
                                                                               "channel": "portal"})
            try:
                rows = search(self.cat, query)
            except ValueError:
                rows, error = [], ctx.t("search.bad_date")  # a date the form's date fields never send
            recs = {r["id"]: self.cat.recording(r["id"]) for r in rows}
        shown = [r for r in rows if access.may_find(self.cfg, recs[r["id"]], ctx.name)]
        return self.render(ctx, "search.html", rows=shown, fields=fields, tags=TAGS, error=error)

    def _recording(self, ctx: Ctx, rid: str) -> Recording | HTMLResponse:
        with self.lock:
            rec = self.cat.recording(rid)
        if rec is None or rec.state != "catalogued":
            return self.render(ctx, "error.html", status=404, reason=ctx.t("error.not_found"))
        if not access.may_find(self.cfg, rec, ctx.name):
            exc = Refused(f"none of {ctx.name}'s roles may see recording {rid}", code="not_visible", user=ctx.name,
                          recording=rid)
            with self.lock:
                access.log_refusal(self.cat, ctx.name, "portal.refused", str(exc), recording=rid)
            return self.render(ctx, "refused.html", status=403, reason=self.why(ctx, exc))
        return rec

    def recording_page(self, ctx: Ctx, *, message: str = "") -> Response:
        rec = self._recording(ctx, ctx.request.path_params["rid"])
        if isinstance(rec, HTMLResponse):
            return rec
        with self.lock:
            holds = [dict(h) for h in self.cat.active_holds(rec.id)]
        # Every purpose the user's roles name, not only those this recording opens for: choosing
        # one that does not apply gets the rule's own refusal (and is logged), as on the command line.
        assert ctx.user is not None
        named = {p for role in self.cfg.roles_of(ctx.user) for p in role.purposes}
        allowed = set(access.purposes_for(self.cfg, rec, ctx.name))
        purposes = [p for p in PURPOSES if p in named or p in allowed]
        return self.render(ctx, "recording.html", rec=rec, holds=holds, message=message, purposes=purposes,
                           may_hold=self.may(ctx.user, "hold"), may_release=self.may(ctx.user, "release"),
                           may_transfer=self.may(ctx.user, "transfer") and rec.tag != "learning",
                           may_withdraw=self.may(ctx.user, "withdraw") and rec.tag == "learning")

    def open_recording(self, ctx: Ctx) -> Response:
        rid = ctx.request.path_params["rid"]
        purpose = ctx.form.get("purpose", "")
        case = _none(ctx.form.get("case"))
        assert ctx.session is not None
        try:
            with self.lock:
                rec, _grant, entry = access.open_view(self.cfg, self.cat, rid, purpose=purpose, case=case,
                                                      user_name=ctx.name, channel="portal")
        except Refused as exc:
            return self.render(ctx, "refused.html", status=403, reason=self.why(ctx, exc))
        vid = secrets.token_urlsafe(24)
        ext = Path(rec.payload_path).name.removesuffix(".age").rpartition(".")[2].lower()
        ctx.session.viewings[vid] = Viewing(
            id=vid, recording=rec.id, purpose=purpose, case=case, opened_seq=int(entry["seq"]),  # type: ignore[call-overload]
            opened_at=str(entry["ts"]), size=rec.size, payload_path=rec.payload_path, payload_size=rec.payload_size,
            content_type={"mp4": "video/mp4", "mov": "video/quicktime", "m4v": "video/mp4"}.get(ext, "video/mp4"))
        return RedirectResponse(f"/viewings/{vid}", 303)

    def viewing_page(self, ctx: Ctx) -> Response:
        assert ctx.session is not None and ctx.user is not None
        v = ctx.session.viewings.get(ctx.request.path_params["vid"])
        if v is None:
            return self.render(ctx, "error.html", status=404, reason=ctx.t("error.not_found"))
        return self.render(ctx, "viewing.html", v=v, viewer=ctx.user.full_name or ctx.user.name,
                           opened=i18n.when(v.opened_at, ctx.lang) + " UTC")

    def media(self, ctx: Ctx) -> Response:
        """The footage of one viewing, decrypted per range; the viewing is this session's only."""
        assert ctx.session is not None
        v = ctx.session.viewings.get(ctx.request.path_params["vid"])
        if v is None:
            return PlainTextResponse("no such viewing in this session", 404)
        size = v.size
        headers = {"accept-ranges": "bytes", "cache-control": "no-store", "content-type": v.content_type}
        start, end, status = 0, size - 1, 200
        header = ctx.request.headers.get("range")
        if header is not None:
            m = _RANGE.match(header.strip())
            if m is None or (not m[1] and not m[2]):
                return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
            if m[1]:
                start = int(m[1])
                end = min(int(m[2]), size - 1) if m[2] else size - 1
            else:
                start, end = max(0, size - int(m[2])), size - 1
            if start >= size or end < start:
                return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
            status = 206
            headers["content-range"] = f"bytes {start}-{end}/{size}"
        headers["content-length"] = str(end - start + 1)
        if size == 0:
            return Response(b"", status_code=200, headers=headers)
        store = open_store(self.cfg)
        if v.reader is None:
            try:
                with store.open(v.payload_path) as fh:
                    v.reader = AgeRange(fh, self.identities, size=v.size, cipher_size=v.payload_size)
            except (OSError, AgeError) as exc:
                self._view_failed(ctx, v, exc)
                return PlainTextResponse("the footage cannot be decrypted", 500)
        reader = v.reader

        def pieces() -> Iterator[bytes]:
            with store.open(v.payload_path) as fh:
                yield from reader.pieces(fh, start, end)

        async def body() -> AsyncIterator[bytes]:
            # One piece at a time on the decrypting threads. A viewer who leaves drops the
            # generator, which closes it (and the file) on whichever thread lets go of it last.
            loop = asyncio.get_running_loop()
            source = pieces()
            try:
                while (piece := await loop.run_in_executor(self._streams, next, source, None)) is not None:
                    v.bytes_served += len(piece)
                    yield piece
            except (OSError, AgeError) as exc:
                self._view_failed(ctx, v, exc)
                raise

        return StreamingResponse(body(), status_code=status, headers=headers)

    def _view_failed(self, ctx: Ctx, v: Viewing, exc: Exception) -> None:
        with self.lock:
            self.cat.log(ACCESS).append(who=ctx.name, what="view.failed", why=str(exc), result="failed",
                                        details={"recording": v.recording, "opened": v.opened_seq,
                                                 "channel": "portal"})

    # --- holds -----------------------------------------------------------------------------
    def place_hold(self, ctx: Ctx) -> Response:
        rid = ctx.request.path_params["rid"]
        try:
            with self.lock:
                hid = access.hold(self.cfg, self.cat, rid, case=ctx.form.get("case", ""),
                                  reason=ctx.form.get("reason", ""), user_name=ctx.name)
        except Refused as exc:
            return self.render(ctx, "refused.html", status=403, reason=self.why(ctx, exc))
        return self.recording_page(ctx, message=ctx.t("done.hold", hid=hid))

    def release_hold(self, ctx: Ctx) -> Response:
        hid = int(ctx.request.path_params["hid"])
        with self.lock:
            row = self.cat.one("SELECT recording_id FROM holds WHERE id=?", (hid,))
        try:
            with self.lock:
                access.release(self.cfg, self.cat, hid, reason=ctx.form.get("reason", "").strip() or "-",
                               user_name=ctx.name)
        except Refused as exc:
            return self.render(ctx, "refused.html", status=403, reason=self.why(ctx, exc))
        ctx.request.path_params["rid"] = row["recording_id"] if row else ""
        return self.recording_page(ctx, message=ctx.t("done.release", hid=hid))

    # --- retention ---------------------------------------------------------------------------
    def retention_page(self, ctx: Ctx) -> Response:
        with self.lock:
            rows = [dict(r) for r in self.cat.all(
                "SELECT id, station, tag, case_number, started_at, retention_until, EXISTS(SELECT 1 FROM holds h "
                "WHERE h.recording_id=recordings.id AND h.released_at IS NULL) AS held FROM recordings "
                "WHERE state='catalogued' ORDER BY retention_until IS NULL, retention_until, id LIMIT 500")]
            exports = [dict(r) for r in self.cat.all("SELECT id, created_at, expires_at, created_by FROM exports "
                                                     "WHERE state='present' ORDER BY expires_at")]
        return self.render(ctx, "retention.html", rows=rows, exports=exports)

    # --- transfer ----------------------------------------------------------------------------
    def transfer_page(self, ctx: Ctx, *, values: dict[str, str] | None = None, status: int = 200,
                      message: str = "") -> Response:
        values = values or {"recordings": "\n".join(ctx.request.query_params.getlist("recording"))}
        return self.render(ctx, "transfer.html", values=values, status=status, message=message)

    def transfer_submit(self, ctx: Ctx) -> Response:
        from station.crypto.keys import load_signing_key
        from vault.transfer import make_package

        f = ctx.form
        ids = [x.strip() for x in re.split(r"[\s,]+", f.get("recordings", "")) if x.strip()]
        key = self._signing_key_loader() if self._signing_key_loader else load_signing_key(self.cfg.signing_key)
        try:
            with self.lock:
                root = make_package(self.cfg, self.cat, self.identities, key, ids, to=f.get("to", ""),
                                    basis=f.get("basis", ""), case=f.get("case", ""), user_name=ctx.name,
                                    recipient=_none(f.get("recipient")))
        except Refused as exc:
            return self.transfer_page(ctx, values=f, status=403, message=self.why(ctx, exc))
        form = json.loads((root / "transfer-form.json").read_bytes())["form"]
        return self.render(ctx, "transfer_done.html", pid=root.name, form=form)

    def _export(self, ctx: Ctx) -> tuple[str, Path] | Response:
        pid = ctx.request.path_params["pid"]
        with self.lock:
            row = self.cat.one("SELECT path FROM exports WHERE id=? AND state='present'", (pid,))
        if row is None or not Path(row["path"]).is_dir():
            return self.render(ctx, "error.html", status=404, reason=ctx.t("error.not_found"))
        return pid, Path(row["path"])

    def export_download(self, ctx: Ctx) -> Response:
        got = self._export(ctx)
        if isinstance(got, Response):
            return got
        pid, root = got
        with self.lock:
            self.cat.log(ACCESS).append(who=ctx.name, what="transfer.downloaded", result="granted",
                                        details={"package": pid, "channel": "portal"})
        return StreamingResponse(zip_folder(root), media_type="application/zip",
                                 headers={"content-disposition": f'attachment; filename="{pid}.zip"'})

    def export_form(self, ctx: Ctx) -> Response:
        got = self._export(ctx)
        if isinstance(got, Response):
            return got
        # The form is a standalone printable page with its own inline style, and nothing else.
        return HTMLResponse((got[1] / "transfer-form.html").read_text("utf-8"), headers={
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"})

    # --- withdrawal ------------------------------------------------------------------------
    def withdraw_page(self, ctx: Ctx, *, values: dict[str, str] | None = None, status: int = 200,
                      message: str = "") -> Response:
        values = values or {"recording": ctx.request.query_params.get("recording", "")}
        return self.render(ctx, "withdraw.html", values=values, status=status, message=message)

    def withdraw_submit(self, ctx: Ctx) -> Response:
        from vault.withdraw import receipt_text, withdraw

        rid = ctx.form.get("recording", "").strip()
        try:
            with self.lock:
                receipt = withdraw(self.cfg, self.cat, rid, consent_ref=ctx.form.get("consent_ref", ""),
                                   user_name=ctx.name)
        except Refused as exc:
            return self.withdraw_page(ctx, values=ctx.form, status=403, message=self.why(ctx, exc))
        return self.render(ctx, "receipt.html", receipt=receipt, text=receipt_text(receipt))

    def receipt_download(self, ctx: Ctx) -> Response:
        from vault.withdraw import receipt_text

        rid = ctx.request.path_params["rid"]
        with self.lock:
            row = self.cat.one("SELECT receipt FROM withdrawals WHERE recording_id=? AND state='done'", (rid,))
        if row is None or not row["receipt"]:
            return self.render(ctx, "error.html", status=404, reason=ctx.t("error.not_found"))
        return PlainTextResponse(receipt_text(json.loads(row["receipt"])), headers={
            "content-disposition": f'attachment; filename="intrekking-{rid}.txt"'})

    # --- the privacy officer -----------------------------------------------------------------
    def log_page(self, ctx: Ctx) -> Response:
        from vault.accesslog import verify

        q = (ctx.request.query_params.get("q") or "").strip()
        with self.lock:
            log = self.cat.log(ACCESS)
            result = verify(log.path, self.cat.anchor(ACCESS))
            entries = log.tail(2000 if q else 200)
        if q:
            entries = [e for e in entries if q in e.get("who", "") or q in e.get("what", "")
                       or q in json.dumps(e.get("details", {}))][-200:]
        rows = [{**e, "details_text": ", ".join(f"{k}={v}" for k, v in e.get("details", {}).items()
                                                if v not in (None, "", []))} for e in reversed(entries)]
        return self.render(ctx, "log.html", rows=rows, result=result, q=q)

    def reconcile_page(self, ctx: Ctx) -> Response:
        if self._last_reconcile is None:
            return self.reconcile_run(ctx)
        return self.render(ctx, "reconcile.html", reports=self._last_reconcile,
                           at=i18n.when(self._reconciled_at, ctx.lang) + " UTC")

    def reconcile_run(self, ctx: Ctx) -> Response:
        from vault.reconcile import reconcile

        with self.lock:
            self._last_reconcile = reconcile(self.cfg, self.cat)
        self._reconciled_at = iso(utcnow())
        return self.render(ctx, "reconcile.html", reports=self._last_reconcile,
                           at=i18n.when(self._reconciled_at, ctx.lang) + " UTC")

    # --- the administrator -------------------------------------------------------------------
    def users_page(self, ctx: Ctx, *, message: str = "") -> Response:
        users = []
        for u in self.cfg.users.values():
            try:
                status = self.accounts.status(u.name)
                problem = ""
            except Exception as exc:  # an unreadable account file is shown, not fatal for the page
                status, problem = None, str(exc)
            users.append({"user": u, "status": status, "problem": problem})
        return self.render(ctx, "users.html", users=users, roles=self.cfg.roles, message=message,
                           purposes=PURPOSES)

    def unlock_user(self, ctx: Ctx) -> Response:
        name = ctx.request.path_params["name"]
        if name not in self.cfg.users:
            return self.render(ctx, "error.html", status=404, reason=ctx.t("error.not_found"))
        self.accounts.unlock(name)
        with self.lock:
            self.cat.log(ACCESS).append(who=ctx.name, what="portal.unlocked", details={"user": name})
        return self.users_page(ctx, message=ctx.t("done.unlock", name=name))
