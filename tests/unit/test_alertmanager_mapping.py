"""Alert events as Alertmanager alerts, and the routing example (ingest.alertmanager, stack)."""

from __future__ import annotations

import yaml

from detectors.types import AlertEvent
from ingest.alertmanager.mapping import labels, postable
from ingest.alertmanager.notifier import key_partition
from ingest.stack.alertmanager import RouteTimings, routing_config

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _event(state: str, *, severity: str = "critical", end_ms: int | None = None) -> AlertEvent:
    return AlertEvent(
        alert_id="pa1",
        device_id="pdev",
        kind="tachycardia_at_rest",  # type: ignore[arg-type]
        category="clinical",  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        start_ms=NOW - 600_000,
        ts_ms=NOW,
        end_ms=end_ms,
        peak_value=134.0,
        explanation="Heart rate above 120 bpm for 10 min while at rest",
    )


def test_labels_are_the_episode_identity_and_do_not_change_over_its_lifecycle() -> None:
    assert labels(_event("open")) == {
        "alertname": "tachycardia_at_rest",
        "severity": "critical",
        "category": "clinical",
        "device": "pdev",
        "alert_id": "pa1",
    }
    assert labels(_event("open")) == labels(_event("ongoing")) == labels(_event("resolved"))


def test_open_alert_is_valid_for_the_ttl_and_links_the_drilldown() -> None:
    p = postable(_event("open"), grafana_url="http://g:3000", now_ms=NOW, ttl_ms=240_000)
    assert p["startsAt"] == "2025-12-31T23:50:00+00:00"
    assert p["endsAt"] == "2026-01-01T00:04:00+00:00"
    assert p["annotations"]["description"].startswith("Heart rate above 120 bpm")
    assert p["annotations"]["dashboard"].startswith(
        "http://g:3000/d/vitalstream-device?var-device=pdev&"
    )
    assert p["generatorURL"] == p["annotations"]["dashboard"]


def test_resolved_alert_ends_at_its_end_but_never_in_the_future() -> None:
    past = postable(_event("resolved", end_ms=NOW - 60_000), grafana_url="g", now_ms=NOW, ttl_ms=1)
    assert past["endsAt"] == "2025-12-31T23:59:00+00:00"
    ahead = postable(_event("resolved", end_ms=NOW + 60_000), grafana_url="g", now_ms=NOW, ttl_ms=1)
    assert ahead["endsAt"] == "2026-01-01T00:00:00+00:00"


def test_key_partition_is_kafkas_default_partitioner() -> None:
    # values from Kafka's Java client (Utils.murmur2) for these keys, 6 partitions
    from aiokafka.partitioner import DefaultPartitioner

    for key in (b"pdev", b"p0123456789abcdef0123", b"watch-0001"):
        assert key_partition(key, 6) == DefaultPartitioner()(key, list(range(6)), list(range(6)))


def test_routing_example_routes_by_category_and_severity_and_inhibits_clinical_noise() -> None:
    cfg = yaml.safe_load(routing_config("http://hook:1/", RouteTimings(group_wait="1s")))
    route = cfg["route"]
    assert (route["receiver"], route["group_by"], route["group_wait"]) == (
        "wearer-team",
        ["device"],
        "1s",
    )
    by_receiver = {r["receiver"]: r for r in route["routes"]}
    assert by_receiver["technician"]["matchers"] == ['category="data_quality"']
    assert by_receiver["technician"]["repeat_interval"] == "24h"
    assert by_receiver["urgent"]["matchers"] == ['category="clinical"', 'severity="critical"']
    assert route["routes"][0]["receiver"] == "technician"  # before any clinical route
    (inhibit,) = cfg["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname=~"off_wrist|device_silent"']
    assert inhibit["target_matchers"] == ['category="clinical"']
    assert inhibit["equal"] == ["device"]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in cfg["receivers"]}
    assert urls == {
        "urgent": "http://hook:1/urgent",
        "wearer-team": "http://hook:1/wearer",
        "technician": "http://hook:1/technician",
    }


def test_a_relative_grafana_url_fails_at_start_not_at_every_post() -> None:
    import pytest
    from pydantic import ValidationError

    from ingest.settings import Settings

    with pytest.raises(ValidationError, match="absolute http"):
        Settings.model_validate({"alertmanager": {"grafana_url": "grafana:3000"}})
