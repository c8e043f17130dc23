"""Drivers: the sources of readings (hj212, mqtt, http push) and the Modbus poller."""
