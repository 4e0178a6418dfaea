"""A connection the outbox gave up on is reset: bytes it had queued never reach the vault later.

Real sockets on loopback: the peer stops reading (as a vault does behind an outage), the sender
queues more than the peer's window, then gives up. A plain close would deliver the queued bytes
once the peer reads again; ``abort_socket`` resets the connection instead.
"""

from __future__ import annotations

import socket

from upload.ssh import abort_socket


def _received_after_giving_up(give_up: str) -> tuple[int, int, bool]:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.setblocking(False)
    sent = 0
    try:
        while True:
            sent += client.send(b"x" * 65536)
    except BlockingIOError:
        pass  # the peer's window and our send buffer are full: the rest waits in our kernel
    if give_up == "abort":
        abort_socket(client)
    else:
        client.close()
    got, reset = 0, False
    peer.settimeout(10)
    try:
        while chunk := peer.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        reset = True
    peer.close()
    server.close()
    return sent, got, reset


def test_giving_up_resets_instead_of_delivering_what_was_queued() -> None:
    sent, got, reset = _received_after_giving_up("close")
    assert got == sent and not reset  # a plain close: everything queued still arrives, later
    sent, got, reset = _received_after_giving_up("abort")
    assert reset and got < sent  # reset: what was still queued is dropped, never delivered
