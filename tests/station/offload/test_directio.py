import os
from pathlib import Path

import pytest

from station.offload.directio import DirectWriter


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, (2 << 20) - 1, 2 << 20, (2 << 20) * 3 + 12345])
@pytest.mark.parametrize("direct", [True, False])
def test_writes_exact_bytes(tmp_path: Path, size: int, direct: bool) -> None:
    data = os.urandom(size)
    w = DirectWriter(tmp_path / "f", direct=direct)
    for i in range(0, size, 65552):  # age-sized, unaligned pieces
        w.write(data[i:i + 65552])
    w.close()
    assert (tmp_path / "f").read_bytes() == data and w.size == size


def test_write_error_surfaces(tmp_path: Path) -> None:
    w = DirectWriter(tmp_path / "f", block=4096, depth=2, direct=False)
    os.close(w.fd)  # the disk "goes away" under the writer thread
    w.fd = os.open(os.devnull, os.O_RDONLY)
    with pytest.raises(OSError):
        for _ in range(10):
            w.write(b"x" * 4096)
        w.close()
