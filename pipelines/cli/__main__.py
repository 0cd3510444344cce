"""`python -m pipelines.cli`: the same app as the `journey` script."""

from pipelines.cli import app

app()
