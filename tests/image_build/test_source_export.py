"""The image's bodydock comes from a git commit, plus what ``make deps`` generates (image_build/build.py).

git does not track the kiosk's compiled catalogs; a wheel built from ``git archive`` alone had none,
and the appliance's kiosk died on start under cage ("No translation file found for domain").
"""

from __future__ import annotations

import gettext
import subprocess
from pathlib import Path

from image_build.build import GENERATED_IN_WHEEL, ROOT, export_source


def test_exported_source_has_the_compiled_kiosk_catalogs(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "ui/locale"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [f for f in tracked if f.endswith(".mo")]  # so the export must make them
    export_source("HEAD", tmp_path)
    for name in GENERATED_IN_WHEEL:
        assert (tmp_path / name).is_file(), name
    dutch = gettext.translation("bodydock", tmp_path / "ui" / "locale", languages=["nl"])
    assert dutch.gettext("Take a camera") == "Camera ophalen"
