"""`wqmon demo`: embedded PostgreSQL and MQTT broker, ingest, API and a simulated city."""
