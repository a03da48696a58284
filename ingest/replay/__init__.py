"""Offline runs of the detection engine: replay of recorded exports and labelled evaluation."""
