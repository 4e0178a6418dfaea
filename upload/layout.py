"""The vault's folder layout, shared by every target: <root>/<station>/<yyyy>/<mm>/<dd>/<file>."""

from __future__ import annotations

from datetime import UTC

from station.outbox.target import DeliveryItem


def relative_dir(item: DeliveryItem) -> str:
    day = item.started_at.astimezone(UTC)
    return f"{item.station_id}/{day:%Y}/{day:%m}/{day:%d}"
