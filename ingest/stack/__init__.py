"""The local development stack: real Kafka and InfluxDB on 127.0.0.1, installed on first use."""

from ingest.stack.manager import down, status, up

__all__ = ["down", "status", "up"]
