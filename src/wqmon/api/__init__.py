"""The FastAPI application and operator page."""
