"""Importers of personal health exports (Apple Health, Fitbit / Google Takeout) into the replay
CSV or the readings topic: streaming, so memory stays constant on multi-GB exports."""
