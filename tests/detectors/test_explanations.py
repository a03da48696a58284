"""Every alert worth a clinician's minute: each kind's explanation names what was seen, against
which personal baseline (or which population rule), for how long and in what context (at rest,
asleep, the wearer's clock time, data quality), with numbers rounded as a clinician reads them.

Each kind is driven by its labelled minute stream of the contract suite
(:data:`tests.detectors.kind_probe.STREAMS`: episodes from 02:00 UTC at rest, nights and days of
an ordinary life), so the figures the texts must carry are known.
"""

from __future__ import annotations

import re

import pytest

from detectors import AlertEvent, EngineConfig
from detectors.config import LocalTimeConfig
from detectors.kinds.registry import MODULES
from tests.detectors.kind_probe import DEVICE, STREAMS, Stream, alerts_on

_MODULES = {m.name: m for m in MODULES}


def _events(
    name: str, stream: Stream | None = None, cfg: EngineConfig | None = None
) -> list[AlertEvent]:
    """The lifecycle events of module ``name``'s kind, its stream fed minute by minute with a
    tick after each minute (as the contract suite feeds it)."""
    module = _MODULES[name]
    out = alerts_on(module, stream if stream is not None else STREAMS[name](1), cfg)
    return [e for e in out if e.kind == module.kind]


def _first(events: list[AlertEvent], state: str) -> str:
    return next(e.explanation for e in events if e.state == state)


def _check(text: str, *patterns: str) -> None:
    for p in patterns:
        assert re.search(p, text), f"{p!r} not in {text!r}"
    assert DEVICE not in text, "no raw device id in an explanation"
    # rounded as a clinician reads them: no bpm or % with decimals
    assert not re.search(r"\d\.\d+ (bpm|%)", text), text


#: per kind (module name): the event to read and what its text must say. Streams' episodes
#: start at 02:00 UTC at rest; heart rate ~66 bpm, SpO2 ~97 % between them.
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "tachycardia": (
        "open",
        (
            r"^Heart rate above 120 bpm for 10 min \(peak 1[34]\d bpm\)",  # rule, value seen
            r"while at rest, from 02:00 UTC",  # context and clock time
            r"personal resting baseline 6\d \+/- \d bpm\.",  # baseline and its spread
            r"Abrupt onset: from a level of about [67]\d bpm",  # how it began
        ),
    ),
    "bradycardia": (
        "open",
        (
            r"^Heart rate below 40 bpm for 10 min \(lowest 3\d bpm\)",
            r"while at rest, from 02:00 UTC",
            r"personal resting baseline 6\d \+/- \d bpm\.",
        ),
    ),
    "abrupt_hr_change": (
        "open",
        (
            r"^Heart rate rose abruptly to (9\d|10\d) bpm",
            r"at least 25 bpm above the personal resting baseline of 6\d \+/- \d bpm",
            r"for 3 min while at rest, from 02:00 UTC\.",
            r"jump from a level of about [67]\d bpm",
        ),
    ),
    "hr_activity_decoupling": (
        "open",
        (
            r"for 20 min while at rest, from 02:00 UTC\.",
            r"Heart rate (9\d|10\d) bpm at rest, at least 25 bpm above the personal resting "
            r"baseline of 6\d \+/- \d bpm\.",
        ),
    ),
    "low_spo2": (
        "open",
        (
            r"^SpO2 below 90 % for 5 min \(lowest 8\d %\) while at rest, from 02:00 UTC; ",
            r"personal SpO2 baseline 9\d \+/- \d %\.",
        ),
    ),
    "desaturation": (
        "open",
        (
            r"^SpO2 dipped 4\+ points below the personal baseline of 9\d \+/- \d %",
            r"\(lowest 9\d %\) over ",
            r"while at rest",
            r"\d+ dips in this cluster",
        ),
    ),
    "elevated_resting_hr": (
        "open",
        (
            r"^Resting heart rate \(mean asleep, by the device's sleep staging\) elevated for "
            r"33 h 59 min from 3 Jan 23:00 UTC\.",
            r"Last night 6\d bpm asleep, \d+ bpm above the personal baseline of 5\d \+/- \d bpm "
            r"\(~28 nights\)",
            r"for 2 consecutive nights",
        ),
    ),
    "sleep_disruption": (
        "open",
        (
            r"^Sleep disrupted \(by the device's sleep staging\) for 29 h 59 min from 4 Jan ",
            r"Disrupted on 2 of the last 3 nights",
            r"the latest disrupted night was short.*: 4 h asleep against a personal "
            r"7 h \d+ min \+/- \d+ min, efficiency \d+% \(usual \d+%\)",
        ),
    ),
    "unusual_inactivity": (
        "open",
        (
            r"^Unusually inactive for 3 h from 09:00 UTC: about 0 steps/hour in hours when this "
            r"person usually takes about \d{3,4}; awake \(by the device's sleep staging\) and "
            r"wearing the device\. Averaged over 3 unusual awake hours\.$",
        ),
    ),
    "flatline": (
        "open",
        (
            r"^Heart rate stuck at exactly 64 bpm for 1\d min from 02:00 UTC: ",
            r"data quality, not a clinical finding",
        ),
    ),
    "impossible_value": (
        "resolved",
        (
            r"^Physically impossible values for 7 min from 02:00 UTC\. ",
            r"Latest: heart rate (29\d|30\d) bpm, outside the possible 20-250 bpm \(data "
            r"quality",
        ),
    ),
    "off_wrist": (
        "open",
        (r"^Device off the wrist for 20 min from 01:59 UTC\. ", r"No heart rate and no motion"),
    ),
    "dropout": (
        "open",
        (
            r"^Data dropout for 10 min from 01:59 UTC\. ",
            r"No heart rate or SpO2 while the device is worn",
        ),
    ),
    "device_silent": (
        "open",
        (r"^No data from the device for 45 min from 01:59 UTC \(data quality\)\.$",),
    ),
    "clock_skew": (
        "resolved",
        (r"^Device clock skew for 1 h from 02:59 UTC\. ", r"jumped back by about 59 min"),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_explanation_names_value_baseline_duration_and_context(name: str) -> None:
    state, patterns = CASES[name]
    _check(_first(_events(name), state), *patterns)


def test_every_kind_but_illness_has_its_case() -> None:
    # illness: its texts are that kind's own (docs/illness.md, tests/detectors/test_illness*)
    assert set(CASES) == set(STREAMS) - {"illness"}


def test_an_alert_just_opened_says_when_not_for_zero_seconds() -> None:
    text = _first(_events("impossible_value"), "open")
    assert " for 0 s" not in text, text
    _check(text, r"^Physically impossible values from 02:00 UTC\. ")


def test_resolved_says_how_long_it_lasted() -> None:
    assert re.search(r"for 29 min .* Resolved", _first(_events("tachycardia"), "resolved"))


def test_the_clock_time_is_the_wearers_own_when_known() -> None:
    cfg = EngineConfig(local_time=LocalTimeConfig(timezone="-07:00"))
    text = _first(_events("bradycardia", cfg=cfg), "open")
    # 02:00 UTC is 19:00 the evening before in UTC-7 (the alert opened that evening)
    _check(text, r"while at rest, from 19:00 local time;")


def test_activity_unknown_without_steps_is_said() -> None:
    stream = [
        ({k: v for k, v in x.items() if k != "steps"}, bad) for x, bad in STREAMS["bradycardia"](1)
    ]
    _check(
        _first(_events("bradycardia", stream), "open"),
        r"with activity unknown \(the device sends no steps\), from 02:00 UTC",
    )


def test_a_baseline_not_yet_learned_is_called_the_population_prior() -> None:
    # the first episode 10 minutes after the device's first reading: the rule (below 40 bpm)
    # holds, but the resting baseline is still the population prior
    stream = [(x, bad) for x, bad in STREAMS["bradycardia"](1)[110:]]
    _check(
        _first(_events("bradycardia", stream), "open"),
        r"personal resting baseline 6\d bpm, not yet personal \(under 1 h of data: the "
        r"population prior\)\.",
    )


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_kind_says_how_long_and_since_when(name: str) -> None:
    ev = _events(name)
    assert ev, f"{name}: its stream raised no alert"
    for e in ev:
        if e.ts_ms - e.start_ms >= 1000:  # one that has just opened says only since when
            assert re.search(r"\d+ (s|min|h|days)\b", e.explanation), e.explanation
        # illness: its texts are that kind's own (docs/illness.md)
        if name != "illness":
            assert re.search(r"\d\d:\d\d (UTC|local time)", e.explanation), e.explanation
