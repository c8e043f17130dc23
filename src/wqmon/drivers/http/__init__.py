"""HTTP push of readings (POST /api/v1/readings) decoding shared with MQTT."""
