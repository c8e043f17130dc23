"""Balance engine: hourly point loads, plant and region accounts, reports."""
