"""Ingestion: source mappings, readers, rules, validation and the usability report."""
