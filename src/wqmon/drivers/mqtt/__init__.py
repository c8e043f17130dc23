"""MQTT subscriber driver with PUBACK after commit."""
