"""HJ 212-2017 (and HJ/T 212-2005) over TCP: framer, parser, server, logger simulator."""
