"""What a recording is: ``evidence`` (with a case number), ``learning`` (with a consent record) or
``uncategorised`` (default retention). The tag and its details go into the signed manifest."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from station.storage.shift_journal import TagRow


class Tag(enum.StrEnum):
    EVIDENCE = "evidence"
    LEARNING = "learning"
    UNCATEGORISED = "uncategorised"


class ConsentMethod(enum.StrEnum):
    """How the filmed person was asked."""

    VERBAL = "verbal"
    WRITTEN = "written"
    ON_CAMERA = "on_camera"  # the consent itself is in the recording
    NOT_ASKED = "not_asked"


class TagError(ValueError):
    """The tag request is incomplete or malformed; the message is for the person tagging."""


_CASE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}")
_MAX_NOTE = 200


@dataclass(frozen=True)
class Consent:
    given: bool
    method: ConsentMethod
    note: str | None = None  # short and factual; no names of the filmed person


@dataclass(frozen=True)
class TagRequest:
    tag: Tag
    case_number: str | None = None
    consent: Consent | None = None

    def validated(self) -> TagRequest:
        """Return the normalised request, or raise TagError."""
        if self.tag is Tag.EVIDENCE:
            case = (self.case_number or "").strip()
            if not _CASE_RE.fullmatch(case):
                raise TagError("evidence needs a case number (letters, digits, ' ./_-', at most 64)")
            if self.consent is not None:
                raise TagError("a consent record belongs to learning footage, not evidence")
            return TagRequest(Tag.EVIDENCE, case_number=case)
        if self.tag is Tag.LEARNING:
            c = self.consent
            if c is None:
                raise TagError("learning footage needs a consent record: did the filmed person consent, and how")
            if c.given and c.method is ConsentMethod.NOT_ASKED:
                raise TagError("consent cannot be given without being asked")
            note = (c.note or "").strip() or None
            if note is not None and (len(note) > _MAX_NOTE or not note.isprintable()):
                raise TagError(f"the consent note is at most {_MAX_NOTE} printable characters")
            if self.case_number:
                raise TagError("a case number belongs to evidence, not learning footage")
            return TagRequest(Tag.LEARNING, consent=Consent(c.given, c.method, note))
        if self.case_number or self.consent is not None:
            raise TagError("uncategorised footage has no case number or consent record")
        return TagRequest(Tag.UNCATEGORISED)


def manifest_tag_fields(row: TagRow | None) -> dict[str, Any]:
    """The manifest's tag part, from the journal's tag row (None: never tagged)."""
    if row is None or row.revision == 0:
        return {"tag": Tag.UNCATEGORISED.value, "tag_details": None, "tag_revision": 0}
    details: dict[str, Any] | None = None
    if row.tag == Tag.EVIDENCE:
        details = {"case_number": row.case_number}
    elif row.tag == Tag.LEARNING:
        details = {"consent": {"given": bool(row.consent_given), "method": row.consent_method,
                               "note": row.consent_note}}
    return {
        "tag": row.tag,
        "tag_details": details,
        "tag_revision": row.revision,
        "tagged_by": row.tagged_by,
        "tagged_at": row.tagged_at,
    }


class RetentionBasis(enum.StrEnum):
    """Whose rule decides how long the vault keeps a recording."""

    STATION_POLICY = "station-policy"  # policies.retention_days, counted from the recording's start
    EVIDENCE_CASE = "evidence-case"  # kept until its case is closed (the vault knows when)
    CONSENT = "consent"  # the learning consent record's term (the vault's learning rule)


def manifest_retention_fields(tag_fields: dict[str, Any], policy_days: int) -> dict[str, Any]:
    """What the vault must apply, per tag: ``retention_days`` (None where another rule decides)
    and the basis, with the station's policy kept so a re-tag can recompute it."""
    tag = tag_fields.get("tag")
    details = tag_fields.get("tag_details") or {}
    consent = details.get("consent") if isinstance(details, dict) else None
    if tag == Tag.EVIDENCE:
        basis, days = RetentionBasis.EVIDENCE_CASE, None
    elif tag == Tag.LEARNING and isinstance(consent, dict) and consent.get("given"):
        basis, days = RetentionBasis.CONSENT, None
    else:
        # Uncategorised, or learning without consent: kept no longer than anything else.
        basis, days = RetentionBasis.STATION_POLICY, policy_days
    return {"retention_days": days, "retention": {"basis": basis.value, "station_policy_days": policy_days}}
