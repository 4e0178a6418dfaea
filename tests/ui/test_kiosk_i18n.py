"""The catalogs: every string the kiosk marks is translated to Dutch, the compiled .mo files are
the .po files as committed, and placeholders survive translation."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from ui.i18n import LOCALE_DIR, Translator

XGETTEXT = ["xgettext", "-L", "Python", "--from-code=UTF-8", "--keyword=t", "--keyword=n:1,2", "--keyword=p:1c,2",
            "--keyword=N_", "--no-wrap", "-o", "-"]
needs_gettext = pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")


def _msgids(po_text: str) -> set[str]:
    return {m for m in re.findall(r'^msgid "(.*)"$', po_text, re.M) if m}


@needs_gettext
def test_every_marked_string_is_translated_to_dutch() -> None:
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ui").rglob("*.py"))
    pot = subprocess.run([*XGETTEXT, *sources], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    used = _msgids(pot)
    nl = gettext.GNUTranslations((LOCALE_DIR / "nl/LC_MESSAGES/bodydock.mo").open("rb"))
    catalog = nl._catalog  # type: ignore[attr-defined]
    keys = {k[0] if isinstance(k, tuple) else k for k in catalog}
    missing = sorted(used - keys)
    assert not missing, f"run `make locale` and translate: {missing}"
    untranslated = sorted(k for k, v in catalog.items() if isinstance(k, str) and k and (not v or v == k)
                          and k not in ("OK", "Dock"))
    assert not untranslated


@needs_gettext
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_compiled_catalogs_match_their_sources(lang: str, tmp_path: Path) -> None:
    po = LOCALE_DIR / lang / "LC_MESSAGES/bodydock.po"
    out = tmp_path / "bodydock.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(out), str(po)], check=True)
    assert out.read_bytes() == (po.with_suffix(".mo")).read_bytes(), "run `make locale`"


def test_placeholders_survive_translation() -> None:
    po = (LOCALE_DIR / "nl/LC_MESSAGES/bodydock.po").read_text()
    pairs = re.findall(r'^msgid "(.*)"\nmsgstr "(.*)"$', po, re.M)
    assert pairs
    for src, dst in pairs:
        assert sorted(re.findall(r"{\w+}", src)) == sorted(re.findall(r"{\w+}", dst)), src


def test_dutch_by_default_english_switchable() -> None:
    assert Translator()("Take a camera") == "Camera ophalen"
    assert Translator("en")("Take a camera") == "Take a camera"
    one = Translator("nl").n("{n} recording on this camera. Tap a recording to label it.",
                             "{n} recordings on this camera. Tap a recording to label it.", 1)
    assert one.startswith("{n} opname ")
    with pytest.raises(ValueError):
        Translator("de")
