"""``vitalstream loadtest``: drive the real stack with a paced simulated fleet and measure the
daemon (throughput, lag, latency, dead letters, CPU/RSS, recall). See ``docs/loadtest.md``."""
