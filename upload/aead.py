"""A bulk send path for SSH channel data under AES-GCM, on top of paramiko.

Paramiko builds every 32 KiB channel packet through ``Message``/``BytesIO`` objects and copies the
payload five times before one ``send()`` per packet; at a gigabyte that costs more CPU than the
whole OpenSSH client. Here the caller fills the packet's plaintext buffer directly (a file's
``readinto``), the packet is sealed with ``encrypt_into`` next to its neighbours, and a batch
of packets leaves in one ``send()``: one read, one encryption, one kernel copy.

It shares paramiko's outbound state (sequence number, GCM nonce, rekey counters) under the same
locks paramiko uses, so bulk packets and paramiko's own (window adjustments, keepalives, key
exchange) interleave correctly. Those fields are private to ``Packetizer``; :func:`bulk_supported`
checks they exist and the caller falls back to ``Channel.sendall`` when they do not (another
paramiko version, a non-AEAD cipher, compression).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import paramiko
from paramiko.packet import Packetizer

_P = "_Packetizer__"
_FIELDS = ("aead_out", "block_engine_out", "compress_engine_out", "dump_packets", "iv_out",
           "sequence_number_out", "sent_bytes", "sent_packets", "need_rekey", "write_lock", "socket",
           "block_size_out", "received_bytes_overflow", "received_packets_overflow")
MSG_CHANNEL_DATA = 94
TAG = 16
_CHAN_HEADER = struct.Struct(">BBII")  # padding length, message type, recipient channel, data length
_U32 = struct.Struct(">I")
_MAX_PADDING = 3 + 32
# Packet size margin paramiko keeps under the peer's maximum; we do the same.
PACKET_MARGIN = 64

Fill = Callable[[memoryview], None]


class AeadPacketizer(Packetizer):
    """Paramiko's packetizer plus :meth:`seal_into` for the bulk path (pass as ``packetizer_class``)."""

    def bulk_ready(self) -> bool:
        d = self.__dict__
        if any(_P + f not in d for f in _FIELDS):
            return False
        engine = d[_P + "block_engine_out"]
        return (
            bool(d[_P + "aead_out"])
            and engine is not None
            and hasattr(engine, "encrypt")
            and d[_P + "compress_engine_out"] is None
            and not d[_P + "dump_packets"]
            and d[_P + "block_size_out"] == 16
        )

    @property
    def write_lock(self) -> Any:
        return self.__dict__[_P + "write_lock"]

    def seal_into(self, out: memoryview, plain: memoryview) -> int:
        """Encrypt one packet (``plain`` = padding length byte .. padding) into ``out``; return its size.

        The caller holds :attr:`write_lock` and sends the sealed packets, in order, before
        releasing it: the nonce and sequence number advance here.
        """
        d = self.__dict__
        n = len(plain)
        _U32.pack_into(out, 0, n)
        iv: bytes = d[_P + "iv_out"]
        engine = d[_P + "block_engine_out"]
        end = 4 + n + TAG
        if hasattr(engine, "encrypt_into"):
            engine.encrypt_into(iv, plain, out[:4], out[4:end])
        else:  # older cryptography: one extra copy
            out[4:end] = engine.encrypt(iv, plain, bytes(out[:4]))
        counter = (int.from_bytes(iv[4:], "big") + 1) & 0xFFFFFFFFFFFFFFFF
        d[_P + "iv_out"] = iv[:4] + counter.to_bytes(8, "big")
        d[_P + "sequence_number_out"] = (d[_P + "sequence_number_out"] + 1) & 0xFFFFFFFF
        d[_P + "sent_bytes"] += end
        d[_P + "sent_packets"] += 1
        return end

    def sent(self) -> None:
        """After a batch: ask for a rekey when the volume limits are reached, as send_message does."""
        d = self.__dict__
        too_much = d[_P + "sent_packets"] >= self.REKEY_PACKETS or d[_P + "sent_bytes"] >= self.REKEY_BYTES
        if too_much and not d[_P + "need_rekey"]:
            d[_P + "received_bytes_overflow"] = 0
            d[_P + "received_packets_overflow"] = 0
            self._trigger_rekey()  # type: ignore[attr-defined]


def bulk_supported(chan: paramiko.Channel) -> bool:
    transport = chan.get_transport()
    pk = transport.packetizer if transport is not None else None
    return isinstance(pk, AeadPacketizer) and pk.bulk_ready()


class StallError(TimeoutError):
    """The peer stopped taking data (window or socket) for longer than the I/O timeout."""


class ChannelSender:
    """Sends channel data packet by packet, sealed in batches straight from the caller's buffer.

    One sender per channel, used by one thread. :meth:`packet` queues a packet whose data is
    ``header`` followed by ``n`` bytes produced by ``fill``; :meth:`flush` sends what is queued.
    Anything queued is sent before the sender waits for window, so it never waits on itself.
    """

    def __init__(self, chan: paramiko.Channel, *, batch: int = 8, io_timeout: float = 60.0) -> None:
        self.chan = chan
        transport = chan.get_transport()
        assert transport is not None
        self.transport = transport
        self.max_data = min(chan.out_max_packet_size, 32768) - PACKET_MARGIN
        self.batch = batch
        self.io_timeout = io_timeout
        self.bulk = bulk_supported(chan)
        slot = 10 + self.max_data + _MAX_PADDING
        self._plain = [bytearray(slot) for _ in range(batch)]
        self._plain_len = [0] * batch
        self._queued = 0
        self._out = bytearray(batch * (4 + slot + TAG))
        self._pad = os.urandom(256)

    # --- window --------------------------------------------------------------------------
    def _take_window(self, n: int, wait: bool) -> bool:
        c = self.chan
        deadline = time.monotonic() + self.io_timeout
        with c.lock:
            while c.out_window_size < n:
                if c.closed or c.eof_sent or not self.transport.is_active():
                    raise EOFError("channel closed")
                if not wait:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StallError(f"no window from the server for {self.io_timeout:.0f}s")
                c.out_buffer_cv.wait(min(left, 0.5))
            c.out_window_size -= n
        return True

    # --- packets -------------------------------------------------------------------------
    def packet(self, header: bytes, fill: Fill | None, n: int) -> None:
        size = len(header) + n
        assert 0 < size <= self.max_data
        if not self.bulk:
            buf = bytearray(size)
            buf[: len(header)] = header
            if fill is not None and n:
                fill(memoryview(buf)[len(header):])
            self.chan.sendall(bytes(buf))
            return
        if not self._take_window(size, wait=False):
            self.flush()
            self._take_window(size, wait=True)
        plain = self._plain[self._queued]
        view = memoryview(plain)
        pos = 10 + len(header)
        view[10:pos] = header
        if fill is not None and n:
            fill(view[pos:pos + n])
        pos += n
        # Padding makes the encrypted part a multiple of 16 bytes (RFC 4253 6, RFC 5647 7.2).
        padding = 3 + 16 - ((pos - 1 + 4) % 16)
        _CHAN_HEADER.pack_into(plain, 0, padding, MSG_CHANNEL_DATA, self.chan.remote_chanid, size)
        start = (pos * 7) % 200
        view[pos:pos + padding] = self._pad[start:start + padding]
        self._plain_len[self._queued] = pos + padding
        self._queued += 1
        if self._queued == self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._queued:
            return
        t = self.transport
        pk = t.packetizer
        assert isinstance(pk, AeadPacketizer)
        deadline = time.monotonic() + self.io_timeout
        # Wait out a key exchange, as Transport._send_user_message does.
        while True:
            t.clear_to_send.wait(0.1)
            if not t.is_active():
                raise EOFError("connection closed")
            t.clear_to_send_lock.acquire()
            if t.clear_to_send.is_set():
                break
            t.clear_to_send_lock.release()
            if time.monotonic() > deadline:
                raise StallError("key exchange did not finish")
        try:
            with pk.write_lock:
                if not pk.bulk_ready():  # keys changed to something we cannot seal
                    raise EOFError("cipher changed under the bulk sender")
                out = memoryview(self._out)
                o = 0
                for i in range(self._queued):
                    o += pk.seal_into(out[o:], memoryview(self._plain[i])[: self._plain_len[i]])
                self._send_all(out[:o], deadline)
                pk.sent()
        finally:
            t.clear_to_send_lock.release()
            self._queued = 0

    def _send_all(self, view: memoryview, deadline: float) -> None:
        sock: socket.socket = self.transport.sock  # type: ignore[assignment]
        while view:
            try:
                n = sock.send(view)
            except (TimeoutError, BlockingIOError):
                n = 0
            if n:
                view = view[n:]
                deadline = time.monotonic() + self.io_timeout
            elif time.monotonic() > deadline:
                # Half a packet is on the wire: this connection cannot be used any more.
                self.transport.close()
                raise StallError(f"socket send stalled for {self.io_timeout:.0f}s")
            elif not self.transport.is_active():
                raise EOFError("connection closed")
