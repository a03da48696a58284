"""``vitalstream report``: an HTML page with PNG plots of alerts and vitals, for people without
Grafana. :mod:`ingest.report.data` reads InfluxDB, :mod:`ingest.report.render` writes files."""
