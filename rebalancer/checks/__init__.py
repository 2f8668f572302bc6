"""Checks: every limit re-measured on the final trades, from the inputs alone (``measure``)."""
