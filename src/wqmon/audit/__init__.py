"""Data audit (docs/audit.md): marks, corrections, validity figures, coverage, daily reports.

`model` and `timeline` are pure; `store` reads and writes the audit tables; `validity`,
`coverage` and `daily` answer the bureau's questions from them and from the rollups.
"""
