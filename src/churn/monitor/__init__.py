"""`churn monitor`: the model after release, on production data.

A window of rows the model scored (the prediction log, any table of raw rows, or a sample) is
compared with the model's training split: drift of each feature and of the predicted
probability, values outside the contract, blanks; with outcomes that arrive later (a labels
file joined by id), realized quality and a business metric per period. Thresholds are
`params.yaml: monitor:`; alerts fire on effect sizes, never on p-values. Output: Markdown (with
Mermaid charts) and JSON; exit 0 healthy, 1 an alert fired, 2 could not run.

Modules: `window` (where the rows come from), `outcomes` (labels file and join), `drift`,
`quality`, `verdict` (alerts), `render` (Markdown, JSON), `run` (the command).
"""
