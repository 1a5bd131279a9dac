"""The DVC stages, one module each (`dvc.yaml` runs them as `churn <stage>`): fetch the raw
data, prepare the split, train, evaluate, compile."""
