from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import ConfigError
from ingest.privacy import Pseudonymizer, pseudonym
from ingest.settings import Settings


def test_pseudonyms_are_keyed_stable_and_distinct() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert pseudonym(a, "watch-1") == pseudonym(a, "watch-1")
    assert pseudonym(a, "watch-1") != pseudonym(b, "watch-1"), "rotation changes pseudonyms"
    assert pseudonym(a, "watch-1") != pseudonym(a, "watch-2")
    assert "watch" not in pseudonym(a, "watch-1")
    assert len({pseudonym(a, f"d{i}") for i in range(20_000)}) == 20_000


def test_off_means_identity() -> None:
    assert Pseudonymizer(None)("watch-1") == "watch-1"
    assert not Pseudonymizer(None).enabled


def test_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALSTREAM_INFLUXDB__URL", "http://influx.example:8086")
    with pytest.raises(ConfigError, match="VITALSTREAM_PRIVACY__KEY"):
        Settings().pseudonym_key()
    key = tmp_path / "key"
    key.write_text("0123456789abcdef0123\n")
    monkeypatch.setenv("VITALSTREAM_PRIVACY__KEY_FILE", str(key))
    assert Settings().pseudonym_key() == b"0123456789abcdef0123"
    key.write_text("short")
    with pytest.raises(ConfigError, match="shorter"):
        Settings().pseudonym_key()
    monkeypatch.setenv("VITALSTREAM_PRIVACY__PSEUDONYMIZE", "false")
    assert Settings().pseudonym_key() is None
