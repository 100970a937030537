"""Versioned pydantic schemas for everything written to the log."""
