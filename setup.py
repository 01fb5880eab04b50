"""The optional C extension (everything else is in pyproject.toml): the OTLP/JSON transcoder of the file
exporter. ``optional=True``: without a compiler or the Python headers the install goes on, and the collector
uses its Python encoder (same output, slower)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collector.otlpjson._ctranscode",
            sources=["collector/otlpjson/_transcode.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        ),
    ],
)
