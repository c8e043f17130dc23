"""The ingest pipeline: validate, batch, store, acknowledge."""
