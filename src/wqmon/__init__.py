"""wqmon: real-time ingestion of online water-quality meters and COD balance accounting."""

__version__ = "0.1.0"
