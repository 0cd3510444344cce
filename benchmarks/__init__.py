"""Benchmarks: timed runs that print a table and write JSON under benchmarks/results/."""
