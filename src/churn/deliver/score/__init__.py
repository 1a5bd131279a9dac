"""Served as data: `churn score` pre-scores a table (`run`) into the score store
(`churn.artifacts.score_store`), which the service reads with one primary-key lookup."""
