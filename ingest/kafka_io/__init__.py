"""Kafka plumbing of the daemon: topics, dead-letter records, the device-state changelog."""
