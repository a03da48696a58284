"""One module per ``vitalstream`` subcommand (discovered by :mod:`ingest.cli`)."""
