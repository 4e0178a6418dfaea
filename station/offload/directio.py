"""A sequential file writer that overlaps disk writes with the caller's hashing and encryption.

Ciphertext is copied into a small ring of page-aligned buffers; a writer thread hands full
buffers to the disk while the offload thread keeps computing. Where the filesystem allows it
the file is opened with O_DIRECT: footage is written once and never read back from the page
cache, so caching it would only evict useful pages (and on some VMs, allocating fresh page-cache
pages costs more CPU than the encryption). Memory is fixed: ``depth`` x ``block`` bytes.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading

ALIGN = 4096


class DirectWriter:
    def __init__(self, path: os.PathLike[str] | str, *, block: int = 1 << 20, depth: int = 3,
                 direct: bool = True, mode: int = 0o640) -> None:
        if block % ALIGN:
            raise ValueError("block must be a multiple of 4096")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        self.direct = False
        fd = -1
        if direct and hasattr(os, "O_DIRECT"):
            try:
                fd = os.open(path, flags | os.O_DIRECT, mode)
                self.direct = True
            except OSError:
                fd = -1  # e.g. tmpfs: no O_DIRECT; fall back to buffered writes
        if fd < 0:
            fd = os.open(path, flags, mode)
        self.fd = fd
        self.size = 0
        self._block = block
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        for _ in range(depth):
            self._free.put(mmap.mmap(-1, block))
        self._full: queue.Queue[tuple[mmap.mmap, int] | None] = queue.Queue()
        self._cur = self._free.get()
        self._fill = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="direct-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._full.get()) is not None:
            buf, n = item
            try:
                if self._error is None:
                    self._write_all(memoryview(buf)[:n])
            except BaseException as exc:  # reported to the caller on its next call
                self._error = exc
            self._free.put(buf)

    def _write_all(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self.fd, view):]

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check()
        view = memoryview(data)
        self.size += len(view)
        while view:
            take = min(len(view), self._block - self._fill)
            self._cur[self._fill:self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == self._block:
                self._full.put((self._cur, self._fill))
                self._cur = self._free.get()
                self._fill = 0
                self._check()

    def close(self, *, fsync: bool = True) -> None:
        """Write the tail, wait for the writer, fsync, close. The file then has ``size`` bytes."""
        if self._closed:
            return
        self._closed = True
        try:
            tail = self._fill
            if tail:
                if self.direct:
                    # O_DIRECT writes whole aligned blocks: pad the tail, then cut the file back.
                    padded = -(-tail // ALIGN) * ALIGN
                    self._cur[tail:padded] = bytes(padded - tail)
                    self._full.put((self._cur, padded))
                else:
                    self._full.put((self._cur, tail))
            self._full.put(None)
            self._thread.join()
            self._check()
            if self.direct and tail:
                os.ftruncate(self.fd, self.size)
            if fsync:
                os.fsync(self.fd)
        finally:
            if self._thread.is_alive():
                self._full.put(None)
                self._thread.join()
            os.close(self.fd)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = self._error or RuntimeError("aborted")
        self._full.put(None)
        self._thread.join()
        os.close(self.fd)
