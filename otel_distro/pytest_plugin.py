"""pytest plugin: in-memory OpenTelemetry exporters for app tests (fixtures land with the distro core)."""
