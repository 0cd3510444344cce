"""Shared contract: the typed configuration, the input-table schema and the journey vocabulary."""
