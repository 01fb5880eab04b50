"""Processors: one module per type; plain callables over a batch, ``batch`` the one stateful stage."""
