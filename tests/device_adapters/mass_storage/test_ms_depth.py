"""The scan does not recurse: a card or folder nested far deeper than ``max_depth`` is walked
iteratively and reported, and ``max_depth`` itself is bounded when the config is loaded."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _mass_storage_helpers import have

from config import ConfigError, load_config
from device_adapters.mass_storage.adapter import MassStorageAdapterFactory
from device_adapters.mass_storage.fs import open_volume
from device_adapters.mass_storage.fs.exfat import ExfatVolume
from device_adapters.mass_storage.fs.exfat_write import ExfatWriter
from device_adapters.mass_storage.images import MIB, make_exfat
from device_adapters.mass_storage.scan import Limits
from tests.conftest import config_with_adapter_options

MAX_DEPTH_BOUND = 64  # what the config schema and Limits allow


@contextmanager
def _shallow_stack(frames: int) -> Iterator[None]:
    """Allow only ``frames`` more Python frames: a walk that recurses per folder level fails."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _deep_folder(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (root / "DCIM").mkdir()
        fd2 = os.open("DCIM", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = fd2
        for _ in range(depth):  # by dir fd: the full path is far longer than PATH_MAX
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        with open(os.open("CLIP.MP4", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"deep")
    finally:
        os.close(fd)


def _remove_deep(top: Path) -> None:
    """Take the tree apart from the top (shutil.rmtree, and so pytest's clean-up, recurses)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        current = "DCIM"
        while True:
            names = os.listdir(top / current)
            if names != ["d"]:
                for n in names:
                    os.unlink(f"{current}/{n}", dir_fd=fd)
                os.rmdir(current, dir_fd=fd)
                return
            nxt = "x" if current != "x" else "y"
            os.rename(f"{current}/d", nxt, src_dir_fd=fd, dst_dir_fd=fd)
            os.rmdir(current, dir_fd=fd)
            current = nxt
    finally:
        os.close(fd)


@pytest.fixture
def deep_folder(tmp_path: Path) -> Iterator[Path]:
    cam = tmp_path / "cam"
    cam.mkdir()
    _deep_folder(cam, 20_000)
    yield cam
    _remove_deep(cam)


def test_twenty_thousand_nested_folders(deep_folder: Path) -> None:
    adapter = MassStorageAdapterFactory(max_depth=MAX_DEPTH_BOUND)(str(deep_folder))
    with _shallow_stack(60):
        assert adapter.list_recordings() == ()
        deep = [f for f in adapter.findings() if "nested deeper than 64" in f.problem]
    assert len(deep) == 1 and deep[0].path.count("/") == MAX_DEPTH_BOUND + 1


@pytest.mark.skipif(not have("mkfs.exfat"), reason="exfatprogs is needed")
def test_deep_card_is_walked_without_recursion(tmp_path: Path) -> None:
    image = tmp_path / "deep.img"
    make_exfat(image, {}, size=32 * MIB, cluster=512)
    vol = open_volume(str(image), writable=True)
    assert isinstance(vol, ExfatVolume)
    w = ExfatWriter(vol)
    d = w.mkdir(vol.root(), "DCIM")
    for _ in range(100):
        d = w.mkdir(d, "d")
    w.add_file(d, "CLIP.MP4", b"deep")
    w.close()
    vol.device.close()
    adapter = MassStorageAdapterFactory(max_depth=MAX_DEPTH_BOUND)(str(image))
    with _shallow_stack(60):
        assert adapter.list_recordings() == ()
        problems = [f.problem for f in adapter.findings()]
    assert any("nested deeper than 64" in p for p in problems), problems


@pytest.mark.parametrize("depth", [0, 65, 30_000])
def test_max_depth_is_bounded(depth: int) -> None:
    with pytest.raises(ValueError, match="max_depth must be 1 to 64"):
        Limits(max_depth=depth)
    with pytest.raises(ValueError, match="max_depth"):
        MassStorageAdapterFactory(max_depth=depth)




def test_config_refuses_an_unbounded_max_depth(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(config_with_adapter_options(tmp_path / "a", {"mass_storage": {"max_depth": 30_000}}))
    assert info.value.key_path == "adapters.options.mass_storage.max_depth"
    cfg = load_config(config_with_adapter_options(tmp_path / "b", {"mass_storage": {"max_depth": 12}}))
    assert cfg.adapters.options["mass_storage"]["max_depth"] == 12
