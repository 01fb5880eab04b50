"""Exporters: one module (or package) per type; the type name is the module name and the YAML key."""
