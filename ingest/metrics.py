"""The daemon's own metrics: Prometheus ``/metrics`` and the ``pipeline`` measurement in InfluxDB
(so Grafana needs one datasource). Counts and timings only, never reading values."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.influx.line_protocol import line


class PipelineMetrics:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter("vitalstream_records", "Kafka records consumed", registry=r)
        self.readings = Counter("vitalstream_readings", "valid readings scored", registry=r)
        self.points = Counter(
            "vitalstream_points_written", "points acknowledged by InfluxDB", registry=r
        )
        self.dead_letters = Counter(
            "vitalstream_dead_letters", "records dead-lettered", ["reason"], registry=r
        )
        self.alerts = Counter(
            "vitalstream_alert_events", "alert lifecycle events", ["state"], registry=r
        )
        self.errors = Counter("vitalstream_errors", "sink and commit errors", ["kind"], registry=r)
        self.skipped = Counter(
            "vitalstream_records_skipped",
            "records already covered by restored device state",
            registry=r,
        )
        self.pauses = Counter(
            "vitalstream_backpressure_pauses",
            "times fetching paused because the sinks were behind",
            registry=r,
        )
        self.commits = Counter("vitalstream_commits", "offset commits", registry=r)
        self.state_refused = Counter(
            "vitalstream_device_state_refused",
            "device state records not restored (unreadable, or another engine state layout): "
            "fresh start",
            registry=r,
        )
        self.minutes_refused = Counter(
            "vitalstream_minute_state_refused",
            "device state records whose vitals_minute summaries were not restored (unreadable): "
            "the device's open minute starts afresh",
            registry=r,
        )
        self.lag = Gauge("vitalstream_consumer_lag", "records behind the log end", registry=r)
        self.pending = Gauge(
            "vitalstream_pending_points", "points buffered, not yet written", registry=r
        )
        self.paused = Gauge(
            "vitalstream_partitions_paused", "1 while backpressure pauses fetching", registry=r
        )
        self.devices = Gauge("vitalstream_devices", "devices with state in memory", registry=r)
        self.sink_failing = Gauge(
            "vitalstream_influx_write_failing",
            "0 writes succeed, 1 failing (transient), 2 refused (configuration: 401/403/404)",
            registry=r,
        )
        self.write_latency = Histogram(
            "vitalstream_write_latency_seconds",
            "InfluxDB write request latency",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.e2e_latency = Histogram(
            "vitalstream_reading_to_influx_seconds",
            "Kafka record timestamp to InfluxDB acknowledgement",
            registry=r,
            buckets=(
                0.05,
                0.1,
                0.25,
                0.5,
                0.75,
                1,
                1.5,
                2,
                3,
                5,
                7.5,
                10,
                15,
                20,
                30,
                60,
                120,
                300,
            ),
        )
        self._last_sample = (time.monotonic(), 0.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def _total(self, counter: Counter) -> float:
        return sum(
            s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")
        )

    @staticmethod
    def _current(gauge: Gauge) -> float:
        return sum(s.value for m in gauge.collect() for s in m.samples)

    def influx_line(self, now_ms: int, *, up: bool = True) -> str:
        """A snapshot of the counters as one ``pipeline`` point (wall-clock time)."""
        now = time.monotonic()
        readings = self._total(self.readings)
        last_t, last_n = self._last_sample
        rate = (readings - last_n) / (now - last_t) if now > last_t else 0.0
        self._last_sample = (now, readings)
        return line(
            "pipeline",
            {"instance": self.instance},
            {
                "records_total": int(self._total(self.records)),
                "readings_total": int(readings),
                "readings_per_s": rate,
                "points_written_total": int(self._total(self.points)),
                "dead_letters_total": int(self._total(self.dead_letters)),
                "alert_events_total": int(self._total(self.alerts)),
                "errors_total": int(self._total(self.errors)),
                "consumer_lag": int(self._current(self.lag)),
                "pending_points": int(self._current(self.pending)),
                "devices": int(self._current(self.devices)),
                "write_latency_s": self._mean(self.write_latency),
                "up": up,
            },
            now_ms,
        )

    def dead_letter_lines(self, now_ms: int) -> list[str]:
        """``pipeline_dead_letters`` points: the dead-letter counter per reason code."""
        return [
            line(
                "pipeline_dead_letters",
                {"instance": self.instance, "reason": s.labels["reason"]},
                {"dead_letters_total": int(s.value)},
                now_ms,
            )
            for metric in self.dead_letters.collect()
            for s in metric.samples
            if s.name.endswith("_total")
        ]

    @staticmethod
    def _mean(hist: Histogram) -> float:
        total = count = 0.0
        for metric in hist.collect():
            for s in metric.samples:
                if s.name.endswith("_sum"):
                    total = s.value
                elif s.name.endswith("_count"):
                    count = s.value
        return total / count if count else 0.0


class NotifyMetrics:
    """``vitalstream notify``'s metrics (Prometheus ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sent = Counter(
            "vitalstream_notifications_sent",
            "alert updates Alertmanager accepted (firing, re-sent, resolved)",
            ["state"],
            registry=r,
        )
        self.failed = Counter(
            "vitalstream_notifications_failed",
            "posts to Alertmanager that failed (retried, unless refused with a 4xx)",
            registry=r,
        )
        self.retried = Counter(
            "vitalstream_notifications_retried",
            "retries of a failed post to Alertmanager",
            registry=r,
        )
        self.dead_letters = Counter(
            "vitalstream_notify_dead_letters",
            "alert events dead-lettered by notify (malformed_alert_event, invalid_alert_event, "
            "alertmanager_rejected)",
            ["reason"],
            registry=r,
        )
        self.lag = Gauge(
            "vitalstream_notify_consumer_lag",
            "alert events behind the alerts topic's end",
            registry=r,
        )
        self.active = Gauge(
            "vitalstream_notify_active_alerts", "open alerts kept alive in Alertmanager", registry=r
        )
        self.orphans = Counter(
            "vitalstream_notify_orphans_resolved",
            "open alerts resolved by notify after notify.orphan_after_h without an event",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
