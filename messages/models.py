"""The documented pydantic model of a reading message (the JSON Schema is exported from it).

The daemon's hot path uses :mod:`messages.codec`; both apply :data:`messages.METRICS`, and
``tests/test_messages.py`` checks that they accept and reject the same messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from messages.codec import (
    DEVICE_ID_PATTERN,
    InvalidReading,
    check_value,
    parse_metric,
    parse_ts,
)
from messages.metrics import Metric


class ReadingMessage(BaseModel):
    """One reading, as a device sends it to the readings topic (keyed by ``device_id``)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "device_id": "watch-0001",
                    "ts": 1767225600000,
                    "metric": "heart_rate",
                    "value": 61,
                },
                {
                    "device_id": "ring-0002",
                    "ts": "2026-01-01T02:00:30+01:00",
                    "metric": "sleep_stage",
                    "value": "deep",
                },
                {
                    "device_id": "watch-0001",
                    "ts": 1767225660000,
                    "metric": "steps",
                    "value": 84,
                    "interval_s": 60,
                },
            ]
        },
    )

    device_id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN, description="Stable device id")]
    ts: Annotated[
        int | str,
        Field(description="Device event time: epoch milliseconds or RFC 3339 with UTC offset"),
    ]
    metric: Annotated[Metric, Field(description="Which signal this reading is")]
    value: Annotated[
        float | str,
        Field(description="bpm, %, step count, or a sleep stage: awake|light|deep|rem"),
    ]
    unit: Annotated[
        str | None, Field(default=None, description="Optional; must match the metric's unit")
    ] = None
    interval_s: Annotated[
        float | None,
        Field(default=None, gt=0, le=86_400, description="Steps: seconds the count covers"),
    ] = None
    seq: Annotated[int | None, Field(default=None, description="Optional device sequence no.")] = (
        None
    )

    @model_validator(mode="after")
    def _check_against_metric_table(self) -> Self:
        from messages.metrics import METRICS

        try:
            parse_metric(self.metric.value)
            check_value(self.metric, self.value)
            parse_ts(self.ts)
        except InvalidReading as exc:
            raise ValueError(str(exc)) from None
        if self.unit is not None and self.unit != METRICS[self.metric].unit:
            raise ValueError(
                f"wrong_unit: {self.metric.value} must be in {METRICS[self.metric].unit}"
            )
        return self


def reading_json_schema() -> dict[str, Any]:
    """The JSON Schema of a reading message (written to ``docs/schemas/`` by ``make schemas``)."""
    return ReadingMessage.model_json_schema()
