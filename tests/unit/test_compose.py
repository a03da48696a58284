"""compose.yaml validates against the Compose specification and matches the local stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ingest.settings import ALERTMANAGER_VERSION, INFLUXDB_VERSION, KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
# compose-go is the library `docker compose` itself uses; its module ships the spec's schema
COMPOSE_GO = "github.com/compose-spec/compose-go/v2@v2.16.2"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    go = shutil.which("go")
    assert go is not None, "go is needed to fetch the Compose schema from the Go module proxy"
    out = subprocess.run(
        [go, "mod", "download", "-json", COMPOSE_GO],
        capture_output=True,
        text=True,
        check=True,
        env={"GOTOOLCHAIN": "local", **_go_env()},
    )
    schema_path = Path(json.loads(out.stdout)["Dir"]) / "schema" / "compose-spec.json"
    return json.loads(schema_path.read_text())  # type: ignore[no-any-return]


def _go_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "GOFLAGS"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_file_is_valid_against_the_spec(
    compose_schema: dict[str, Any], compose: dict[str, Any]
) -> None:
    jsonschema.validate(compose, compose_schema)


def test_schema_rejects_a_broken_file(compose_schema: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"x": {"image": 5, "ports": "nope"}}}, compose_schema)


def test_compose_uses_the_local_stack_versions(compose: dict[str, Any]) -> None:
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["kafka"] == f"apache/kafka:{KAFKA_VERSION}"
    assert images["influxdb"] == f"influxdb:{INFLUXDB_VERSION.lstrip('v')}"
    assert images["alertmanager"] == f"prom/alertmanager:{ALERTMANAGER_VERSION}"


def test_notify_runs_against_the_alertmanager_with_the_provisioned_routing(
    compose: dict[str, Any],
) -> None:
    svc = compose["services"]
    assert svc["notify"]["command"] == ["notify"]
    assert svc["notify"]["image"] == svc["vitalstream"]["image"]
    assert svc["notify"]["environment"]["VITALSTREAM_ALERTMANAGER__URL"] == (
        "http://alertmanager:9093"
    )
    assert svc["notify"]["depends_on"]["alertmanager"] == {"condition": "service_healthy"}
    # the config is rendered by vitalstream itself from the one routing example
    assert svc["alertmanager-config"]["command"][:2] == ["stack", "alertmanager-config"]
    assert "--config.file=/config/alertmanager.yml" in svc["alertmanager"]["command"]
    assert svc["alertmanager"]["depends_on"]["alertmanager-config"] == {
        "condition": "service_completed_successfully"
    }


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if re.fullmatch(r"kafka|influxdb", name):
            assert "healthcheck" in svc, name
        if svc.get("restart") != "no":  # long-running services; one-shot jobs are exempt
            assert svc.get("healthcheck", {}).get("test"), name


# ---------------------------------------------------------------- the whole system (issue 6)


def test_the_whole_system_runs(compose: dict[str, Any]) -> None:
    svc = compose["services"]
    assert {"kafka", "influxdb", "vitalstream", "grafana", "simulator", "report"} <= set(svc)
    daemon = svc["vitalstream"]
    assert daemon["build"] == "."
    assert daemon["command"] == ["ingest"]
    assert daemon["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "influxdb": {"condition": "service_healthy"},
    }
    for job in ("simulator", "report"):
        assert svc[job]["image"] == daemon["image"], "jobs reuse the daemon's image"
        assert svc[job]["profiles"], f"{job} only runs when asked for"
    assert "profiles" not in daemon
    assert "profiles" not in svc["grafana"]
    assert svc["simulator"]["command"][0] == "simulate"
    # the OSS image (grafana/grafana-oss is no longer updated from 12.4), pinned
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", svc["grafana"]["image"])


def test_configuration_by_environment_and_no_literal_secrets(compose: dict[str, Any]) -> None:
    secret = re.compile(r"TOKEN|PASSWORD|KEY")
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: environment as a mapping"
        for key, value in env.items():
            if secret.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", str(value)), (name, key)
    daemon_env = compose["services"]["vitalstream"]["environment"]
    assert daemon_env["VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert daemon_env["VITALSTREAM_INFLUXDB__URL"] == "http://influxdb:8086"
    influx_init = compose["services"]["influxdb"]["environment"]
    assert daemon_env["VITALSTREAM_INFLUXDB__ORG"] == influx_init["DOCKER_INFLUXDB_INIT_ORG"]
    assert daemon_env["VITALSTREAM_INFLUXDB__BUCKET"] == influx_init["DOCKER_INFLUXDB_INIT_BUCKET"]


def test_ports_only_on_loopback(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    used = set()
    for svc in compose["services"].values():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == set(compose["volumes"])
    assert "grafana-data" in used


def test_grafana_gets_the_provisioning_and_its_environment(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/vitalstream.yaml").read_text()
    )["providers"][0]
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    for local in mounts.values():
        if local.startswith("./"):
            assert (ROOT / local).is_dir(), local
    datasource = (ROOT / "grafana/provisioning/datasources/influxdb.yaml").read_text()
    needed = set(re.findall(r"\$\{(\w+)\}", datasource))
    assert needed
    assert needed <= set(grafana["environment"]), "every ${VAR} of the datasource is set"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (ROOT / "grafana/dashboards" / home.rsplit("/", 1)[1]).is_file()


def test_dockerfile_builds_a_non_root_image_with_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM python:(\d+)\.(\d+)", text, re.M)
    assert froms
    assert all((int(a), int(b)) >= (3, 11) for a, b in froms), "requires-python >= 3.11"
    assert re.search(r"^USER vitalstream$", text, re.M)
    assert 'ENTRYPOINT ["vitalstream"]' in text
    # the wheel carries the named scenarios (package data) and the compiled engine path; the
    # image checks both when it is built
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "scenarios/*.toml" in setuptools["package-data"]["simulators"]
    assert "load_scenario(" in text
    assert re.search(r"apt-get install .*\bgcc\b", text), "a C compiler in the build stage"
    assert "COMPILED" in text
    for package in ("messages", "detectors", "simulators", "ingest"):
        assert re.search(rf"^COPY {package} {package}$", text, re.M), package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


# ---------------------------------------------------------------- settings the containers get

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def _container_env(env: dict[str, Any]) -> dict[str, str]:
    """``environment`` as a container gets it from an ``.env`` that sets only the required
    secrets: ``${X:-default}`` -> default, ``${X:?message}`` -> a stand-in secret."""

    def value(m: re.Match[str]) -> str:
        return m.group(3) if m.group(2) == "-" else f"stand-in-{m.group(1).lower()}-0123456789"

    return {k: _INTERPOLATION.sub(value, str(v)) for k, v in env.items()}


def _settings_field(name: str) -> bool:
    """Whether ``VITALSTREAM_A__B__C`` names a field of :class:`Settings` (``a.b.c``)."""
    from pydantic import BaseModel

    from ingest.settings import Settings

    model: type[BaseModel] = Settings
    *path, last = name.removeprefix("VITALSTREAM_").lower().split("__")
    for part in path:
        field = model.model_fields.get(part)
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return False
        model = field.annotation
    return last in model.model_fields


def _vitalstream_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image") == "vitalstream:local"
    }


def test_every_vitalstream_variable_in_compose_is_a_settings_field(
    compose: dict[str, Any],
) -> None:
    names = [
        key
        for svc in compose["services"].values()
        for key in (svc.get("environment") or {})
        if key.startswith("VITALSTREAM_")
    ]
    assert len(names) > 10
    assert [n for n in names if not _settings_field(n)] == []
    # the check itself tells a typo from a field
    assert not _settings_field("VITALSTREAM_INGEST__INSTANCEID")
    assert not _settings_field("VITALSTREAM_INGEST__GROUP_ID__X")
    assert _settings_field("VITALSTREAM_DETECTION__QUALITY__PRESENCE_LEARN_DAYS")


def test_every_vitalstream_container_gets_settings_that_load(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each container would build at start, with only the required secrets set: the
    settings validate, and the secrets the daemon reads at start are there."""
    import os

    from ingest.settings import Settings

    services = _vitalstream_services(compose)
    assert {"vitalstream", "notify", "simulator", "report", "alertmanager-config"} <= set(services)
    for name, svc in services.items():
        for key in [k for k in os.environ if k.startswith("VITALSTREAM_")]:
            monkeypatch.delenv(key)
        for key, value in _container_env(svc.get("environment") or {}).items():
            monkeypatch.setenv(key, value)
        s = Settings()
        if "VITALSTREAM_INFLUXDB__URL" in (svc.get("environment") or {}):
            assert s.influx_token(), name
            assert s.pseudonym_key(), name


def test_the_daemon_keeps_its_transactional_id_across_container_restarts(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's host name is its random id unless set: the transactional id must not
    depend on it, or a re-created daemon would not fence its zombie."""
    import socket

    from ingest.settings import Settings

    daemon = compose["services"]["vitalstream"]
    assert daemon["hostname"]
    env = _container_env(daemon["environment"])
    ids = []
    for host in ("3f2a9c0d1b7e", "a81d44e0c2f9"):  # two container ids
        monkeypatch.setattr(socket, "gethostname", lambda host=host: host)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        ids.append(Settings().transactional_id)
    assert ids[0] == ids[1]
    assert (
        ids[0] == f"{env['VITALSTREAM_INGEST__GROUP_ID']}.{env['VITALSTREAM_INGEST__INSTANCE_ID']}"
    )


def test_alertmanager_can_reach_the_default_webhook_on_the_docker_host(
    compose: dict[str, Any],
) -> None:
    default = compose["services"]["alertmanager-config"]["environment"][
        "VITALSTREAM_ALERTMANAGER__WEBHOOK_URL"
    ]
    if "host.docker.internal" in default:
        hosts = compose["services"]["alertmanager"].get("extra_hosts", [])
        assert "host.docker.internal:host-gateway" in hosts


def test_every_stateful_service_keeps_its_data_on_a_named_volume(compose: dict[str, Any]) -> None:
    """Where each image keeps its data must be a volume, or re-creating the container (a new
    image, a changed setting) loses it: Kafka's topics, offsets and device state above all."""
    svc = compose["services"]
    data_dirs = {
        # apache/kafka writes to KAFKA_LOG_DIRS, /tmp/kraft-combined-logs when unset
        "kafka": svc["kafka"]["environment"].get(
            "KAFKA_LOG_DIRS",
            "/tmp/kraft-combined-logs",  # noqa: S108 - the image's default
        ),
        "influxdb": "/var/lib/influxdb2",
        "grafana": "/var/lib/grafana",
        "alertmanager": next(
            a.split("=", 1)[1] for a in svc["alertmanager"]["command"] if "--storage.path=" in a
        ),
    }
    for name, data_dir in data_dirs.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc[name]["volumes"]}
        assert data_dir in mounts, f"{name}: {data_dir} is not on a volume"
        assert mounts[data_dir] in compose["volumes"], name
