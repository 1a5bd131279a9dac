"""Steps of the CI workflows that are not pipeline stages: the PR artifact hand-over, the
image smoke test, the model card and the model registration."""
