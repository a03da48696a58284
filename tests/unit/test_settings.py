from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.errors import ConfigError
from ingest.settings import Settings, load_settings


def test_env_overrides_nested_fields_and_keeps_secrets_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("VITALSTREAM_INFLUXDB__TOKEN", "canary-token-123")
    monkeypatch.setenv("VITALSTREAM_INGEST__MAX_BATCH_RECORDS", "42")
    s = Settings()
    assert s.bootstrap_servers == "broker:9092"
    assert s.ingest.max_batch_records == 42
    assert s.influx_token() == "canary-token-123"
    assert "canary-token-123" not in repr(s)
    assert "canary-token-123" not in s.model_dump_json()


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("VITALSTREAM_")]:
        monkeypatch.delenv(key)
    s = Settings()
    assert s.bootstrap_servers == f"127.0.0.1:{s.stack.kafka_port}"
    assert s.influx_url == f"http://127.0.0.1:{s.stack.influxdb_port}"
    assert s.stack.home.name == "stack"
    assert s.stack.home.parent.name == "var"


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "vs.toml"
    cfg.write_text('[topics]\nreadings = "from-toml"\ndead_letter = "dl-toml"\n')
    monkeypatch.setenv("VITALSTREAM_TOPICS__DEAD_LETTER", "dl-env")
    monkeypatch.delenv("VITALSTREAM_CONFIG", raising=False)
    s = load_settings(cfg)
    assert s.topics.readings == "from-toml"
    assert s.topics.dead_letter == "dl-env"


def test_token_from_file_and_clear_error_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("file-token\n")
    monkeypatch.setenv("VITALSTREAM_INFLUXDB__URL", "http://influx.example:8086")
    monkeypatch.setenv("VITALSTREAM_INFLUXDB__TOKEN_FILE", str(token))
    assert Settings().influx_token() == "file-token"
    monkeypatch.delenv("VITALSTREAM_INFLUXDB__TOKEN_FILE")
    with pytest.raises(ConfigError, match="VITALSTREAM_INFLUXDB__TOKEN"):
        Settings().influx_token()


def test_unknown_and_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALSTREAM_INGEST__MAX_BATCH_RECORDS", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_stack_home_is_resolved_through_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # services are recognised by their state path in the command line: a var/ reached through a
    # symlink must name the same path as the real directory, or `up` starts a second broker
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("VITALSTREAM_STACK__HOME", str(tmp_path / "link"))
    assert Settings().stack.home == real.resolve()


_SECRET_URL = "http://user:url-secret@grafana host:3000"


@pytest.mark.parametrize(
    ("env", "value", "reason"),
    [
        # a space in the host: Alertmanager would refuse every alert carrying the link (422)
        ("VITALSTREAM_ALERTMANAGER__GRAFANA_URL", _SECRET_URL, "no valid URL"),
        ("VITALSTREAM_ALERTMANAGER__URL", _SECRET_URL, "no valid URL"),
        # the back-off would refuse it at the first failed post, not at start
        ("VITALSTREAM_NOTIFY__RETRY_MAX_S", "0.1", "retry_max_s (0.1) is below"),
        # blank is no way to ask for the default (unset): an environment variable set to nothing
        ("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "", "is empty: unset it to use the local stack"),
        ("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "  ", "is empty: unset it to use the local"),
        ("VITALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,", "names an empty server"),
        ("VITALSTREAM_INFLUXDB__URL", "", "is empty: unset it to use the local stack's InfluxDB"),
        ("VITALSTREAM_ALERTMANAGER__URL", "", "is empty: unset it to use the default"),
        ("VITALSTREAM_ALERTMANAGER__GRAFANA_URL", " ", "is empty: unset it to use the default"),
        ("VITALSTREAM_INGEST__HTTP_HOST", "", "is empty: 0.0.0.0 listens on every interface"),
        ("VITALSTREAM_NOTIFY__HTTP_HOST", "", "is empty: 0.0.0.0 listens on every interface"),
    ],
)
def test_a_misconfiguration_fails_at_start_with_one_line_naming_the_setting(
    env: str,
    value: str,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ingest.cli import main

    monkeypatch.setenv(env, value)
    monkeypatch.setenv("VITALSTREAM_INFLUXDB__TOKEN", "canary-token-456")
    assert main(["ingest", "--check"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    # a model-level check (retry_max_s against retry_initial_s) names the section
    field = env.removeprefix("VITALSTREAM_").lower().replace("__", ".")
    field = "notify" if field == "notify.retry_max_s" else field
    assert err.startswith(f"vitalstream: invalid settings: {field}: ")
    assert reason in err
    assert "canary-token-456" not in err
    assert "url-secret" not in err


def test_invalid_settings_never_print_their_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.cli import main

    # a JSON object for a nested model: the error would quote the whole input, token included
    monkeypatch.setenv("VITALSTREAM_INFLUXDB", '{"token": "canary-token-789", "timeout_ms": -1}')
    assert main(["ingest", "--check"]) == 2
    err = capsys.readouterr().err
    assert "influxdb.timeout_ms: Input should be greater than 0" in err
    assert "canary-token-789" not in err


def test_valid_urls_pass_as_written() -> None:
    s = Settings.model_validate(
        {"alertmanager": {"url": "http://alertmanager:9093/", "grafana_url": "https://g.example/x"}}
    )
    assert s.alertmanager.grafana_url == "https://g.example/x"
    assert s.alertmanager_url == "http://alertmanager:9093"


@pytest.mark.parametrize(
    "env",
    [
        "VITALSTREAM_KAFKA__SSL_CAFILE",
        "VITALSTREAM_INFLUXDB__SSL_CA_CERT",
        "VITALSTREAM_ALERTMANAGER__CONFIG_FILE",
    ],
)
def test_a_file_setting_naming_no_file_fails_at_start(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.cli import main

    monkeypatch.setenv(env, str(tmp_path / "missing.pem"))
    assert main(["ingest", "--check"]) == 2
    err = capsys.readouterr().err
    field = env.removeprefix("VITALSTREAM_").lower().replace("__", ".")
    assert err == f"vitalstream: invalid settings: {field}: Path does not point to a file\n"
    (tmp_path / "missing.pem").write_text("present")
    assert Settings().model_dump()  # the same setting naming a file loads


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "cannot read settings file .*: No such file"), ("[ingest\n", "is no valid TOML")],
)
def test_a_settings_file_that_is_missing_or_no_toml_fails_at_start_with_one_line(
    content: str | None,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ingest.cli import main

    path = tmp_path / "vitalstream.toml"
    if content is not None:
        path.write_text(content)
    monkeypatch.delenv("VITALSTREAM_CONFIG", raising=False)
    try:
        assert main(["--config", str(path), "ingest", "--check"]) == 2
    finally:
        os.environ.pop("VITALSTREAM_CONFIG", None)  # load_settings sets it for the sources
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert re.search(reason, err), err


def test_a_blank_bootstrap_servers_in_the_settings_file_fails_and_unset_is_the_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("VITALSTREAM_")]:
        monkeypatch.delenv(key)
    cfg = tmp_path / "vs.toml"
    cfg.write_text('[kafka]\nbootstrap_servers = ""\n')
    try:
        with pytest.raises(ValidationError, match=r"kafka\.bootstrap_servers\n.*is empty"):
            load_settings(cfg)
        cfg.write_text('[kafka]\nclient_id = "vs"\n')
        s = load_settings(cfg)
    finally:
        os.environ.pop("VITALSTREAM_CONFIG", None)  # load_settings sets it for the sources
    assert s.bootstrap_servers == f"127.0.0.1:{s.stack.kafka_port}"
    assert s.kafka.bootstrap_servers is None


@pytest.mark.parametrize(
    ("url", "compress", "gzip"),
    [
        (None, "auto", False),  # the local stack
        ("http://localhost:8086", "auto", False),
        ("http://[::1]:8086", "auto", False),
        ("http://127.0.0.2:8086", "auto", False),
        ("https://influx.example:8086", "auto", True),
        ("http://10.0.0.5:8086", "auto", True),
        ("http://127.0.0.1:8086", "gzip", True),
        ("https://influx.example:8086", "none", False),
    ],
)
def test_influx_writes_are_gzipped_unless_influxdb_is_on_this_host(
    url: str | None, compress: str, gzip: bool
) -> None:
    s = Settings(influxdb={"url": url, "compress": compress})  # type: ignore[arg-type]
    assert s.influx_gzip is gzip
