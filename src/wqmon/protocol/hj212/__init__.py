"""HJ 212 (2005, 2017, 2025) framing, packets, CRC, building and conversion to readings. Pure code."""
