"""Journey serving: loading champion models, scoring, explanations and the BentoML HTTP service."""
