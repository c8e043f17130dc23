"""Modbus register codecs, device profiles, read planning and readings. Pure code."""
