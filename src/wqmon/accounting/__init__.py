"""The annual accounting cycle: county accounts, city review and report, province findings,
the results applied and their publication (docs/accounting.md)."""
