"""The commands' library functions, one module each: what ``rebalancer propose``,
``whatif``, ``batch`` (``book``), ``validate`` and ``demo`` do once their options are
parsed, callable from Python with the same arguments. Each wires the stages (inputs,
scenario, the pipeline, export) and returns typed results; the command line only
parses, calls one of these and shows what it returns (docs/architecture.md).

Nothing is imported here: a command imports only the module it runs.
"""
