"""Journey pipelines: composition of the steps and the `journey` command line."""
