"""A small SFTP (version 3) client over a paramiko channel, pipelined in both directions.

Paramiko's SFTPClient sends at most ~100 writes before it stops to collect acknowledgements and
cannot send the OpenSSH extensions we rely on (``fsync@openssh.com``, ``limits@openssh.com``),
so the protocol is spoken here directly. Writes are built packet by packet on the bulk path of
:mod:`upload.aead`: the file's bytes are read straight into the SSH packet that carries them.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import paramiko

from upload.aead import ChannelSender, StallError

# Packet types (draft-ietf-secsh-filexfer-02).
INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
REMOVE, MKDIR, STAT, RENAME = 13, 14, 17, 18
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201

OPEN_READ, OPEN_WRITE, OPEN_CREAT, OPEN_TRUNC = 0x01, 0x02, 0x08, 0x10
ATTR_SIZE, ATTR_UIDGID, ATTR_PERMISSIONS, ATTR_ACMODTIME, ATTR_EXTENDED = 0x1, 0x2, 0x4, 0x8, 0x80000000

FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
FX_NAMES = {0: "ok", 1: "end of file", 2: "no such file", 3: "permission denied", 4: "failure",
            5: "bad message", 6: "no connection", 7: "connection lost", 8: "operation unsupported"}

S_IFMT, S_IFDIR = 0o170000, 0o040000
DEFAULT_CHUNK = 32768  # without limits@openssh.com, the size every server accepts
MAX_MESSAGE = 256 * 1024  # OpenSSH's SFTP_MAX_MSG_LENGTH

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class SftpError(Exception):
    """The server answered a request with an error status."""

    def __init__(self, code: int, message: str, op: str, path: str = "") -> None:
        self.code, self.server_message, self.op, self.path = code, message, op, path
        reason = FX_NAMES.get(code, f"status {code}")
        super().__init__(f"{op} {path}: {reason}" + (f" ({message})" if message and message.lower() != reason else ""))


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Attrs:
    size: int | None
    permissions: int | None

    @property
    def is_dir(self) -> bool:
        return self.permissions is not None and (self.permissions & S_IFMT) == S_IFDIR


@dataclass(frozen=True)
class StatVfs:
    block_size: int
    fragment_size: int
    blocks: int
    free: int
    available: int

    @property
    def available_bytes(self) -> int:
        return self.available * (self.fragment_size or self.block_size)


def _string(b: bytes) -> bytes:
    return _U32.pack(len(b)) + b


class _Reader:
    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def u32(self) -> int:
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def u64(self) -> int:
        (v,) = _U64.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(v)

    def string(self) -> bytes:
        n = self.u32()
        v = bytes(self.data[self.pos:self.pos + n])
        if len(v) != n:
            raise ProtocolError("truncated string")
        self.pos += n
        return v

    def view(self) -> memoryview:
        n = self.u32()
        v = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return v

    def attrs(self) -> Attrs:
        flags = self.u32()
        size = self.u64() if flags & ATTR_SIZE else None
        if flags & ATTR_UIDGID:
            self.pos += 8
        perm = self.u32() if flags & ATTR_PERMISSIONS else None
        if flags & ATTR_ACMODTIME:
            self.pos += 8
        if flags & ATTR_EXTENDED:
            for _ in range(self.u32()):
                self.string()
                self.string()
        return Attrs(size, perm)


class Source(Protocol):
    """What the writer reads from: a file opened unbuffered, or bytes in memory."""

    def seek(self, pos: int, whence: int = 0, /) -> int: ...

    def readinto(self, view: memoryview, /) -> int | None: ...


Pace = Callable[[int], None]
NextRange = Callable[[], tuple[int, int] | None]
Sink = Callable[[int, memoryview], bool]


T = TypeVar("T")


class Pending(Generic[T]):
    """A request on the wire; ``result()`` waits for its answer (once)."""

    def __init__(self, session: SftpSession, rid: int, op: str, path: str,
                 parse: Callable[[int, _Reader], T]) -> None:
        self.session, self.rid, self.op, self.path, self.parse = session, rid, op, path, parse

    def result(self) -> T:
        kind, r = self.session._response(self.rid)
        if kind == STATUS:
            code = r.u32()
            if code != FX_OK:
                if code == FX_NO_SUCH_FILE and self.parse is _attrs_or_none:
                    return None  # type: ignore[return-value]
                raise SftpError(code, r.string().decode("utf-8", "replace"), self.op, self.path)
        return self.parse(kind, r)


def _ok(kind: int, r: _Reader) -> None:
    if kind != STATUS:
        raise ProtocolError(f"unexpected reply type {kind}")


def _handle(kind: int, r: _Reader) -> bytes:
    if kind != HANDLE:
        raise ProtocolError(f"expected a handle, got reply type {kind}")
    return r.string()


def _attrs(kind: int, r: _Reader) -> Attrs:
    if kind != ATTRS:
        raise ProtocolError(f"expected attributes, got reply type {kind}")
    return r.attrs()


def _attrs_or_none(kind: int, r: _Reader) -> Attrs | None:
    return _attrs(kind, r)


class SftpSession:
    """One SFTP subsystem on its own channel; used by one thread at a time."""

    def __init__(self, chan: paramiko.Channel, *, io_timeout: float = 60.0) -> None:
        self.chan = chan
        self.io_timeout = io_timeout
        chan.settimeout(io_timeout)
        self._rbuf = bytearray()
        self._next_id = 1
        self._stash: dict[int, tuple[int, _Reader]] = {}
        self.sender = ChannelSender(chan, io_timeout=io_timeout)
        self.extensions: dict[str, bytes] = {}
        self.write_length = DEFAULT_CHUNK
        self.read_length = DEFAULT_CHUNK

    @classmethod
    def start(cls, transport: paramiko.Transport, *, io_timeout: float = 60.0) -> SftpSession:
        chan = transport.open_session()
        try:
            chan.invoke_subsystem("sftp")
            session = cls(chan, io_timeout=io_timeout)
            session._init()
        except BaseException:
            chan.close()
            raise
        return session

    def close(self) -> None:
        self.chan.close()

    # --- framing -------------------------------------------------------------------------
    def _send(self, kind: int, body: bytes) -> int:
        rid = self._next_id
        self._next_id = (rid + 1) & 0xFFFFFFFF
        self.sender.flush()
        self.chan.sendall(_U32.pack(len(body) + 5) + bytes((kind,)) + _U32.pack(rid) + body)
        return rid

    def _recv_packet(self) -> tuple[int, _Reader]:
        buf = self._rbuf
        while True:
            if len(buf) >= 4:
                (n,) = _U32.unpack_from(buf)
                if n > MAX_MESSAGE + 1024:
                    raise ProtocolError(f"server sent a {n}-byte message")
                if len(buf) >= 4 + n:
                    packet = bytes(buf[4:4 + n])
                    del buf[:4 + n]
                    return packet[0], _Reader(packet, 1)
            try:
                chunk = self.chan.recv(1 << 18)
            except TimeoutError:
                raise StallError(f"no answer from the vault for {self.io_timeout:.0f}s") from None
            if not chunk:
                raise EOFError("vault closed the SFTP channel")
            buf += chunk

    def _response(self, rid: int) -> tuple[int, _Reader]:
        if rid in self._stash:
            return self._stash.pop(rid)
        while True:
            kind, r = self._recv_packet()
            got = r.u32()
            if got == rid:
                return kind, r
            self._stash[got] = (kind, r)

    def _call(self, kind: int, body: bytes, op: str, path: str = "") -> tuple[int, _Reader]:
        rkind, r = self._response(self._send(kind, body))
        if rkind == STATUS:
            code = r.u32()
            if code != FX_OK:
                raise SftpError(code, r.string().decode("utf-8", "replace"), op, path)
        return rkind, r

    def _status(self, kind: int, body: bytes, op: str, path: str = "") -> None:
        rkind, _ = self._call(kind, body, op, path)
        if rkind != STATUS:
            raise ProtocolError(f"{op}: unexpected reply type {rkind}")

    def _init(self) -> None:
        self.sender.flush()
        # The limits request goes out with INIT instead of after VERSION: one round trip less.
        # A server without the extension answers it with "unsupported", which is ignored.
        self.chan.sendall(_U32.pack(5) + bytes((INIT,)) + _U32.pack(3))
        limits = self._send(EXTENDED, _string(b"limits@openssh.com"))
        kind, r = self._recv_packet()
        if kind != VERSION:
            raise ProtocolError(f"expected VERSION, got {kind}")
        version = r.u32()
        if version < 3:
            raise ProtocolError(f"server speaks SFTP version {version}")
        while r.pos < len(r.data):
            name = r.string().decode("ascii", "replace")
            self.extensions[name] = r.string()
        kind, r = self._response(limits)
        if kind != EXTENDED_REPLY or "limits@openssh.com" not in self.extensions:
            return
        r.u64()  # max packet length
        read_len, write_len = r.u64(), r.u64()
        if read_len:
            self.read_length = min(read_len, MAX_MESSAGE - 1024)
        if write_len:
            self.write_length = min(write_len, MAX_MESSAGE - 1024)

    def has(self, extension: str) -> bool:
        return extension in self.extensions

    # --- operations ----------------------------------------------------------------------
    # Each request is sent at once and answered by ``Pending.result()``: callers send several
    # before collecting any, so a sequence of requests costs one round trip, not one each. The
    # server executes requests in the order sent.
    def _pending(self, kind: int, body: bytes, op: str, path: str, parse: Callable[[int, _Reader], T]) -> Pending[T]:
        return Pending(self, self._send(kind, body), op, path, parse)

    def stat_async(self, path: str) -> Pending[Attrs | None]:
        return self._pending(STAT, _string(path.encode()), "stat", path, _attrs_or_none)

    def mkdir_async(self, path: str, mode: int = 0o750) -> Pending[None]:
        body = _string(path.encode()) + _U32.pack(ATTR_PERMISSIONS) + _U32.pack(mode)
        return self._pending(MKDIR, body, "mkdir", path, _ok)

    def open_async(self, path: str, flags: int, mode: int = 0o640) -> Pending[bytes]:
        body = _string(path.encode()) + _U32.pack(flags) + _U32.pack(ATTR_PERMISSIONS) + _U32.pack(mode)
        return self._pending(OPEN, body, "open", path, _handle)

    def close_async(self, handle: bytes, path: str = "") -> Pending[None]:
        return self._pending(CLOSE, _string(handle), "close", path, _ok)

    def fstat_async(self, handle: bytes, path: str = "") -> Pending[Attrs]:
        return self._pending(FSTAT, _string(handle), "fstat", path, _attrs)

    def fsync_async(self, handle: bytes, path: str = "") -> Pending[None]:
        return self._pending(EXTENDED, _string(b"fsync@openssh.com") + _string(handle), "fsync", path, _ok)

    def write_async(self, handle: bytes, offset: int, data: bytes, path: str = "") -> Pending[None]:
        """One WRITE of a small buffer (up to one SSH packet); bulk data goes through write_ranges."""
        return self._pending(WRITE, _string(handle) + _U64.pack(offset) + _string(data), "write", path, _ok)

    def stat(self, path: str) -> Attrs | None:
        """Attributes of ``path``, or None when it does not exist."""
        return self.stat_async(path).result()

    def mkdir(self, path: str, mode: int = 0o750) -> None:
        self.mkdir_async(path, mode).result()

    def open(self, path: str, flags: int, mode: int = 0o640) -> bytes:
        return self.open_async(path, flags, mode).result()

    def close_handle(self, handle: bytes, path: str = "") -> None:
        self.close_async(handle, path).result()

    def fstat(self, handle: bytes, path: str = "") -> Attrs:
        return self.fstat_async(handle, path).result()

    def truncate(self, handle: bytes, size: int, path: str = "") -> None:
        self._status(FSETSTAT, _string(handle) + _U32.pack(ATTR_SIZE) + _U64.pack(size), "truncate", path)

    def fsync(self, handle: bytes, path: str = "") -> None:
        self.fsync_async(handle, path).result()

    def posix_rename(self, old: str, new: str) -> None:
        self.rename_async(old, new).result()

    def remove_async(self, path: str) -> Pending[None]:
        return self._pending(REMOVE, _string(path.encode()), "remove", path, _ok)

    def rename_async(self, old: str, new: str) -> Pending[None]:
        body = _string(b"posix-rename@openssh.com") + _string(old.encode()) + _string(new.encode())
        return self._pending(EXTENDED, body, "rename", f"{old} -> {new}", _ok)

    def remove(self, path: str) -> None:
        self.remove_async(path).result()

    def statvfs(self, path: str) -> StatVfs:
        kind, r = self._call(EXTENDED, _string(b"statvfs@openssh.com") + _string(path.encode()), "statvfs", path)
        if kind != EXTENDED_REPLY:
            raise ProtocolError(f"statvfs: unexpected reply type {kind}")
        bsize, frsize, blocks, bfree, bavail = (r.u64() for _ in range(5))
        return StatVfs(bsize, frsize, blocks, bfree, bavail)

    # --- bulk ----------------------------------------------------------------------------
    def request_size(self, handle: bytes) -> int:
        """Data per WRITE: whole SSH packets, so a request never shares a packet with the next."""
        header = 4 + 1 + 4 + 4 + len(handle) + 8 + 4
        per_packet = self.sender.max_data
        packets = max(1, (self.write_length + header) // per_packet)
        return max(1, min(packets * per_packet, MAX_MESSAGE - 1024) - header)

    def write_ranges(self, handle: bytes, src: Source, next_range: NextRange, *, path: str = "",
                     pace: Pace | None = None, in_flight: int = 32) -> int:
        """Write every (offset, length) ``next_range`` hands out, with up to ``in_flight`` requests
        unacknowledged; return the bytes written. ``src`` is read at the same offsets."""
        sender = self.sender
        per_packet = sender.max_data
        pending: collections.deque[tuple[int, int, int]] = collections.deque()
        written = 0
        prefix = _string(handle)
        exhausted = False

        def fill(view: memoryview) -> None:
            if src.readinto(view) != len(view):
                raise EOFError(f"local file shrank while uploading {path}")

        while True:
            if not exhausted and len(pending) < in_flight:
                rng = next_range()
                if rng is None:
                    exhausted = True
                    continue
                offset, length = rng
                if pace is not None:
                    pace(length)
                rid = self._next_id
                self._next_id = (rid + 1) & 0xFFFFFFFF
                total = 4 + 1 + 4 + len(prefix) + 8 + 4 + length
                header = _U32.pack(total - 4) + bytes((WRITE,)) + _U32.pack(rid) + prefix + _U64.pack(offset)
                header += _U32.pack(length)
                src.seek(offset)
                first = min(per_packet - len(header), length)
                sender.packet(header, fill, first)
                left = length - first
                while left:
                    n = min(per_packet, left)
                    sender.packet(b"", fill, n)
                    left -= n
                pending.append((rid, offset, length))
                continue
            if not pending:
                return written
            sender.flush()
            rid, offset, length = pending.popleft()
            kind, r = self._response(rid)
            if kind != STATUS:
                raise ProtocolError(f"write: unexpected reply type {kind}")
            code = r.u32()
            if code != FX_OK:
                raise SftpError(code, r.string().decode("utf-8", "replace"), f"write at {offset}", path)
            written += length

    def read_ranges(self, handle: bytes, start: int, end: int, sink: Sink, *, path: str = "",
                    in_flight: int = 32) -> int:
        """Read [start, end) in order, passing each piece to ``sink(offset, data)``; stop early when
        it returns False or at end of file. Return the offset reached."""
        chunk = self.read_length
        pending: collections.deque[tuple[int, int, int]] = collections.deque()
        prefix = _string(handle)
        next_off = start
        reached = start
        while True:
            while next_off < end and len(pending) < in_flight:
                n = min(chunk, end - next_off)
                rid = self._send(READ, prefix + _U64.pack(next_off) + _U32.pack(n))
                pending.append((rid, next_off, n))
                next_off += n
            if not pending:
                return reached
            rid, offset, n = pending.popleft()
            kind, r = self._response(rid)
            if kind == STATUS:
                code = r.u32()
                if code == FX_EOF:
                    return self._drain(pending, reached)
                raise SftpError(code, r.string().decode("utf-8", "replace"), f"read at {offset}", path)
            if kind != DATA:
                raise ProtocolError(f"read: unexpected reply type {kind}")
            data = r.view()
            if not data:
                return self._drain(pending, reached)
            reached = offset + len(data)
            if not sink(offset, data):
                return self._drain(pending, reached)
            if len(data) < n:
                # A short read before EOF: ask for the rest before anything later.
                rest = (self._send(READ, prefix + _U64.pack(reached) + _U32.pack(n - len(data))),
                        reached, n - len(data))
                pending.appendleft(rest)

    def _drain(self, pending: collections.deque[tuple[int, int, int]], result: int) -> int:
        """Collect answers we will not use, so the session stays in step for the next call."""
        for rid, _, _ in pending:
            self._response(rid)
        pending.clear()
        return result
