# the atheris entry point runs under libFuzzer (`make fuzz`), not under pytest
collect_ignore = ["fuzz_records.py"]
