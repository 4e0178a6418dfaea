"""The daemon's local control channel: a Unix socket ``<state_dir>/control.sock``, JSON lines.

For staff tools on the dock itself (``bodydock checkout``, ``checkin``, ``slots``): the CLI asks
the running daemon instead of opening the journal behind its back. One request per line, one
answer per line::

    -> {"op": "checkout", "args": {"auth": {"personnel_number": "100234", "pin": "1234"}}}
    <- {"ok": true, "result": {"slot_id": 1, "camera_serial": "BWC-0001", ...}}
    <- {"ok": false, "code": "refused", "error": "no camera is ready; ask staff"}

The socket is mode 0660 and group-owned like the state dir: who may use it is decided by file
permissions (the ``bodydock`` group); every request that acts still authenticates an officer or
staff member (badge UID, or personnel number + PIN) and is audited with the caller's uid. PINs
pass through here in memory only. The kiosk API (next issue) may replace this or sit beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from station.shift import (
    AuthFailed,
    Consent,
    ConsentMethod,
    Identity,
    LockedOutError,
    NotAllowed,
    NotFound,
    ShiftError,
    ShiftService,
    Tag,
    TagError,
    TagRequest,
)
from station.shift.service import CheckoutRefusedError

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_LINE = 64 * 1024
_MAX_PATH = 107  # sun_path without its terminating NUL


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


class ControlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DaemonNotRunning(ControlError):
    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """A path short enough for sun_path: through /proc/self/fd/<dir> when the real one is too long."""
    if len(os.fsencode(path)) <= _MAX_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("is_open", "is_staff"):
            if hasattr(type(value), name):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- server --------------------------------------------------------------------------------------


class ControlServer:
    def __init__(self, path: Path, shift: ShiftService, *, max_clients: int = 8, idle_timeout_s: float = 120) -> None:
        self.path, self.shift = path, shift
        self._max_clients, self._idle = max_clients, idle_timeout_s
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._clients = threading.BoundedSemaphore(max_clients)
        self._ops: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
            "ping": self._ping, "slots": self._slots, "clock": self._clock, "checkout": self._checkout,
            "cancel_checkout": self._cancel_checkout, "checkins": self._checkins, "checkin": self._checkin,
            "tag": self._tag, "finish_checkin": self._finish,
        }

    def start(self) -> None:
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _short_path(self.path) as name:
            sock.bind(name)
        os.chmod(self.path, 0o660)
        with contextlib.suppress(OSError):  # group of the state dir, e.g. "bodydock"; needs privileges
            os.chown(self.path, -1, self.path.parent.stat().st_gid)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="control", daemon=True)
        self._thread.start()
        log.info("control socket %s listening", self.path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _remove_stale(self) -> None:
        if not self.path.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _short_path(self.path) as name:
                probe.connect(name)
        except OSError:
            self.path.unlink()  # left by a daemon that died
            return
        finally:
            probe.close()
        raise RuntimeError(f"another daemon is listening on {self.path}")

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stop.is_set():
                    log.exception("control socket accept failed")
                return
            if not self._clients.acquire(blocking=False):
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"ok": False, "code": "busy", "error": "too many clients"}).encode()
                                 + b"\n")
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="control-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                 struct.calcsize("3i")))
            via = f"control socket (uid {uid}, pid {pid})"
            conn.settimeout(self._idle)
            buf = b""
            while not self._stop.is_set():
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    conn.sendall(json.dumps(self.handle(line, via)).encode() + b"\n")
                if len(buf) > MAX_LINE:
                    conn.sendall(json.dumps({"ok": False, "code": "invalid", "error": "request too long"}).encode()
                                 + b"\n")
                    return
        except (OSError, TimeoutError):
            pass
        finally:
            conn.close()
            self._clients.release()

    def handle(self, line: bytes, via: str) -> dict[str, Any]:
        try:
            req = json.loads(line)
            op, args = req["op"], req.get("args") or {}
            if not isinstance(args, dict) or op not in self._ops:
                raise KeyError(op)
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "code": "invalid", "error": "not a known request"}
        try:
            return {"ok": True, "result": _jsonable(self._ops[op](args, via))}
        except LockedOutError as exc:
            return {"ok": False, "code": "locked", "error": str(exc)}
        except AuthFailed as exc:
            return {"ok": False, "code": "auth", "error": str(exc)}
        except CheckoutRefusedError as exc:
            return {"ok": False, "code": "refused", "error": str(exc)}
        except NotAllowed as exc:
            return {"ok": False, "code": "not_allowed", "error": str(exc)}
        except NotFound as exc:
            return {"ok": False, "code": "not_found", "error": str(exc)}
        except (TagError, ShiftError, ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "code": "invalid", "error": str(exc)}
        except Exception as exc:
            log.exception("control request %s failed", op)
            return {"ok": False, "code": "internal", "error": f"{type(exc).__name__}: {exc}"}

    # --- operations ------------------------------------------------------------------------------
    def _auth(self, args: Mapping[str, Any], via: str) -> Identity:
        auth = args.get("auth")
        if not isinstance(auth, dict):
            raise AuthFailed("give a badge UID, or a personnel number and PIN")
        if "badge_uid" in auth:
            return self.shift.authenticate_badge(str(auth["badge_uid"]), via=via)
        return self.shift.authenticate_pin(str(auth.get("personnel_number", "")), str(auth.get("pin", "")), via=via)

    def _ping(self, args: Mapping[str, Any], via: str) -> Any:
        return {"station": self.shift.station.settings.station_id}

    def _slots(self, args: Mapping[str, Any], via: str) -> Any:
        return self.shift.slots()

    def _clock(self, args: Mapping[str, Any], via: str) -> Any:
        return self.shift.clock_status()

    def _checkout(self, args: Mapping[str, Any], via: str) -> Any:
        who = self._auth(args, via)
        target = args.get("for")
        return self.shift.checkout(who, for_officer=str(target) if target else None)

    def _cancel_checkout(self, args: Mapping[str, Any], via: str) -> Any:
        self.shift.cancel_checkout(int(args["slot"]), self._auth(args, via), str(args.get("reason") or "by staff"))
        return None

    def _checkins(self, args: Mapping[str, Any], via: str) -> Any:
        return self.shift.open_checkins()

    def _checkin(self, args: Mapping[str, Any], via: str) -> Any:
        return self.shift.checkin(
            checkin_id=int(args["checkin_id"]) if "checkin_id" in args else None,
            slot_id=int(args["slot"]) if "slot" in args else None,
            camera_serial=str(args["camera"]) if "camera" in args else None,
        )

    def _tag(self, args: Mapping[str, Any], via: str) -> Any:
        consent = None
        if args.get("consent") is not None:
            c = args["consent"]
            consent = Consent(bool(c["given"]), ConsentMethod(c["method"]), c.get("note"))
        request = TagRequest(Tag(args["tag"]), case_number=args.get("case_number"), consent=consent)
        self.shift.tag(str(args["recording"]), request, self._auth(args, via), reason=args.get("reason"))
        return None

    def _finish(self, args: Mapping[str, Any], via: str) -> Any:
        self.shift.finish_checkin(int(args["checkin_id"]), self._auth(args, via))
        return None


# --- client ----------------------------------------------------------------------------------------


class ControlClient:
    def __init__(self, path: Path, timeout_s: float = 120) -> None:
        self.path, self.timeout_s = path, timeout_s

    def call(self, op: str, **args: Any) -> Any:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            try:
                with _short_path(self.path) as name:
                    sock.connect(name)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise DaemonNotRunning(f"the bodydock daemon is not running ({self.path}: {exc.strerror})") from None
            except PermissionError:
                raise ControlError("permission", f"no permission to use {self.path} (group bodydock?)") from None
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError("unavailable", "the daemon closed the connection")
                buf += chunk
        finally:
            sock.close()
        answer = json.loads(buf.split(b"\n", 1)[0])
        if not answer.get("ok"):
            raise ControlError(str(answer.get("code")), str(answer.get("error")))
        return answer.get("result")
