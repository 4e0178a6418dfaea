"""Where a station keeps its state: the journal, the audit log, and the audit head anchored in the journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from station.storage.audit import SYSTEM, AuditLog
from station.storage.journal import Journal

AUDIT_ANCHOR = "audit_head"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatePaths:
    journal: Path
    audit: Path

    @classmethod
    def of(cls, state_dir: Path) -> StatePaths:
        return cls(journal=state_dir / "journal.sqlite", audit=state_dir / "audit.log")


def read_anchor(journal: Journal) -> tuple[int, str] | None:
    raw = journal.get_meta(AUDIT_ANCHOR)
    if not raw:
        return None
    seq, _, digest = raw.partition(":")
    return int(seq), digest


# The alert staff see when opening the audit log found a crash's mark at its end.
AUDIT_TAIL_ALERT = "audit-tail"


def open_audit(journal: Journal, path: Path) -> AuditLog:
    anchored = read_anchor(journal)
    audit = AuditLog(path, anchor=lambda seq, digest: journal.set_meta(AUDIT_ANCHOR, f"{seq}:{digest}"),
                     anchored=anchored)
    seq, digest = audit.head
    if anchored is not None and anchored[0] == seq - 1 and anchored[1] == audit.head_prev:
        # The station died between writing its newest entry and anchoring it. Anchor it now,
        # before anything else is written: a second such crash must not leave the log two
        # entries past its anchor (which `audit verify` rightly calls broken).
        journal.set_meta(AUDIT_ANCHOR, f"{seq}:{digest}")
    repair = audit.tail_repair
    if repair is not None:
        # A lost anchored entry is lost evidence of what the station did; a recovered one is a notice.
        severity = "critical" if repair.anchored and not repair.recovered else "warn"
        if journal.raise_alert(AUDIT_TAIL_ALERT, severity, repair.describe()):
            audit.append(who=SYSTEM, what="alert.raised", why=repair.describe(), device=AUDIT_TAIL_ALERT,
                         result=severity)
    return audit
