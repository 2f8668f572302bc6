"""Report: the optimizer's answer made into a checked ``Proposal`` (``build``, ``proposal``)."""
