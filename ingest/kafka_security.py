"""aiokafka connection arguments from the settings (plaintext, TLS, SASL/SCRAM)."""

from __future__ import annotations

from typing import Any

from ingest.settings import Settings


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    k = settings.kafka
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": k.client_id,
        "request_timeout_ms": k.request_timeout_ms,
        "security_protocol": k.security_protocol,
    }
    if k.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        kwargs["ssl_context"] = create_ssl_context(
            cafile=str(k.ssl_cafile) if k.ssl_cafile else None
        )
    if k.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = k.sasl_mechanism or "SCRAM-SHA-512"
        kwargs["sasl_plain_username"] = k.sasl_username
        kwargs["sasl_plain_password"] = (
            k.sasl_password.get_secret_value() if k.sasl_password else None
        )
    return kwargs
