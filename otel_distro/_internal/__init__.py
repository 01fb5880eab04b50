"""Implementation of the distro; nothing here is public API (see `otel_distro.__all__`)."""
