"""The portal end to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright;
no browser is downloaded), against a real ``bodydock-vault portal serve`` over TLS.

The privacy officer logs in with password and TOTP, searches, opens a recording for a purpose
and watches it play (the real H.264 footage of the simulated camera; the access log already
holds the viewing), is refused a learning recording for a complaint, places and releases a
hold, makes a transfer package, downloads it and `bodydock-vault transfer verify` accepts it,
withdraws consent and gets the receipt; the administrator sees users and roles.

Every page is photographed (Dutch). With BODYDOCK_UPDATE_SCREENSHOTS=1 the pictures replace
docs/screenshots/portal-*.png.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.vault.portal.portal_helpers import PASSWORD, PortalVault, cli, make_portal_vault, mp4_clips, walk_files

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
playwright_api = pytest.importorskip("playwright.sync_api")

SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def pv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalVault]:
    clips = mp4_clips(tmp_path_factory.mktemp("cams"), 4, seconds=3.0)
    vault = make_portal_vault(tmp_path_factory.mktemp("portal"), clips, seconds=3.0)
    vault.start()
    try:
        yield vault
    finally:
        vault.stop()


def access_log(pv: PortalVault) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (pv.root / "state" / "access.log").read_text().splitlines()]


def until(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll from Python (the page's CSP forbids Playwright's own eval-based waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def png_ok(path: Path) -> None:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    assert width >= 600 and height >= 400, path


def shrink_png(src: Path, dst: Path) -> None:
    """A 128-colour palette (the pages are flat colours): a quarter of the bytes, for the repository."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        shutil.copy(src, dst)
        return
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-vf",
                    "split[a][b];[a]palettegen=max_colors=128:stats_mode=full[p];[b][p]paletteuse=dither=none",
                    str(dst)], check=True)
    png_ok(dst)


def test_portal_end_to_end_in_chromium(pv: PortalVault, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    taken: list[Path] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--lang=nl-NL", "--autoplay-policy=no-user-gesture-required"],
            # The date fields' dd-mm-jjjj follows the browser's own locale, which comes from the environment.
            env={**os.environ, "LANG": "nl_NL.UTF-8", "LANGUAGE": "nl"})
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1100, "height": 760},
                                  accept_downloads=True, locale="nl-NL")
        page = ctx.new_page()

        def shot(name: str, *, full: bool = True) -> None:
            path = shots / f"portal-{name}.png"
            page.screenshot(path=str(path), full_page=full)
            taken.append(path)

        def login(user: str) -> None:
            page.goto(pv.base + "/login")
            page.fill("input[name=user]", user)
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=code]", pv.code(user))
            page.click("form[action='/login'] button")
            page.wait_for_url("**/search")

        # --- log in with password and TOTP ------------------------------------------------------
        page.goto(pv.base + "/search")
        assert page.url.endswith("/login")
        assert page.locator("html").get_attribute("lang") == "nl"
        shot("login")
        login("privacy")

        # --- search -------------------------------------------------------------------------------
        page.select_option("select[name=tag]", "evidence")
        page.click("form.filters button")
        page.wait_for_url("**/search?*tag=evidence*")
        rows = page.locator("table.results tbody tr")
        assert rows.count() == 1 and pv.ids["evidence"] in rows.first.inner_text()
        page.goto(pv.base + "/search")
        assert page.locator("table.results tbody tr").count() == 4
        shot("search")
        page.set_viewport_size({"width": 768, "height": 1024})  # a tablet
        shot("search-tablet", full=False)
        page.set_viewport_size({"width": 1100, "height": 760})

        # --- open a recording for a purpose and see it play --------------------------------------------
        rid = pv.ids["plain"]
        page.click(f"a[href='/recordings/{rid}']")
        page.wait_for_url(f"**/recordings/{rid}")
        shot("recording")
        page.select_option("form[action$='/open'] select[name=purpose]", "complaint")
        page.fill("form[action$='/open'] input[name=case]", "KL-2026-17")
        page.click("form[action$='/open'] button")
        page.wait_for_url("**/viewings/*")
        opened = [e for e in access_log(pv) if e["what"] == "view.opened"]
        assert opened and opened[-1]["details"]["recording"] == rid and opened[-1]["who"] == "privacy"
        assert opened[-1]["details"]["case"] == "KL-2026-17" and opened[-1]["details"]["channel"] == "portal"
        assert "P. de Vries" in page.locator(".player .overlay").inner_text()
        page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
        state = until(lambda: page.evaluate(
            "() => { const v = document.querySelector('video');"
            " return (!v.paused && v.currentTime > 0.2 && !v.error) ? [v.duration, v.currentTime] : null; }"),
            "the video to play")
        assert 2.5 < state[0] < 3.5, state  # the 3 s clip
        page.evaluate("() => document.querySelector('video').pause()")
        shot("viewing", full=False)

        # --- refused: a learning recording for a complaint ----------------------------------------------
        page.goto(pv.base + f"/recordings/{pv.ids['learning']}")
        page.select_option("form[action$='/open'] select[name=purpose]", "complaint")
        page.fill("form[action$='/open'] input[name=case]", "KL-2026-18")
        page.click("form[action$='/open'] button")
        page.wait_for_load_state()
        # In Dutch on the page; the rule's English message in the access log.
        assert "Beelden om te leren worden alleen geopend om te leren" in page.locator(".refused").inner_text()
        last = access_log(pv)[-1]
        assert (last["what"], last["result"], last["details"]["recording"]) == \
            ("view.refused", "refused", pv.ids["learning"])
        assert "learning footage opens only for learning" in last["why"]
        shot("refused", full=False)

        # --- place and release a hold -------------------------------------------------------------------
        ev = pv.ids["evidence"]
        page.goto(pv.base + f"/recordings/{ev}")
        page.fill("form[action$='/hold'] input[name=case]", "PV-2026-0042")
        page.fill("form[action$='/hold'] input[name=reason]", "Klacht ingediend; beelden veiligstellen")
        page.click("form[action$='/hold'] button")
        page.wait_for_load_state()
        assert "geplaatst" in page.locator(".notice").first.inner_text()
        assert access_log(pv)[-1]["what"] == "hold.placed"
        shot("hold")
        page.goto(pv.base + "/retention")
        assert page.locator("tr.kept").count() == 1
        shot("retention")
        page.goto(pv.base + f"/recordings/{ev}")
        page.fill("form[action*='/release'] input[name=reason]", "Klacht afgehandeld")
        page.click("form[action*='/release'] button")
        page.wait_for_load_state()
        assert "opgeheven" in page.locator(".notice").first.inner_text()
        assert access_log(pv)[-1]["what"] == "hold.released"

        # --- transfer package, downloaded and verified ---------------------------------------------------
        page.click("a[href^='/transfer?recording=']")
        page.wait_for_url("**/transfer?*")
        assert page.locator("textarea[name=recordings]").input_value().strip() == ev
        page.fill("input[name=to]", "Politie Eenheid Teststad, t.a.v. J. Agent")
        page.fill("input[name=basis]", "art. 126nd Sv, vordering van de officier van justitie")
        page.fill("input[name=case]", "PV-2026-0042")
        shot("transfer-form")
        page.click("form[action='/transfer'] button")
        page.wait_for_selector("#download")
        shot("transfer")
        with page.expect_download() as dl:
            page.click("#download")
        archive = tmp_path / "package.zip"
        dl.value.save_as(archive)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp_path / "received")
        (package,) = (tmp_path / "received").iterdir()
        verified = cli(pv.config, "transfer", "verify", str(package))
        assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
        assert (package / "recordings" / f"{ev}.mp4").read_bytes() == pv.plain[ev]
        assert [e["what"] for e in access_log(pv)[-3:]] == ["transfer.opened", "transfer.completed",
                                                           "transfer.downloaded"]

        # --- consent withdrawal and its receipt --------------------------------------------------------------
        l2 = pv.ids["learning2"]
        page.goto(pv.base + f"/withdraw?recording={l2}")
        page.fill("input[name=consent_ref]", "VERZ-2026-0007")
        shot("withdraw")
        page.click("form[action='/withdraw'] button")
        page.wait_for_selector("#receipt")
        receipt = page.locator("#receipt").inner_text()
        assert l2 in receipt and "VERZ-2026-0007" in receipt and "Bewijs van intrekking" in receipt
        shot("receipt")
        with page.expect_download() as dl:
            page.click(f"a[href='/receipts/{l2}']")
        assert "VERZ-2026-0007" in Path(dl.value.path()).read_text()
        assert not [f for f in walk_files(pv.root / "inbox") if f.name.startswith(l2)]

        # --- the privacy officer's pages ---------------------------------------------------------------------
        page.goto(pv.base + "/log")
        assert "Hash-keten intact" in page.locator(".notice").first.inner_text()
        assert page.locator("td", has_text="view.opened").count() >= 1
        shot("log")
        page.goto(pv.base + "/reconcile")
        assert "in orde" in page.locator("main").inner_text()
        shot("reconcile")

        # --- English on request ----------------------------------------------------------------------------
        page.click("a[hreflang=en]")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en" and "Access log" in page.inner_text("nav")
        page.goto(pv.base + "/search?lang=nl")

        # --- log out; the administrator -----------------------------------------------------------------------
        page.click("form[action='/logout'] button")
        page.wait_for_url("**/login?bye=1")
        # Logging out ends the session's viewings: each is closed in the access log, with what was served.
        closed = [e for e in access_log(pv) if e["what"] == "view.closed" and e["details"]["recording"] == rid]
        assert closed and closed[-1]["details"]["ended"] == "logout" and closed[-1]["details"]["bytes_served"] > 0
        page.goto(pv.base + "/log")
        assert page.url.endswith("/login")
        login("admin")
        page.goto(pv.base + "/users")
        assert page.locator("table.results").first.locator("tbody tr").count() == 5  # users; then the roles
        assert "T. Yilmaz" in page.inner_text("main")
        shot("users")
        browser.close()

    for path in taken:
        png_ok(path)
    if os.environ.get("BODYDOCK_UPDATE_SCREENSHOTS") == "1":
        for old in SHOTS.glob("portal-*.png"):
            old.unlink()
        for path in taken:
            shrink_png(path, SHOTS / path.name)
