"""Decode cost per reading of each wire format, our own JSON as the baseline in the same run.

Run: ``.venv/bin/python bench/bench_formats.py [--readings N] [--repeat R]``

Every case decodes the same heart-rate readings (same devices, times and values), encoded as:

- ``own/ReadingDecoder``: our JSON through the hot-path decoder alone (the baseline, and what
  the daemon calls first for a record without headers: the other formats are only tried when
  it fails);
- ``own/RecordDecoder``: our JSON through :meth:`RecordDecoder.decode`, the dispatch the daemon
  uses for records that carry headers;
- ``omh/1``, ``fhir/1``: one Open mHealth data point / one FHIR Observation per record;
- ``omh/100``, ``fhir-bundle/100``: 100 readings per record (a series, a Bundle);
- ``fhir.resources/1``, ``fhir.resources-bundle/100`` (if installed): pydantic validation of the
  same Observations with the ``fhir.resources`` R4B models, without any mapping to readings,
  to show what a full FHIR validator would cost on this path.

Figures are microseconds per reading of process CPU time, best of ``--repeat`` runs. Prints a
table and writes JSON to ``bench/results/formats.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from messages import ReadingDecoder, encode_reading
from messages.formats import Decoded, RecordDecoder

RESULTS = Path(__file__).with_name("results")
START_MS = 1_767_225_600_000
NOW_MS = START_MS + 20 * 86_400_000
DEVICE = "watch-0001"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def readings(n: int) -> list[tuple[int, float]]:
    return [(START_MS + i * 5000, 55.0 + (i * 7) % 60) for i in range(n)]


def omh_point(items: list[tuple[int, float]]) -> bytes:
    schema = {"namespace": "omh", "name": "heart-rate", "version": "2.0"}
    header = {"id": "dp", "creation_date_time": iso(NOW_MS), "schema_id": schema}
    if len(items) == 1:
        (t, v), = items  # fmt: skip
        body: dict[str, Any] = {"heart_rate": {"value": v, "unit": "beats/min"},
                                "effective_time_frame": {"date_time": iso(t)}}  # fmt: skip
    else:
        body = {"heart_rate": [{"heart_rate": {"value": v, "unit": "beats/min"},
                                "effective_time_frame": {"date_time": iso(t)}}
                               for t, v in items]}  # fmt: skip
    return json.dumps({"header": header, "body": body}).encode()


def observation(t: int, v: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "device": {"reference": f"Device/{DEVICE}"},
        "effectiveDateTime": iso(t),
        "valueQuantity": {"value": v, "unit": "beats/minute",
                          "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip


def bundle(items: list[tuple[int, float]]) -> bytes:
    entries = [{"resource": observation(t, v)} for t, v in items]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


def cpu_us_per_reading(fn: Callable[[], int], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        n = fn()
        best = min(best, (time.process_time() - t0) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readings", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = readings(args.readings)
    own_dec = ReadingDecoder()
    rec_dec = RecordDecoder(own_dec)
    key = DEVICE.encode()
    own = [encode_reading(DEVICE, t, "heart_rate", v) for t, v in data]
    omh1 = [omh_point([r]) for r in data]
    fhir1 = [json.dumps(observation(t, v)).encode() for t, v in data]
    omh100 = [omh_point(data[i : i + 100]) for i in range(0, len(data), 100)]
    bundles = [bundle(data[i : i + 100]) for i in range(0, len(data), 100)]

    def run_own() -> int:
        for raw in own:
            own_dec.decode(raw, now_ms=NOW_MS)
        return len(own)

    def run_records(records: list[bytes]) -> Callable[[], int]:
        def go() -> int:
            n = 0
            for raw in records:
                out = rec_dec.decode(raw, None, key, now_ms=NOW_MS)
                if isinstance(out, Decoded):
                    assert not out.errors, out.errors[:1]
                    n += len(out.readings)
                else:
                    n += 1
            return n

        return go

    cases: dict[str, Callable[[], int]] = {
        "own/ReadingDecoder": run_own,
        "own/RecordDecoder": run_records(own),
        "omh/1": run_records(omh1),
        "omh/100": run_records(omh100),
        "fhir/1": run_records(fhir1),
        "fhir-bundle/100": run_records(bundles),
    }
    try:
        from fhir.resources.R4B.bundle import Bundle
        from fhir.resources.R4B.observation import Observation

        def run_fhir_resources() -> int:
            for raw in fhir1:
                Observation.model_validate_json(raw)
            return len(fhir1)

        def run_fhir_resources_bundle() -> int:
            for raw in bundles:
                Bundle.model_validate_json(raw)
            return len(bundles) * 100

        cases["fhir.resources/1"] = run_fhir_resources
        cases["fhir.resources-bundle/100"] = run_fhir_resources_bundle
    except ImportError:
        print("fhir.resources not installed: its cases are left out")
    results: dict[str, float] = {}
    base = cpu_us_per_reading(run_own, args.repeat)
    for name, fn in cases.items():
        results[name] = (
            base if name == "own/ReadingDecoder" else cpu_us_per_reading(fn, args.repeat)
        )
    print(f"{'case':<28}{'us/reading':>12}{'x own':>8}{'readings/s':>14}")
    for name, us in results.items():
        print(f"{name:<28}{us:>12.2f}{us / base:>8.1f}{1e6 / us:>14,.0f}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "command": "bench/bench_formats.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "readings": args.readings,
        "us_per_reading": results,
        "relative_to_own": {k: v / base for k, v in results.items()},
    }
    (RESULTS / "formats.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'formats.json'}")


if __name__ == "__main__":
    main()
