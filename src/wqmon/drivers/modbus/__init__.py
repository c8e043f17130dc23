"""Modbus TCP/RTU polling: register codecs, device profiles, bus hubs."""
