"""The synthetic-data generator (demo, tests, benchmarks)."""
