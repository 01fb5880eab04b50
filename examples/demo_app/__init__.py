"""A realistic FastAPI + SQLAlchemy app for the distro demo and tests; it contains no telemetry code."""
