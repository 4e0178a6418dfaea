"""A small TCP proxy that delays every byte by a fixed time in each direction.

The kernels here have no ``netem``; this adds round-trip time the way a WAN does for the SSH
layer (window adjustments and SFTP acknowledgements arrive late) without shaping TCP itself.
Run it as a process (``python -m tests.upload.lab.delayproxy``), possibly inside a network
namespace, so it never competes with the uploader for the GIL. With ``--to-netns`` it listens
here and connects from inside a namespace: a doorway into a namespace without any veth.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import socket
import threading
import time

from tests.upload.lab.netns import connect_inside

CHUNK = 1 << 20


def _pump(src: socket.socket, dst: socket.socket, delay_s: float) -> None:
    """Copy src -> dst, releasing each chunk ``delay_s`` after it arrived."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()
    done = [False]

    def reader() -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            while True:
                n = src.recv_into(view)
                if not n:
                    break
                with ready:
                    queue.append((time.monotonic() + delay_s, bytes(view[:n])))
                    ready.notify()
        except OSError:
            pass
        with ready:
            done[0] = True
            ready.notify()

    threading.Thread(target=reader, daemon=True).start()
    try:
        while True:
            with ready:
                while not queue and not done[0]:
                    ready.wait()
                if not queue:
                    break
                due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            dst.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        src.shutdown(socket.SHUT_RD)


def _serve_one(client: socket.socket, target: tuple[str, int], delay_s: float, netns: str | None) -> None:
    try:
        upstream = connect_inside(netns, target) if netns else socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    a = threading.Thread(target=_pump, args=(client, upstream, delay_s), daemon=True)
    b = threading.Thread(target=_pump, args=(upstream, client, delay_s), daemon=True)
    a.start()
    b.start()
    a.join()
    b.join()
    client.close()
    upstream.close()


def serve(listen: tuple[str, int], target: tuple[str, int], delay_s: float, netns: str | None = None) -> None:
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(64)
    print("listening", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=_serve_one, args=(client, target, delay_s, netns), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--listen", required=True, help="host:port")
    ap.add_argument("--to", required=True, help="host:port")
    ap.add_argument("--delay-ms", type=float, required=True, help="added one-way delay")
    ap.add_argument("--to-netns", help="connect to --to from inside this network namespace")
    a = ap.parse_args()
    lh, _, lp = a.listen.rpartition(":")
    th, _, tp = a.to.rpartition(":")
    serve((lh.strip("[]"), int(lp)), (th.strip("[]"), int(tp)), a.delay_ms / 1000, a.to_netns)


if __name__ == "__main__":
    main()
