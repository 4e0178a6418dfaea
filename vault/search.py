"""Catalog search: so that colleagues can learn footage exists without seeing it.

Filters by date range, station, wearer, tag and case number; results are metadata rows, newest
first, capped. There are deliberately no counts, totals or groupings per wearer (WOR art. 27: a
system able to monitor staff needs the works council's consent; this one offers no such view).
Each filter combination has an index, so a search stays fast at millions of rows; ``explain``
shows SQLite's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from station.timeutil import iso, parse_iso
from vault.catalog import Catalog

COLUMNS = ("id, station, slot, camera_serial, wearer_id, started_at, ended_at, duration_s, tag, case_number, "
           "state, retention_until")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    date_from: str | None = None
    date_to: str | None = None
    station: str | None = None
    wearer: str | None = None
    tag: str | None = None
    case: str | None = None
    limit: int = 100

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("date_from", "date_to", "station", "wearer", "tag", "case", "limit")
                if getattr(self, k) is not None}


def _bound(text: str, end: bool) -> str:
    # A bare date means the whole day; everything else is an ISO time.
    if len(text) == 10:
        text += "T23:59:59.999Z" if end else "T00:00:00.000Z"
    return iso(parse_iso(text))


def _sql(q: Query) -> tuple[str, list[Any]]:
    where = ["state='catalogued'"]
    args: list[Any] = []
    for col, val in (("station", q.station), ("wearer_id", q.wearer), ("tag", q.tag), ("case_number", q.case)):
        if val is not None:
            where.append(f"{col}=?")
            args.append(val)
    if q.date_from:
        where.append("started_at>=?")
        args.append(_bound(q.date_from, end=False))
    if q.date_to:
        where.append("started_at<=?")
        args.append(_bound(q.date_to, end=True))
    sql = (f"SELECT {COLUMNS}, EXISTS(SELECT 1 FROM holds h WHERE h.recording_id=recordings.id "
           f"AND h.released_at IS NULL) AS held FROM recordings WHERE {' AND '.join(where)} "
           "ORDER BY started_at DESC LIMIT ?")
    return sql, [*args, max(1, min(q.limit, 1000))]


def search(cat: Catalog, q: Query) -> list[dict[str, Any]]:
    sql, args = _sql(q)
    return [dict(r) for r in cat.all(sql, args)]


def explain(cat: Catalog, q: Query) -> list[str]:
    sql, args = _sql(q)
    return [str(r["detail"]) for r in cat.all("EXPLAIN QUERY PLAN " + sql, args)]
