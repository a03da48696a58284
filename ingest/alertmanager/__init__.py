"""Prometheus Alertmanager: vitalstream's alerts as Alertmanager alerts, its API v2, and the
``notify`` consumer that keeps the two in step."""
