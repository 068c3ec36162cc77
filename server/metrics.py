"""Prometheus metrics (prometheus-client), one registry per app.

Counters the hot paths already keep (``Fanout.stats``, the hub's replay counts) are
read at scrape time through collector callbacks, so delivering an event costs no
metric call per client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from events.bus import EventBus
from events.tail import LogTailer
from server.instance import Instance
from server.realtime.hub import SocketHub


class HubCollector(Collector):
    """Socket-side figures, read from the hub when Prometheus scrapes."""

    def __init__(self, hub: SocketHub, extra: Callable[[], Iterator[Metric]] | None = None):
        self.hub = hub
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        stats = self.hub.fanout.stats
        yield GaugeMetricFamily(
            "modeldeck_socket_clients", "Connected Socket.IO clients", value=self.hub.client_count
        )
        yield CounterMetricFamily(
            "modeldeck_events_broadcast", "Events broadcast to a room", value=stats.broadcasts
        )
        yield CounterMetricFamily(
            "modeldeck_event_deliveries", "Events delivered to one client", value=stats.deliveries
        )
        yield CounterMetricFamily(
            "modeldeck_replays_served", "Catch-ups sent on reconnect", value=self.hub.replays_served
        )
        yield CounterMetricFamily(
            "modeldeck_event_resets", "events:reset sent to too-old clients",
            value=self.hub.resets_sent,
        )  # fmt: skip
        yield CounterMetricFamily(
            "modeldeck_slow_consumer_disconnects",
            "Clients cut off for falling behind",
            value=stats.overflows,
        )
        yield GaugeMetricFamily(
            "modeldeck_client_queue_high_water_messages",
            "Most messages ever queued for one client",
            value=stats.queue_high_water,
        )
        yield GaugeMetricFamily(
            "modeldeck_client_queue_high_water_bytes",
            "Most bytes ever left unsent in one client's transport",
            value=self.hub.high_water_bytes,
        )
        if self.extra is not None:
            yield from self.extra()


def process_metrics(
    instance: Instance, bus: EventBus, tailer: LogTailer, supervises: Callable[[], bool]
) -> Callable[[], Iterator[Metric]]:
    """Which process answered, and how far it has delivered the shared event log."""

    def collect() -> Iterator[Metric]:
        info = InfoMetricFamily("modeldeck_process", "This modeldeck process")
        info.add_metric([], {"id": instance.id, "name": instance.name, "pid": str(instance.pid)})
        yield info
        yield GaugeMetricFamily(
            "modeldeck_events_delivered_seq", "Last seq delivered to this process's clients",
            value=bus.delivered_seq,
        )  # fmt: skip
        yield CounterMetricFamily(
            "modeldeck_events_tailed", "Events read from the log that other processes committed",
            value=tailer.tailed,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "modeldeck_supervises_proxies", "1 while this process holds the supervision lease",
            value=int(supervises()),
        )  # fmt: skip
        yield CounterMetricFamily(
            "modeldeck_event_gap_fills", "Times a gap in seq was filled from the log",
            value=bus.gap_fills,
        )  # fmt: skip

    return collect


class Metrics:
    """The app's registry and the HTTP request metrics."""

    def __init__(self, hub: SocketHub) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modeldeck_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "modeldeck_http_request_seconds", "HTTP request latency", ["method", "route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )  # fmt: skip
        self.extra: list[Callable[[], Iterator[Metric]]] = []
        self.registry.register(HubCollector(hub, self._extra))

    def _extra(self) -> Iterator[Metric]:
        for source in self.extra:
            yield from source()

    def observe(self, request: web.Request, status: int, started: float) -> None:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        if name.startswith("/socket.io"):
            return
        self.requests.labels(request.method, name, str(status)).inc()
        self.latency.labels(request.method, name).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)
