"""Helpers the tests share (tests/conftest.py wraps them in fixtures): generated projects, the pandas
oracle of the feature build, a headless-Chromium driver and the test environment's services."""
