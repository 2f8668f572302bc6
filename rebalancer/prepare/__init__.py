"""Prepare: one account under one scenario, made ready for the optimizer: the inputs
read and their shared cache (``inputs``), the account's settings (``terms``), the
``Request`` (``request``) and the steps that make it (``build.prepare``)."""
