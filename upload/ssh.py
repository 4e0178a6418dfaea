"""Open an SSH connection to the vault: pinned host key, AES-GCM first, key auth, timeouts.

The host key is checked right after key exchange and before we authenticate, so a server we do
not trust never even sees which key we hold.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import paramiko

from upload.aead import AeadPacketizer
from upload.hostkey import PinnedHostKey, fingerprint

log = logging.getLogger(__name__)

# GCM first: the bulk path needs it, and it is OpenSSH's fastest cipher on AES-NI hardware.
# Paramiko lists CTR first unless told otherwise. No CBC, no 3DES.
PREFERRED_CIPHERS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


class HostKeyRejected(Exception):
    """The server's host key is not the pinned one (or it offers no key of the pinned type)."""


class AuthRejected(Exception):
    pass


@dataclass(frozen=True)
class SshSettings:
    host: str
    port: int
    user: str
    private_key: Path
    host_key: PinnedHostKey
    connect_timeout_s: float = 15.0
    io_timeout_s: float = 60.0
    keepalive_s: float = 15.0
    window_bytes: int = 8 * 1024 * 1024  # our receive window: read-back throughput over long RTT


def abort_socket(sock: socket.socket) -> None:
    """Reset a connection instead of closing it: the kernel drops what it has not yet sent.

    A plain close keeps sending the queued bytes after we gave up; across a network outage they
    can reach the vault seconds later, after a retry on a new connection has finished the file,
    and re-create a ``.partial`` there (seen as a ``.partial`` left behind on a busy machine).
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def load_private_key(path: Path) -> paramiko.PKey:
    return paramiko.PKey.from_path(path)


def connect(settings: SshSettings, key: paramiko.PKey) -> paramiko.Transport:
    """A connected, host-verified, authenticated transport (caller closes it)."""
    sock = socket.create_connection((settings.host, settings.port), timeout=settings.connect_timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    t = paramiko.Transport(
        sock,
        default_window_size=settings.window_bytes,
        packetizer_class=AeadPacketizer,
    )
    try:
        t.banner_timeout = t.handshake_timeout = settings.connect_timeout_s
        t.auth_timeout = settings.connect_timeout_s
        t.channel_timeout = settings.connect_timeout_s  # opening a channel
        opts = t.get_security_options()
        opts.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in opts.ciphers)
        opts.key_types = tuple(a for a in settings.host_key.algorithms if a in opts.key_types) or opts.key_types
        try:
            t.start_client(timeout=settings.connect_timeout_s)
        except paramiko.SSHException as exc:
            if "host key" in str(exc).lower():
                raise HostKeyRejected(
                    f"vault offers no {settings.host_key.key_type} host key (pinned {settings.host_key.fingerprint})"
                ) from exc
            raise
        presented = t.get_remote_server_key()
        if not settings.host_key.matches(presented):
            raise HostKeyRejected(
                f"vault host key {fingerprint(presented)} is not the pinned {settings.host_key.fingerprint}"
            )
        try:
            t.auth_publickey(settings.user, key)
        except paramiko.AuthenticationException as exc:
            raise AuthRejected(f"vault refused key authentication for {settings.user!r}: {exc}") from exc
        if not t.is_authenticated():
            raise AuthRejected(f"vault wants more than key authentication for {settings.user!r}")
        if settings.keepalive_s > 0:
            t.set_keepalive(max(1, round(settings.keepalive_s)))
        log.debug("connected to %s:%s", settings.host, settings.port)
        return t
    except BaseException:
        t.close()
        raise
