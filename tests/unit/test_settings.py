from __future__ import annotations

import os
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
