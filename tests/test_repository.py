"""A clone works at any path: git tracks nothing a command makes again, and nothing names this checkout's path."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

# What a command makes again: the virtualenv, byte code, caches, build outputs, compiled catalogs.
GENERATED = re.compile(
    r"(^|/)(\.venv|venv|__pycache__|\.mypy_cache|\.pytest_cache|\.ruff_cache|build|dist|[^/]*\.egg-info)(/|$)"
    r"|\.py[co]$|\.mo$"
)


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_git_tracks_no_generated_files() -> None:
    generated = [p for p in _tracked() if GENERATED.search(p)]
    assert generated == [], f"generated files tracked by git: {generated[:20]} ({len(generated)} in all)"


def test_no_tracked_file_names_the_checkout_path() -> None:
    needle = str(ROOT).encode()
    hits = []
    for rel in _tracked():
        path = ROOT / rel
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(rel)
    assert hits == [], f"files naming this checkout's absolute path {ROOT}: {hits}"
