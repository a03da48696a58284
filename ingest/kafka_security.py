"""aiokafka connection arguments from the settings (plaintext, TLS, SASL/SCRAM)."""

from __future__ import annotations

from typing import Any

from ingest.settings import Settings


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    k = settings.kafka
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": k.client_id,
        "request_timeout_ms": k.request_timeout_ms,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        cafile = settings.kafka_ssl_cafile
        kwargs["ssl_context"] = create_ssl_context(cafile=str(cafile) if cafile else None)
    if protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = k.sasl_mechanism or "SCRAM-SHA-512"
        kwargs["sasl_plain_username"] = k.sasl_username
        kwargs["sasl_plain_password"] = (
            k.sasl_password.get_secret_value() if k.sasl_password else None
        )
    return kwargs
