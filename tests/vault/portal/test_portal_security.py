"""The portal's security over real HTTP: a real ``bodydock-vault portal serve`` (uvicorn, TLS
with a self-signed certificate the client trusts), driven with httpx.

Nothing without login; a wrong or replayed TOTP code refused; lockout after N failures (and
the CLI's unlock); a coach cannot see evidence; a viewer cannot read the access log; a form
without its CSRF token refused; a session expires; range requests stay inside one recording
of one session's viewing; no plaintext left anywhere on the server's disk after viewings."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.vault.portal.portal_helpers import (
    PASSWORD,
    PortalVault,
    cli,
    csrf_of,
    free_port,
    login,
    login_ok,
    make_portal_vault,
    mp4_clips,
    walk_files,
)
from vault.portal import totp


@pytest.fixture(scope="module")
def pv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalVault]:
    clips = mp4_clips(tmp_path_factory.mktemp("cams"), 5, seconds=2.0)
    vault = make_portal_vault(tmp_path_factory.mktemp("portal"), clips)
    vault.start()
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture(scope="module")
def clients(pv: PortalVault) -> Iterator[dict[str, httpx.Client]]:
    """One logged-in client per user, shared by the tests (a TOTP code is good once)."""
    made: dict[str, httpx.Client] = {}
    try:
        yield made
    finally:
        for c in made.values():
            c.close()


def as_user(pv: PortalVault, clients: dict[str, httpx.Client], user: str) -> httpx.Client:
    if user not in clients:
        c = pv.client()
        login_ok(c, pv, user)
        clients[user] = c
    return clients[user]


def access_log(pv: PortalVault) -> list[dict[str, object]]:
    return [json.loads(line) for line in (pv.root / "state" / "access.log").read_text().splitlines()]


def open_view(c: httpx.Client, rid: str, purpose: str, case: str | None) -> httpx.Response:
    page = c.get(f"/recordings/{rid}")
    assert page.status_code == 200, page.text[:500]
    return c.post(f"/recordings/{rid}/open", data={"csrf": csrf_of(page.text), "purpose": purpose,
                                                    "case": case or ""})


PAGES = ["/", "/search", "/recordings/{rid}", "/retention", "/transfer", "/withdraw", "/log", "/reconcile", "/users",
         "/viewings/x", "/exports/x/download", "/receipts/{rid}"]


def test_nothing_without_login_and_the_headers(pv: PortalVault) -> None:
    rid = pv.ids["plain"]
    with pv.client() as c:
        for page in PAGES:
            r = c.get(page.format(rid=rid))
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), page
            assert rid not in r.text
        r = c.get("/viewings/x/media", headers={"Range": "bytes=0-"})
        assert r.status_code == 401 and not r.content.startswith(b"\x00\x00")
        for post in (f"/recordings/{rid}/open", f"/recordings/{rid}/hold", "/transfer", "/withdraw", "/logout"):
            assert c.post(post, data={"purpose": "complaint", "case": "K1"}).status_code == 401, post
        login_page = c.get("/login")
        for r in (login_page, c.get("/no-such-page")):
            h = r.headers
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert "script-src" not in h["content-security-policy"] and "default-src 'none'" in \
                h["content-security-policy"]
            assert h["strict-transport-security"].startswith("max-age=")
            assert h["referrer-policy"] == "no-referrer" and h["cache-control"] == "no-store"
        cookie = login_page.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    # No plain HTTP on the port: a request without TLS gets no page.
    with socket.create_connection(("127.0.0.1", pv.port), timeout=10) as s:
        s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        try:
            got = s.recv(4096)
        except (ConnectionError, TimeoutError):
            got = b""
        assert b"Inloggen" not in got


def test_wrong_totp_and_a_replayed_code_are_refused(pv: PortalVault) -> None:
    with pv.client() as c:
        good = pv.code("admin")
        wrong = f"{(int(good) + 1) % 1_000_000:06d}"
        r = login(c, pv, "admin", code=wrong)
        assert r.status_code == 401 and "Inloggen mislukt" in r.text
        assert c.get("/users").status_code == 303
        # A code from an hour ago is no code.
        r = login(c, pv, "admin", code=totp.code_at(pv.secrets["admin"], totp.current_step() - 120))
        assert r.status_code == 401
        login_ok(c, pv, "admin")
        assert c.get("/users").status_code == 200
        used = [e for e in access_log(pv) if e["what"] == "portal.login" and e["who"] == "admin"]
        assert [e["result"] for e in used[-3:]] == ["refused", "refused", "ok"]
        assert PASSWORD not in (pv.root / "state" / "access.log").read_text()
    with pv.client() as c2:
        # The same code again (its step was used by the login above): a replay.
        step = totp.current_step()
        last = json.loads((pv.root / "accounts" / "admin.account.json").read_text())["totp_last_step"]
        r = login(c2, pv, "admin", code=totp.code_at(pv.secrets["admin"], last))
        assert r.status_code == 401, (step, last)


def test_lockout_after_n_failures_until_unlocked(pv: PortalVault) -> None:
    with pv.client() as c:
        for _ in range(3):  # max_failures: 3
            assert login(c, pv, "locked", password="wrong password!").status_code == 401
        r = login(c, pv, "locked")  # the right password and code, but the account is locked
        assert r.status_code == 403 and "geblokkeerd" in r.text
        assert c.get("/search").status_code == 303
        account = pv.root / "accounts" / "locked.account.json"
        assert account.stat().st_mode & 0o777 == 0o600
        assert json.loads(account.read_text())["locked_until"] > time.time()
        r2 = cli(pv.config, "portal", "user", "unlock", "locked")
        assert r2.returncode == 0, r2.stderr
        login_ok(c, pv, "locked")
        assert c.get("/search").status_code == 200


def test_a_coach_cannot_see_evidence(pv: PortalVault, clients: dict[str, httpx.Client]) -> None:
    c = as_user(pv, clients, "coach")
    page = c.get("/search")
    assert page.status_code == 200
    assert pv.ids["learning"] in page.text
    # Dutch pages write dates as dd-mm-jjjj.
    assert re.search(r"<td>\d\d-\d\d-20\d\d \d\d:\d\d:\d\d</td>", page.text) and \
        not re.search(r"20\d\d-\d\d-\d\d \d\d:", page.text)
    for hidden in ("evidence", "plain"):
        assert pv.ids[hidden] not in page.text
    assert pv.ids["evidence"] not in c.get("/search", params={"tag": "evidence"}).text
    # A date the form never sends is answered in Dutch too, not with Python's English.
    bad = c.get("/search", params={"from": "31-12-2026"}).text
    assert "Deze datum wordt niet herkend" in bad and "isoformat" not in bad
    r = c.get(f"/recordings/{pv.ids['evidence']}")
    assert r.status_code == 403 and "PV-2026-0042" not in r.text
    token = csrf_of(c.get("/search").text)
    r = c.post(f"/recordings/{pv.ids['evidence']}/open", data={"csrf": token, "purpose": "learning", "case": ""})
    assert r.status_code == 403 and "/viewings/" not in r.headers.get("location", "")
    last = access_log(pv)[-1]
    assert (last["who"], last["what"], last["result"]) == ("coach", "view.refused", "refused")
    assert "learning" in str(last["why"])


def test_a_viewer_cannot_read_the_access_log(pv: PortalVault, clients: dict[str, httpx.Client]) -> None:
    c = as_user(pv, clients, "handler")
    for page in ("/log", "/reconcile", "/users", "/retention"):
        r = c.get(page)
        assert r.status_code == 403, page
        assert "view.opened" not in r.text and "portal.login" not in r.text
    # The refusal in Dutch (the default), the rule's English message in the access log.
    assert "Geen van de rollen van handler (complaint_handler) mag het inzagelog en de bewaartermijnen inzien." \
        in r.text
    last = access_log(pv)[-1]
    assert (last["who"], last["what"], last["details"]) == ("handler", "portal.refused", {"page": "/retention"})
    assert last["why"] == "none of handler's roles (complaint_handler) may audit"
    assert as_user(pv, clients, "privacy").get("/log").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(pv: PortalVault, clients: dict[str, httpx.Client]) -> None:
    c = as_user(pv, clients, "privacy")
    rid = pv.ids["extra5"]
    before = len(access_log(pv))
    for data in ({"case": "K-9", "reason": "test"}, {"csrf": "forged", "case": "K-9", "reason": "test"}):
        r = c.post(f"/recordings/{rid}/hold", data=data)
        assert r.status_code == 403 and "formulier" in r.text
    assert not [e for e in access_log(pv)[before:] if e["what"] == "hold.placed"]
    # The login form too: its token belongs to the pre-login session.
    with pv.client() as anon:
        anon.get("/login")
        r = anon.post("/login", data={"user": "privacy", "password": PASSWORD, "code": pv.code("privacy")})
        assert r.status_code == 403
    # With its token the same form works (so the refusals above were about the token).
    page = c.get(f"/recordings/{rid}")
    r = c.post(f"/recordings/{rid}/hold", data={"csrf": csrf_of(page.text), "case": "K-9", "reason": "test"})
    assert r.status_code == 200 and access_log(pv)[-1]["what"] == "hold.placed"


def test_range_requests_stay_inside_one_recording(pv: PortalVault, clients: dict[str, httpx.Client]) -> None:
    c = as_user(pv, clients, "privacy")
    rid, other = pv.ids["plain"], pv.ids["evidence"]
    plain = pv.plain[rid]
    size = len(plain)
    r = open_view(c, rid, "complaint", "KL-2026-17")
    assert r.status_code == 303
    vid = r.headers["location"]
    # In the access log before a single byte is decrypted.
    opened = access_log(pv)[-1]
    assert (opened["what"], opened["who"], opened["details"]["recording"]) == ("view.opened", "privacy", rid)  # type: ignore[index]
    media = vid + "/media"
    full = c.get(media)
    assert full.status_code == 200 and full.content == plain
    assert full.headers["cache-control"] == "no-store" and full.headers["content-type"] == "video/mp4"
    cases = {f"bytes=0-{size + 100_000}": (0, size - 1), f"bytes={size - 10}-{size + 5}": (size - 10, size - 1),
             "bytes=-100": (size - 100, size - 1), "bytes=65530-70000": (65530, 70000),
             f"bytes=-{size * 3}": (0, size - 1)}
    for header, (a, b) in cases.items():
        r = c.get(media, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["content-range"] == f"bytes {a}-{b}/{size}", header
        assert r.content == plain[a : b + 1], header
    for header in (f"bytes={size}-", f"bytes={size + 1}-{size + 9}", "bytes=abc", "bytes=0-1,5-9", "bytes=9-3"):
        r = c.get(media, headers={"Range": header})
        assert r.status_code == 416 and r.content == b"", header
        assert r.headers["content-range"] == f"bytes */{size}"
    # Another recording is reached only through its own viewing, opened (and logged) for a purpose.
    r2 = open_view(c, other, "police_report", "PV-2026-0042")
    body2 = c.get(r2.headers["location"] + "/media").content
    assert body2 == pv.plain[other]
    assert c.get(media, params={"recording": other}).content == plain
    for path in (f"/viewings/{other}/media", "/viewings/../recordings/x/media", vid.replace("/viewings/", "/viewings/x")
                 + "/media"):
        r = c.get(path, headers={"Range": "bytes=0-"})
        assert r.status_code in (403, 404) and plain[:64] not in r.content and pv.plain[other][:64] not in r.content
    # A viewing belongs to the session that opened it: another user's session gets nothing.
    h = as_user(pv, clients, "handler")
    r = h.get(media, headers={"Range": "bytes=0-"})
    assert r.status_code == 404 and r.content[:64] != plain[:64]


def test_a_session_expires(pv: PortalVault) -> None:
    """A second portal process on the same vault with a 3 s idle timeout."""
    timeout = 3.0
    port = free_port()
    cfg = pv.root / "short-session.yaml"
    text = pv.config.read_text().replace(f"port: {pv.port}", f"port: {port}")
    cfg.write_text(text.replace("session_timeout_s: 600", f"session_timeout_s: {timeout}"))
    short = PortalVault(root=pv.root, config=cfg, port=port, secrets=pv.secrets)
    short.start()
    try:
        with short.client() as c:
            for _attempt in range(5):
                login_ok(c, short, "admin")
                t_ok = time.monotonic()
                r = c.get("/users")
                if r.status_code == 200:
                    break
                # Only a machine too loaded to answer within the timeout lands here: log in again.
                assert time.monotonic() - t_ok > timeout, r.status_code
            assert r.status_code == 200
            last_ok = time.monotonic()
            while time.monotonic() - last_ok <= timeout + 0.5:  # no request meanwhile: a request would renew it
                time.sleep(0.2)
            r = c.get("/users")
            assert r.status_code == 303 and r.headers["location"] == "/login?expired=1"
            assert "verlopen" in c.get(r.headers["location"]).text
            assert c.get("/users").status_code == 303
    finally:
        short.stop()


def test_no_plaintext_left_on_the_servers_disk(pv: PortalVault, clients: dict[str, httpx.Client]) -> None:
    c = as_user(pv, clients, "privacy")
    r = open_view(c, pv.ids["extra5"], "complaint", "KL-9")
    assert c.get(r.headers["location"] + "/media").content == pv.plain[pv.ids["extra5"]]
    assert pv.tmpdir is not None
    assert list(walk_files(pv.tmpdir)) == []
    assert list(walk_files(pv.root / "views")) == []
    shm = Path("/dev/shm/bodydock-vault-test-vault")
    assert list(walk_files(shm)) == []
    # Nowhere under the vault host's folders (catalog, logs, accounts, inbox...) is a piece of footage.
    samples = [p[len(p) // 2 : len(p) // 2 + 48] for p in pv.plain.values()]
    for path in walk_files(pv.root):
        data = path.read_bytes()
        assert not any(s in data for s in samples), path
