"""Start and stop the health side of the daemon: the monitor, the local API socket and, when
configured, the LAN status page. Called by ``bodydock run`` after the station has started."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from config.model import StationConfig
from health.gather import Probes
from health.metrics import make_registry, monotonic_age
from health.monitor import HealthMonitor
from localapi.auth import Authenticator
from localapi.server import HttpServers, bind_tcp, bind_unix
from localapi.web import create_app
from station.core.alerts import Severity
from station.core.engine import Station
from station.crypto.keys import KeyFileError

log = logging.getLogger(__name__)
STATUS_HTTP_ALERT = "status-http"


@dataclass
class HealthService:
    monitor: HealthMonitor
    servers: HttpServers | None

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.stop()
        self.monitor.stop()


def start_health(cfg: StationConfig, station: Station, probes: Probes | None = None, *,
                 local_routes: Callable[[HealthMonitor], Sequence[BaseRoute]] | None = None) -> HealthService:
    """Start the monitor and the HTTP listeners. A listener that cannot start is logged and
    alerted, never fatal: the dock must keep handling cameras without its status page."""
    monitor = HealthMonitor(cfg, station, probes)
    monitor.start()
    loop_age = monotonic_age(lambda: station.last_loop)
    registry = make_registry(monitor.report, loop_age)
    tz = cfg.station.timezone
    listeners: list[tuple[ASGIApp, socket.socket]] = []
    try:
        # The kiosk's routes (localapi/kiosk/routes.py) exist on the local socket only.
        routes = local_routes(monitor) if local_routes is not None else ()
        listeners.append((create_app(monitor, registry, timezone=tz, language=cfg.station.language, local=True,
                                     loop_age=loop_age, routes=routes),
                          bind_unix(cfg.api_socket)))
    except OSError as exc:
        log.error("local API socket %s: %s", cfg.api_socket, exc)
        station.alerts.raise_("local-api", Severity.CRITICAL, f"the local API socket {cfg.api_socket} could "
                              f"not be opened ({exc}); the kiosk and `bodydock status` cannot reach the daemon")
    else:
        station.alerts.clear("local-api")
    http = cfg.health.http
    if http is not None:
        try:
            auth = Authenticator.from_config(http.auth)
            listeners.append((create_app(monitor, registry, timezone=tz, language=cfg.station.language, auth=auth,
                                         loop_age=loop_age),
                              bind_tcp(http.host, http.port)))
        except (OSError, ValueError, KeyFileError) as exc:
            log.error("status page on %s:%s: %s", http.host, http.port, exc)
            station.alerts.raise_(STATUS_HTTP_ALERT, Severity.WARN,
                                  f"the status page could not start on port {http.port}: {exc}")
        else:
            station.alerts.clear(STATUS_HTTP_ALERT)
    servers = None
    if listeners:
        servers = HttpServers(listeners)
        servers.start()
    return HealthService(monitor, servers)
