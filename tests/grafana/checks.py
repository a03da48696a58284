"""Static checks of Grafana provisioning and dashboards: each returns a list of problems."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.grafana_sim import iter_panels, iter_queries, variable_names

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
ENV_REF = re.compile(r"^\$\{?([A-Z_][A-Z0-9_]*)\}?$")
BUILTIN_VARS = {"__all", "__interval", "__interval_ms", "__range", "__rate_interval"}
# panel types without data or axes
NO_UNIT_TYPES = {"row", "text", "dashlist", "news"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def check_datasources(doc: Mapping[str, Any]) -> list[str]:
    errs = []
    if doc.get("apiVersion") != 1:
        errs.append("apiVersion must be 1")
    uids: set[str] = set()
    for ds in doc.get("datasources") or []:
        name = ds.get("name", "?")
        uid = ds.get("uid")
        if not uid:
            errs.append(f"{name}: no uid (dashboards reference datasources by uid)")
        elif uid in uids:
            errs.append(f"{name}: duplicate uid {uid}")
        uids.add(uid)
        if ds.get("type") != "influxdb":
            continue
        jd = ds.get("jsonData") or {}
        if jd.get("version") != "Flux":
            errs.append(f"{name}: jsonData.version must be Flux")
        for key, where in (
            ("url", ds),
            ("organization", jd),
            ("defaultBucket", jd),
            ("token", ds.get("secureJsonData") or {}),
        ):
            value = where.get(key)
            if not isinstance(value, str) or not ENV_REF.match(value):
                errs.append(f"{name}: {key} must come from the environment, not {value!r}")
    return errs


def check_providers(doc: Mapping[str, Any]) -> list[str]:
    errs = []
    if doc.get("apiVersion") != 1:
        errs.append("apiVersion must be 1")
    providers = doc.get("providers") or []
    if not providers:
        errs.append("no dashboard provider")
    for p in providers:
        if p.get("type") != "file":
            errs.append(f"{p.get('name')}: type must be file")
        if not str((p.get("options") or {}).get("path", "")).startswith("/"):
            errs.append(f"{p.get('name')}: options.path must be an absolute path in the container")
    return errs


def _overlap(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check_dashboard(dashboard: Mapping[str, Any], datasource_uids: set[str]) -> list[str]:
    errs = []
    for key in ("uid", "title", "schemaVersion", "panels", "time"):
        if key not in dashboard:
            errs.append(f"missing top-level {key}")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ids: set[object] = set()
    cells: list[tuple[object, dict[str, int]]] = []
    for panel in iter_panels(dashboard):
        pid = panel.get("id")
        if not isinstance(pid, int):
            errs.append(f"panel {panel.get('title')!r}: id must be an integer")
        if pid in ids:
            errs.append(f"duplicate panel id {pid}")
        ids.add(pid)
        gp = panel.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")):
            errs.append(f"panel {pid}: gridPos needs integer x, y, w, h: {gp}")
            continue
        if gp["x"] < 0 or gp["y"] < 0 or gp["w"] < 1 or gp["h"] < 1 or gp["x"] + gp["w"] > 24:
            errs.append(f"panel {pid}: gridPos outside the 24 columns: {gp}")
        cells.append((pid, gp))
        if panel.get("type") not in NO_UNIT_TYPES:
            unit = (panel.get("fieldConfig") or {}).get("defaults", {}).get("unit")
            if not unit:
                errs.append(f"panel {pid}: no unit in fieldConfig.defaults")
            if not panel.get("targets"):
                errs.append(f"panel {pid}: no query")
        for obj in [panel, *(panel.get("targets") or [])]:
            ds = obj.get("datasource")
            if panel.get("type") == "row" and ds is None:
                continue
            uid = ds.get("uid") if isinstance(ds, dict) else None
            if uid not in datasource_uids:
                errs.append(f"panel {pid}: datasource {ds!r} is not a provisioned datasource")
    for i, (a, ga) in enumerate(cells):
        for b, gb in cells[i + 1 :]:
            if _overlap(ga, gb):
                errs.append(f"panels {a} and {b} overlap")
    for ann in dashboard.get("annotations", {}).get("list", []):
        if ann.get("builtIn"):
            continue
        uid = (ann.get("datasource") or {}).get("uid")
        if uid not in datasource_uids:
            errs.append(f"annotation {ann.get('name')!r}: datasource {uid!r} not provisioned")
    for name, var in variables.items():
        if (
            var.get("type") == "query"
            and (var.get("datasource") or {}).get("uid") not in datasource_uids
        ):
            errs.append(f"variable {name}: datasource not provisioned")
    for where, _owner, query in iter_queries(dashboard):
        for name in variable_names(query):
            if name not in variables and name not in BUILTIN_VARS:
                errs.append(f"{where}: uses undeclared variable ${name}")
                continue
            var = variables.get(name) or {}
            if var.get("multi") or var.get("includeAll"):
                pattern = r"\$\{" + re.escape(name) + r":(regex|pipe|csv|json|doublequote)\}"
                uses = re.findall(r"\$\{?" + re.escape(name) + r"\b[^}\s]*\}?", query)
                if not all(re.fullmatch(pattern, u) for u in uses):
                    errs.append(f"{where}: multi-value ${name} used without a format: {uses}")
        if query.strip() and "from(bucket:" in query and "v.defaultBucket" not in query:
            errs.append(f"{where}: bucket not taken from the datasource (v.defaultBucket)")
        if re.search(r'from\(bucket:\s*"', query):
            errs.append(f"{where}: hard-coded bucket")
        if "range(" in query and "v.timeRangeStart" not in query:
            errs.append(f"{where}: range ignores the dashboard time (v.timeRangeStart)")
    return errs
