"""stdin/stdout <-> TCP relay, run by qemu's guestfwd for each guest connection (no netcat here)."""

from __future__ import annotations

import os
import socket
import sys
import threading


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    s = socket.create_connection((host, port))

    def up() -> None:
        while data := os.read(0, 65536):
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    threading.Thread(target=up, daemon=True).start()
    while data := s.recv(65536):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


if __name__ == "__main__":
    main()
