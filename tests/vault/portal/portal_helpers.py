"""A vault with real footage (H.264 MP4s made by the simulated camera's ffmpeg recipe), portal
accounts made with the real command line, and a real portal: ``bodydock-vault portal serve``
(uvicorn over TLS with a self-signed certificate) in its own process, with its own TMPDIR."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from device_adapters.simulated.generate import make_camera
from station.crypto.agecrypt import AgeEncryptor
from station.crypto.signed import sign_manifest
from station.timeutil import iso, utcnow
from tests.conftest import ROOT
from tests.vault.vault_helpers import T0, FakeDock, make_vault
from vault.cli import main as vault_main
from vault.portal import totp

PASSWORD = "correct horse battery staple"
LEARNING = {"consent": {"given": True, "method": "written", "note": None}}

PORTAL_YAML = """\
vault:
  id: test-vault
  name: "Gemeente Teststad, Toezicht en Handhaving"
  inbox: inbox
  state_dir: state
  identity_file: keys/vault-identity.txt
  signing_key: keys/vault-signing.key
  view_dir: views
portal:
  host: 127.0.0.1
  port: {port}
  cert_file: keys/portal.crt
  key_file: keys/portal.key
  accounts_dir: accounts
  session_timeout_s: {timeout}
  max_failures: 3
  lockout_s: 3600
  failures_per_minute: 1000
retention:
  uncategorised_days: 28
  learning_days: 365
  export_days: 28
roles:
  privacy_officer:
    description: "Functionaris gegevensbescherming"
    purposes: [complaint, police_report, om_request, subject_request]
    actions: [hold, release, close_case, withdraw, transfer, audit]
  complaint_handler:
    description: "Klachtbehandelaar"
    purposes: [complaint]
    actions: [hold]
  coach:
    description: "Leercoach: alleen beelden om te leren, met toestemming"
    purposes: [learning]
  administrator:
    description: "Beheerder: accounts, geen beelden"
    purposes: []
    actions: [administer]
users:
  - {{name: privacy, full_name: "P. de Vries", roles: [privacy_officer]}}
  - {{name: handler, full_name: "K. Bos", roles: [complaint_handler]}}
  - {{name: coach, full_name: "T. Yilmaz", roles: [coach]}}
  - {{name: admin, full_name: "A. Jansen", roles: [administrator]}}
  - {{name: locked, full_name: "L. Test", roles: [complaint_handler]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bodydock-vault --config CONFIG ARGS`` in its own process, as an administrator runs it."""
    return subprocess.run([sys.executable, "-m", "vault.cli", "--config", str(config), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def cli_inproc(config: Path, *args: str) -> tuple[int, str, str]:
    """The same command line in this process (its entry point ``main``), for the many set-up calls."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = vault_main(["--config", str(config), *args])
    return rc, out.getvalue(), err.getvalue()


def mp4_clips(folder: Path, n: int, *, seconds: float = 2.0) -> list[bytes]:
    """``n`` distinct real MP4 recordings from the simulated camera (320x240 H.264 + AAC)."""
    spec = make_camera(folder, "CAM-PORTAL", recordings=n, seconds=seconds)
    return [(spec.path / key).read_bytes() for key in spec.keys]


def deliver_media(dock: FakeDock, n: int, plain: bytes, *, tag: str = "uncategorised", tag_details: Any = None,
                  wearer: str = "BOA-1042", seconds: float = 2.0) -> str:
    """As ``FakeDock.deliver``, but with the given footage bytes; returns the recording id."""
    started = T0 + timedelta(minutes=n)
    rec_id = f"CAM-{dock.station}-{n:04d}"
    folder = dock.folder(started)
    chunks: list[bytes] = []
    enc = AgeEncryptor([dock.recipient], lambda b: chunks.append(bytes(b)))
    enc.update(plain)
    enc.finish()
    cipher = b"".join(chunks)
    (folder / f"{rec_id}.mp4.age").write_bytes(cipher)
    body: dict[str, Any] = {
        "recording_id": rec_id, "station": dock.station, "slot": 1,
        "camera": {"serial": "CAM-PORTAL", "model": "SimCam BWC-1", "firmware": "1.4.2", "vendor": "Simulated",
                   "clock_offset_s": 0.0},
        "wearer_id": wearer, "source_name": f"REC_{n:04d}.MP4", "started_at": iso(started),
        "ended_at": iso(started + timedelta(seconds=seconds)), "size": len(plain),
        "sha256": hashlib.sha256(plain).hexdigest(),
        "payload": {"encoding": "age-v1", "file": f"{rec_id}.mp4.age", "recipients": [dock.recipient],
                    "size": len(cipher), "sha256": hashlib.sha256(cipher).hexdigest()},
        "probe": {"duration_s": seconds, "container": "mp4"}, "media_ok": True,
        "tag": tag, "tag_details": tag_details, "tag_revision": 0 if tag == "uncategorised" else 1,
        "verification": ["reread"], "custody": [{"event": "offloaded", "at": iso(utcnow()), "by": dock.station}],
    }
    (folder / f"{rec_id}.manifest.json").write_bytes(sign_manifest(body, dock.key))
    dock.audit.append(who="system", what="recording.offloaded", why="camera docked", device="CAM-PORTAL",
                      result="verified", details={"recording": rec_id, "size": len(plain)})
    return rec_id


@dataclass
class PortalVault:
    root: Path
    config: Path
    port: int
    plain: dict[str, bytes] = field(default_factory=dict)  # recording id -> footage
    ids: dict[str, str] = field(default_factory=dict)  # role in the tests -> recording id
    secrets: dict[str, str] = field(default_factory=dict)  # user -> TOTP secret
    proc: subprocess.Popen[bytes] | None = None
    tmpdir: Path | None = None

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> Path:
        return self.root / "keys" / "portal.crt"

    def code(self, user: str, *, step_offset: int = 0) -> str:
        return totp.code_at(self.secrets[user], totp.current_step() + step_offset)

    def client(self) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.base, verify=ctx, follow_redirects=False, timeout=60)

    def start(self) -> None:
        self.tmpdir = self.root / "server-tmp"
        self.tmpdir.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(self.tmpdir)}
        self.proc = subprocess.Popen([sys.executable, "-m", "vault.cli", "--config", str(self.config), "portal",
                                      "serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a loaded machine imports slowly; the process must stay alive
        ctx = ssl.create_default_context(cafile=str(self.cert))
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise AssertionError(f"portal exited with {self.proc.returncode}: {out}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw, \
                        ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_portal_vault(root: Path, clips: list[bytes], *, timeout_s: float = 600, seconds: float = 2.0) -> PortalVault:
    """Recordings: ``plain`` (uncategorised), ``evidence`` (case PV-2026-0042), ``learning`` (consent
    given), ``learning2`` (to withdraw), then one more uncategorised per remaining clip."""
    env = make_vault(root)
    port = free_port()
    env.config_path.write_text(PORTAL_YAML.format(port=port, timeout=timeout_s))
    cat = env.catalog()
    dock = FakeDock(root / "dock", "dock-stadhuis", env.inbox, env.recipient)
    dock.register(cat)
    pv = PortalVault(root=root, config=env.config_path, port=port)
    kinds = [("plain", "uncategorised", None), ("evidence", "evidence", {"case_number": "PV-2026-0042"}),
             ("learning", "learning", LEARNING), ("learning2", "learning", LEARNING)]
    for n, clip in enumerate(clips, start=1):
        name, tag, details = kinds[n - 1] if n <= len(kinds) else (f"extra{n}", "uncategorised", None)
        rid = deliver_media(dock, n, clip, tag=tag, tag_details=details, seconds=seconds)
        pv.ids[name] = rid
        pv.plain[rid] = clip
    dock.cut_segment()
    summary = env.intake(cat).run_once()
    assert summary.accepted == len(clips) and not summary.quarantined, summary
    cat.close()
    rc, _, err = cli_inproc(env.config_path, "portal", "selfsigned-cert")
    assert rc == 0, err
    pw = root / "keys" / "portal-password"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (PASSWORD + "\n").encode())
    os.close(fd)
    for user in ("privacy", "handler", "coach", "admin", "locked"):
        rc, _, err = cli_inproc(env.config_path, "portal", "user", "add", user, "--password-file", str(pw))
        assert rc == 0, err
        rc, out, err = cli_inproc(env.config_path, "portal", "user", "enroll-totp", user)
        assert rc == 0, err
        uri = out.strip()
        assert uri.startswith("otpauth://totp/")
        pv.secrets[user] = parse_qs(urlparse(uri).query)["secret"][0]
    return pv


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m[1]


def login(c: httpx.Client, pv: PortalVault, user: str, *, code: str | None = None,
          password: str = PASSWORD) -> httpx.Response:
    page = c.get("/login")
    assert page.status_code == 200
    return c.post("/login", data={"csrf": csrf_of(page.text), "user": user, "password": password,
                                  "code": code if code is not None else pv.code(user)})


def login_ok(c: httpx.Client, pv: PortalVault, user: str) -> None:
    # A code is good once: a second login of one user in the same 30 s step takes the next
    # step's code (one step of drift is allowed); a third waits for the next step.
    for offset in (0, 1, 0, 1):
        r = login(c, pv, user, code=pv.code(user, step_offset=offset))
        if r.status_code == 303:
            assert r.headers["location"] == "/search"
            return
        if offset == 1:
            step = totp.current_step()
            while totp.current_step() == step:
                time.sleep(0.2)
    raise AssertionError(f"login of {user} failed: {r.status_code} {r.text[:300]}")


def walk_files(folder: Path) -> Iterator[Path]:
    if folder.exists():
        yield from (p for p in folder.rglob("*") if p.is_file())
