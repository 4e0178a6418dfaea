"""docs/architecture.md stays true: it names every package, and every package it names exists."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.test_layering import BUILD_TREES, PACKAGES


def _packages_on_disk() -> set[str]:
    found = set()
    for top in PACKAGES:
        for init in (ROOT / top).rglob("__init__.py"):
            if tuple(init.relative_to(ROOT).parts[:2]) in BUILD_TREES:
                continue
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def _packages_in_doc() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    return set(re.findall(r"^### `([\w.]+)`$", text, flags=re.MULTILINE))


def test_every_package_has_a_paragraph_and_every_paragraph_a_package() -> None:
    on_disk, in_doc = _packages_on_disk(), _packages_in_doc()
    assert on_disk - in_doc == set(), f"packages docs/architecture.md does not describe: {sorted(on_disk - in_doc)}"
    gone = sorted(in_doc - on_disk)
    assert not gone, f"docs/architecture.md describes packages that do not exist: {gone}"


def test_every_module_path_the_doc_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:[\w]+/)+[\w*]+\.py)`", text))
    missing = [p for p in sorted(named) if not list(ROOT.glob(p))]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
