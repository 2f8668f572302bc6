"""Solve: the optimizer driven to an answer, and whether that answer is one step of a path (``path``)."""
