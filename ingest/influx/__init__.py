"""InfluxDB output: our own line-protocol formatter and a batching, idempotent writer."""
