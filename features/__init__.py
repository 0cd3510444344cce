"""Journey features: the input contract, stages, Ibis feature pipelines and Feast definitions."""
