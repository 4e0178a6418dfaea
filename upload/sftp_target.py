"""The municipal vault over SFTP: verified, resumable, idempotent delivery.

Per recording, in the layout ``<root>/<station>/<yyyy>/<mm>/<dd>/``:

1. The payload is written to ``<name>.partial`` over ``streams`` parallel SFTP channels (one
   channel is limited to the server's 2 MiB window per round trip), then ``fsync@openssh.com``,
   a size check, optionally a read-back SHA-256, and ``posix-rename@openssh.com`` to the final
   name. A final name therefore always means a complete, verified file.
2. The signed manifest follows the same way, last: a manifest in the vault means its recording
   is complete.

A retry recognises a payload already complete in the vault (not sent again) and resumes a
``.partial`` from the longest prefix that reads back identical to the local file; anything
after it, holes from parallel channels included, is written again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import socket
import threading
from dataclasses import dataclass
from typing import Any, Literal

import paramiko

from config.model import SftpConfig
from station.crashpoints import crash_point
from station.outbox.target import (
    DeliveryItem,
    Pacer,
    VaultAlert,
    VaultError,
    VaultReceipt,
    VaultTarget,
    confirmed_payload_missing,
)
from upload.aead import StallError
from upload.hostkey import HostKeyConfigError, PinnedHostKey
from upload.layout import relative_dir
from upload.sftp import (
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_PERMISSION_DENIED,
    OPEN_CREAT,
    OPEN_READ,
    OPEN_TRUNC,
    OPEN_WRITE,
    Attrs,
    Pending,
    ProtocolError,
    SftpError,
    SftpSession,
)
from upload.ssh import AuthRejected, HostKeyRejected, SshSettings, abort_socket, connect, load_private_key

log = logging.getLogger(__name__)

Confirm = Literal["size", "readback"]
REQUIRED_EXTENSIONS = ("fsync@openssh.com", "posix-rename@openssh.com")
# Below this many requests per stream a second channel costs more than it gains.
MIN_REQUESTS_PER_STREAM = 8
# Before the first channel has told us its limits: what OpenSSH's sftp-server allows (less a header).
ASSUMED_WRITE_LENGTH = 255 * 1024


@dataclass(frozen=True)
class SftpOptions:
    root: str
    confirm: Confirm = "size"
    streams: int = 3
    in_flight: int = 32  # unacknowledged WRITE/READ requests per channel


class _Connection:
    """One SSH connection with its SFTP channels; used by one delivery at a time."""

    def __init__(self, transport: paramiko.Transport, io_timeout: float) -> None:
        self.transport = transport
        self.io_timeout = io_timeout
        self.sessions: list[SftpSession] = []
        self.known_dirs: set[str] = set()
        self._lock = threading.Lock()  # a delivery may open channels in the background

    def session(self, i: int = 0) -> SftpSession:
        self.open_sessions(i + 1)
        return self.sessions[i]

    def open_sessions(self, n: int) -> None:
        """Have ``n`` SFTP channels; missing ones are opened at the same time (each costs round trips)."""
        with self._lock:
            self._open_sessions(n)

    def _open_sessions(self, n: int) -> None:
        missing = n - len(self.sessions)
        if missing <= 0:
            return
        opened: list[SftpSession] = []
        errors: list[BaseException] = []

        def start() -> None:
            try:
                opened.append(SftpSession.start(self.transport, io_timeout=self.io_timeout))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, daemon=True) for _ in range(missing - 1)]
        for t in threads:
            t.start()
        start()
        for t in threads:
            t.join()
        self.sessions += opened
        if errors:
            raise errors[0]
        for session in opened:
            lacking = [e for e in REQUIRED_EXTENSIONS if not session.has(e)]
            if lacking:
                raise VaultError(f"vault SFTP server lacks {', '.join(lacking)}", permanent=True,
                                 alert=VaultAlert.PERMISSION)

    def alive(self) -> bool:
        return self.transport.is_active()

    def close(self) -> None:
        self.transport.close()

    def abort(self) -> None:
        """Give up on a failed connection: requests still queued must never reach the vault later."""
        sock = self.transport.sock
        if isinstance(sock, socket.socket):
            abort_socket(sock)
        self.transport.close()


class _Cursor:
    """Hands out the next byte range to write; shared by the channels of one upload."""

    def __init__(self, start: int, end: int, step: int) -> None:
        self._next, self._end, self._step = start, end, step
        self._lock = threading.Lock()
        self.stopped = False

    def __call__(self) -> tuple[int, int] | None:
        with self._lock:
            if self.stopped or self._next >= self._end:
                return None
            offset = self._next
            n = min(self._step, self._end - offset)
            self._next += n
            return offset, n


class SftpTarget(VaultTarget):
    def __init__(self, ssh: SshSettings, options: SftpOptions, *, max_idle: int = 8) -> None:
        self.ssh, self.options = ssh, options
        self.description = f"sftp://{ssh.user}@{ssh.host}:{ssh.port}{options.root}"
        self._key: paramiko.PKey | None = None
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._lock = threading.Lock()

    # --- connections ---------------------------------------------------------------------
    def _connect(self) -> _Connection:
        if self._key is None:
            try:
                self._key = load_private_key(self.ssh.private_key)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise VaultError(f"cannot load the vault SSH key {self.ssh.private_key}: {exc}",
                                 permanent=True, alert=VaultAlert.AUTH) from exc
        return _Connection(connect(self.ssh, self._key), self.ssh.io_timeout_s)

    def _checkout(self) -> _Connection:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.alive():
                    return conn
                conn.close()
        return self._connect()

    def _checkin(self, conn: _Connection) -> None:
        with self._lock:
            if conn.alive() and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- delivery ------------------------------------------------------------------------
    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        conn: _Connection | None = None
        try:
            conn = self._checkout()
            receipt = _Delivery(conn, item, self.options, pacer).run()
        except VaultError:
            if conn is not None:
                conn.abort()
            raise
        except BaseException as exc:
            if conn is not None:
                conn.abort()
            vault_error = classify(exc, self.description)
            if vault_error is None:
                raise
            raise vault_error from exc
        self._checkin(conn)
        return receipt


def classify(exc: BaseException, where: str) -> VaultError | None:
    """Turn a connection or protocol failure into a VaultError that says who must act."""
    if isinstance(exc, (HostKeyRejected, HostKeyConfigError)):
        return VaultError(f"{where}: {exc}; not trusted, nothing sent", permanent=True, alert=VaultAlert.HOST_KEY)
    if isinstance(exc, AuthRejected):
        return VaultError(f"{where}: {exc}", permanent=True, alert=VaultAlert.AUTH)
    if isinstance(exc, SftpError):
        if exc.code == FX_PERMISSION_DENIED:
            return VaultError(f"{where}: {exc}", permanent=True, alert=VaultAlert.PERMISSION)
        return VaultError(f"{where}: {exc}")
    if isinstance(exc, (OSError, EOFError, paramiko.SSHException, StallError, ProtocolError)):
        return VaultError(f"{where} unreachable: {type(exc).__name__}: {exc}", alert=VaultAlert.UNREACHABLE)
    return None


class _Delivery:
    """One item onto one connection. Requests are pipelined wherever the protocol allows: over a
    WAN every round trip costs as much as sending a couple of megabytes."""

    def __init__(self, conn: _Connection, item: DeliveryItem, options: SftpOptions, pacer: Pacer | None) -> None:
        self.conn, self.item, self.options, self.pacer = conn, item, options, pacer
        # Every channel this upload will use is opened now, all at once: as long as opening one.
        conn.open_sessions(self._streams_for(item.payload_size))
        self.s = conn.session(0)
        self.dir = posixpath.join(options.root, relative_dir(item))
        self.final = posixpath.join(self.dir, item.payload_name)
        self.partial = self.final + ".partial"
        self.manifest = posixpath.join(self.dir, item.manifest_name)
        self._manifest_data = b""

    def _streams_for(self, size: int) -> int:
        write_length = self.conn.sessions[0].write_length if self.conn.sessions else ASSUMED_WRITE_LENGTH
        requests = -(-size // max(1, write_length))
        return max(1, min(self.options.streams, requests // MIN_REQUESTS_PER_STREAM))

    def run(self) -> VaultReceipt:
        item, s = self.item, self.s
        # One round trip: mkdir -p, the three stats, and both .partial files opened (the payload's
        # for reading too, to check what an earlier attempt left in it).
        dirs = self._makedirs_async()
        final, partial, manifest = (s.stat_async(p) for p in (self.final, self.partial, self.manifest))
        manifest_open = s.open_async(self.manifest_partial, OPEN_WRITE | OPEN_CREAT | OPEN_TRUNC)
        payload_open = s.open_async(self.partial, OPEN_READ | OPEN_WRITE | OPEN_CREAT)
        self._check_dirs(dirs)
        final_attrs, partial_attrs, manifest_attrs = final.result(), partial.result(), manifest.result()
        # The manifest is written now, while the payload goes; it only gets its final name last.
        manifest_written = self._write_manifest(manifest_open.result())
        handle = payload_open.result()
        present = self._complete_in_vault(final_attrs)
        if not present and item.payload_confirmed:
            s.close_async(handle, self.partial).result()
            if partial_attrs is None:
                s.remove(self.partial)
            for pending in manifest_written:
                pending.result()
            s.remove(self.manifest_partial)
            found = "it is missing" if final_attrs is None else "it holds something else"
            raise confirmed_payload_missing(item, self.final, found)
        if present:
            closed = s.close_async(handle, self.partial)
            if partial_attrs is None:  # we just created it
                s.remove(self.partial)
            closed.result()
        else:
            self._send_payload(partial_attrs, handle)
        manifest_present = self._finish_manifest(manifest_attrs, manifest_written)
        return VaultReceipt(payload_path=self.final, manifest_path=self.manifest, sha256=item.payload_sha256,
                            size=item.payload_size,
                            already_present=present and manifest_present)

    # --- checks --------------------------------------------------------------------------
    def _makedirs_async(self) -> tuple[list[Pending[None]], Pending[Attrs | None]] | None:
        """mkdir -p in the same round trip as what follows: every level at once (existing ones just
        fail), then a stat that says whether the folder is there."""
        if self.dir in self.conn.known_dirs:
            return None
        root = self.options.root.rstrip("/")
        parts = self.dir[len(root):].strip("/").split("/")
        levels = [root + "/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
        return [self.s.mkdir_async(p) for p in levels], self.s.stat_async(self.dir)

    def _check_dirs(self, pending: tuple[list[Pending[None]], Pending[Attrs | None]] | None) -> None:
        if pending is None:
            return
        made, check = pending
        errors: list[SftpError] = []
        for m in made:
            try:
                m.result()
            except SftpError as exc:
                errors.append(exc)  # most say "exists"; a refusal matters only if the folder is missing
        attrs = check.result()
        if attrs is None or not attrs.is_dir:
            if attrs is not None:
                raise VaultError(f"{self.dir} in the vault is not a directory", permanent=True,
                                 alert=VaultAlert.PERMISSION)
            denied = [e for e in errors if e.code == FX_PERMISSION_DENIED]
            raise (denied or errors or [SftpError(FX_FAILURE, "", "mkdir", self.dir)])[-1]
        self.conn.known_dirs.add(self.dir)

    def _complete_in_vault(self, attrs: Attrs | None) -> bool:
        """Is the final payload there and right? A wrong one is replaced by the upload that follows."""
        if attrs is None:
            return False
        if attrs.size != self.item.payload_size:
            log.warning("%s in the vault has %s bytes, expected %s: sending again",
                        self.final, attrs.size, self.item.payload_size)
            return False
        if self.options.confirm == "readback" and self._remote_sha256(self.final) != self.item.payload_sha256:
            log.warning("%s in the vault does not read back as %s: sending again", self.final, self.item.payload_sha256)
            return False
        return True

    def _remote_sha256(self, path: str) -> str:
        h = hashlib.sha256()

        def update(_offset: int, data: memoryview) -> bool:
            h.update(data)
            return True

        handle = self.s.open(path, OPEN_READ)
        try:
            self.s.read_ranges(handle, 0, self.item.payload_size + 1, update, path=path,
                               in_flight=self.options.in_flight)
        finally:
            self.s.close_handle(handle, path)
        return h.hexdigest()

    def _verified_prefix(self, attrs: Attrs | None, src: io.FileIO, handle: bytes) -> int:
        """Length of the leading part of the .partial that reads back equal to the local file."""
        if attrs is None or not attrs.size:
            return 0
        end = min(attrs.size, self.item.payload_size)
        good = [0]

        def compare(offset: int, data: memoryview) -> bool:
            src.seek(offset)
            if src.read(len(data)) != data:
                return False
            good[0] = offset + len(data)
            return True

        self.s.read_ranges(handle, 0, end, compare, path=self.partial, in_flight=self.options.in_flight)
        return good[0]

    # --- payload -------------------------------------------------------------------------
    def _send_payload(self, partial_attrs: Attrs | None, handle: bytes) -> None:
        """Write the .partial through ``handle`` (this channel's, kept open to the end: the fsync
        and the size check go through it), then give it its final name."""
        item, s, partial = self.item, self.s, self.partial
        size = item.payload_size
        closed = False
        try:
            try:
                src = io.FileIO(item.payload_path, "rb")
            except OSError as exc:
                raise VaultError(f"{item.recording_id}: cannot read the stored copy: {exc}") from exc
            with src:
                start = self._verified_prefix(partial_attrs, src, handle)
            if start:
                log.info("%s: resuming %s at %d of %d bytes", item.recording_id, partial, start, size)
            old_size = (partial_attrs.size or 0) if partial_attrs is not None else 0
            if start == 0 and old_size:
                s.truncate(handle, 0, partial)  # nothing usable in it: start over
            elif old_size > size:
                s.truncate(handle, size, partial)  # an older attempt left more than the file
            if start < size:
                self._write(handle, start, size)
            # fsync covers writes through every channel: they were all acknowledged before this.
            synced, stat, close = s.fsync_async(handle, partial), s.fstat_async(handle, partial), s.close_async(handle)
            closed = True
            synced.result()
            attrs = stat.result()
            close.result()
        finally:
            if not closed:
                s.close_handle(handle, partial)
        if attrs.size != size:
            raise VaultError(f"{partial} has {attrs.size} bytes after upload, expected {size}")
        if self.options.confirm == "readback":
            got = self._remote_sha256(partial)
            if got != item.payload_sha256:
                s.remove(partial)
                raise VaultError(f"{partial} reads back as {got}, expected {item.payload_sha256}; removed")
        crash_point("sftp.before_rename")
        s.posix_rename(partial, self.final)

    def _write(self, handle0: bytes, start: int, size: int) -> None:
        partial = self.partial
        step = self.s.request_size(handle0)
        requests = -(-(size - start) // step)
        streams = max(1, min(len(self.conn.sessions), self.options.streams, requests // MIN_REQUESTS_PER_STREAM))
        cursor = _Cursor(start, size, step)
        errors: list[BaseException] = []

        def lane(i: int) -> None:
            try:
                s = self.conn.session(i)
                handle = handle0 if i == 0 else s.open(partial, OPEN_WRITE)
                try:
                    with io.FileIO(self.item.payload_path, "rb") as src:
                        s.write_ranges(handle, src, cursor, path=partial, pace=self._pace,
                                       in_flight=self.options.in_flight)
                finally:
                    if i and not errors:
                        s.close_handle(handle, partial)
            except BaseException as exc:
                cursor.stopped = True
                errors.append(exc)

        threads = [threading.Thread(target=lane, args=(i,), name=f"sftp-lane-{i}", daemon=True)
                   for i in range(1, streams)]
        for t in threads:
            t.start()
        lane(0)
        for t in threads:
            t.join()
        if errors:
            self._explain_write_failure(errors[0], size - start)
            raise errors[0]

    def _pace(self, nbytes: int) -> None:
        crash_point("sftp.write")
        if self.pacer is not None:
            self.pacer.pace(nbytes)

    def _explain_write_failure(self, exc: BaseException, needed: int) -> None:
        """A plain 'failure' from the server usually means a full disk; say so when it is."""
        if not isinstance(exc, SftpError) or exc.code not in (FX_FAILURE, FX_NO_SUCH_FILE):
            return
        try:
            if not self.s.has("statvfs@openssh.com"):
                return
            free = self.s.statvfs(self.dir).available_bytes
        except Exception:
            return
        if free < needed:
            raise VaultError(f"vault is full: {free} bytes free in {self.dir}, {needed} needed ({exc})",
                             permanent=True, alert=VaultAlert.FULL) from exc

    # --- manifest ------------------------------------------------------------------------
    @property
    def manifest_partial(self) -> str:
        return self.manifest + ".partial"

    def _write_manifest(self, handle: bytes) -> list[Pending[Any]]:
        """Send the manifest's write, fsync, size check and close; the answers are read later."""
        s, partial = self.s, self.manifest_partial
        data = self._manifest_data = self.item.manifest_path.read_bytes()
        if len(data) > s.sender.max_data - 64:
            s.close_handle(handle, partial)
            raise VaultError(f"{self.item.manifest_name} is too large ({len(data)} bytes)")
        return [s.write_async(handle, 0, data, partial), s.fsync_async(handle, partial),
                s.fstat_async(handle, partial), s.close_async(handle, partial)]

    def _finish_manifest(self, attrs: Attrs | None, written: list[Pending[Any]]) -> bool:
        """Give the manifest its final name (last of all); True when the vault already had it."""
        s, partial, data = self.s, self.manifest_partial, self._manifest_data
        results = [p.result() for p in written]
        size = results[2].size
        if attrs is not None and attrs.size == len(data) and self._read_small(self.manifest, len(data)) == data:
            s.remove(partial)
            return True
        if size != len(data):
            raise VaultError(f"{partial} has {size} bytes, expected {len(data)}")
        if self.options.confirm == "readback" and self._read_small(partial, len(data)) != data:
            raise VaultError(f"{partial} does not read back as written")
        crash_point("sftp.manifest_rename")
        s.posix_rename(partial, self.manifest)
        return False

    def _read_small(self, path: str, expected: int) -> bytes | None:
        out = bytearray()

        def collect(_offset: int, data: memoryview) -> bool:
            out.extend(data)
            return True

        handle = self.s.open(path, OPEN_READ)
        try:
            self.s.read_ranges(handle, 0, expected + 1, collect, path=path)
        finally:
            self.s.close_handle(handle, path)
        return bytes(out)


class _Misconfigured(VaultTarget):
    """Stands in when the SFTP settings cannot be used: offloads go on, deliveries raise the alert."""

    def __init__(self, error: VaultError, description: str) -> None:
        self.error, self.description = error, description

    def deliver(self, item: DeliveryItem, pacer: Pacer | None = None) -> VaultReceipt:
        raise self.error


def target_from_config(cfg: SftpConfig) -> VaultTarget:
    description = f"sftp://{cfg.user}@{cfg.host}:{cfg.port}{cfg.root}"
    try:
        pinned = PinnedHostKey.parse(cfg.known_hosts_line, cfg.host, cfg.port)
    except HostKeyConfigError as exc:
        return _Misconfigured(VaultError(f"{description}: vault.sftp.known_hosts_line: {exc}", permanent=True,
                                         alert=VaultAlert.HOST_KEY), description)
    ssh = SshSettings(
        host=cfg.host, port=cfg.port, user=cfg.user, private_key=cfg.private_key, host_key=pinned,
        connect_timeout_s=cfg.connect_timeout_s, io_timeout_s=cfg.io_timeout_s, keepalive_s=cfg.keepalive_s,
    )
    return SftpTarget(ssh, SftpOptions(root=cfg.root.rstrip("/") or "/", confirm=cfg.confirm, streams=cfg.streams))
