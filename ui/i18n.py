"""gettext catalogs for the kiosk (Dutch by default, English switchable).

Message ids are English; ``ui/locale/<lang>/LC_MESSAGES/bodydock.mo`` are compiled from the
``.po`` files with ``make locale`` (GNU gettext) and committed, and a test checks they match.
Marking: ``t("...")``, ``t.n(singular, plural, n)``, ``t.p(context, "...")`` and ``N_("...")``
for strings translated later (``xgettext --keyword=t --keyword=n:1,2 --keyword=p:1c,2 --keyword=N_``).
"""

from __future__ import annotations

import gettext
from pathlib import Path
from typing import Final

DOMAIN: Final = "bodydock"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
LANGUAGES: Final = ("nl", "en")
DEFAULT_LANGUAGE: Final = "nl"


def N_(message: str) -> str:
    """Mark a string for extraction; translate it later with ``t(message)``."""
    return message


class Translator:
    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        self.language = language
        # English is the source language: a missing catalog is not an error there.
        self._cat: gettext.NullTranslations = gettext.translation(
            DOMAIN, LOCALE_DIR, languages=[language], fallback=language == "en")

    def __call__(self, message: str) -> str:
        return self._cat.gettext(message)

    def n(self, singular: str, plural: str, count: int) -> str:
        return self._cat.ngettext(singular, plural, count)

    def p(self, context: str, message: str) -> str:
        return self._cat.pgettext(context, message)
