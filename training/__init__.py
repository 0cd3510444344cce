"""Journey training: labels, training sets from Feast, LightGBM models, metrics, MLflow registry."""
