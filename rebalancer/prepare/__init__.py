"""Prepare: one account under one scenario, made ready for the optimizer (``request``)."""
