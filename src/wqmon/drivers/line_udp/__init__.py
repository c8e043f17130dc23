"""The example source of docs/drivers.md: reading lines over UDP."""
