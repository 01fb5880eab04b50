# The two front doors: `make run` and `make test`. Everything a fresh machine needs is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-matrix lint typecheck system-deps venv bench clean
.PHONY: ui-test ui-build

# setup.py and the C source too: the install builds the collector's C extension in place
$(STAMP): pyproject.toml setup.py collector/otlpjson/_transcode.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel setuptools
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests start for real (Prometheus, promtool, Alertmanager + amtool, blackbox exporter).
# Installed when missing and running as root; otherwise the tests that need them say so and skip.
system-deps:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus-blackbox-exporter >/dev/null || missing="$$missing prometheus-blackbox-exporter"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$(echo $$missing | tr ' ' '\n' | sort -u) >/dev/null; \
	  else echo "warning: missing$$missing (not root: tests that need them will skip)"; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check otel_distro collector tests bench examples
	$(VENV)/bin/mypy

test: system-deps $(STAMP) lint ui-test
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-matrix

# The distro's tests again on the oldest OpenTelemetry and FastAPI releases pyproject.toml allows (their own venv,
# .venv-oldest, everything else at its newest) and once with the fast path off (OTEL_DISTRO_FAST_PATH=false: the plain
# SDK path); the run above is on the newest releases allowed (what a fresh install resolves). Widening the bounds means
# moving these pins too.
VENV_OLDEST ?= .venv-oldest
OTEL_OLDEST := 1.45.0
OTEL_CONTRIB_OLDEST := 0.66b0
# FastAPI 0.115.0 with what `pip install fastapi==0.115.0` brought in its day: Starlette 0.38.6 (the newest it
# allows; 0.37's test client leaves its lifespan streams unclosed), httpx 0.27 (Starlette 0.38's test client is an
# httpx client), and anyio 4.10.0, the oldest the dev extra allows (httpx2 needs it). From 4.15 anyio deprecates the
# `anyio.abc.BlockingPortal` alias that Starlette < 0.47's test client reads at import: a warning for an app's tests,
# an error under this project's pytest settings.
FASTAPI_OLDEST_PINS := fastapi==0.115.0 starlette==0.38.6 httpx==0.27.2 anyio==4.10.0
OLDEST_PINS := $(foreach p,api sdk proto exporter-otlp-proto-common exporter-otlp-proto-http exporter-otlp-proto-grpc,\
	opentelemetry-$(p)==$(OTEL_OLDEST)) \
	$(foreach p,instrumentation exporter-prometheus instrumentation-asgi instrumentation-fastapi \
	instrumentation-sqlalchemy instrumentation-system-metrics instrumentation-logging semantic-conventions,\
	opentelemetry-$(p)==$(OTEL_CONTRIB_OLDEST)) \
	$(FASTAPI_OLDEST_PINS)
# The tests of what meets OpenTelemetry and FastAPI: the fast path, the request middleware and server spans, the
# log chain, the pytest plugin, the distro's entry points, and the end-to-end runs under opentelemetry-instrument.
MATRIX_TESTS := $(addprefix tests/otel_distro/,_internal/fastpath _internal/test_fastpath.py \
	_internal/test_middleware.py _internal/test_middleware_properties.py _internal/test_logs.py \
	_internal/test_logs_properties.py _internal/test_context.py test_distro.py test_pytest_plugin.py \
	test_end_to_end.py test_workers_e2e.py) --timeout 120

$(VENV_OLDEST)/.installed: pyproject.toml Makefile
	test -x $(VENV_OLDEST)/bin/python || $(PYTHON) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/python -m pip install -q -U pip wheel setuptools
	$(VENV_OLDEST)/bin/python -m pip install -q -U --upgrade-strategy eager -e '.[dev]' $(OLDEST_PINS)
	touch $@

test-matrix: $(STAMP) $(VENV_OLDEST)/.installed
	@echo "== distro tests, oldest releases allowed: $$($(VENV_OLDEST)/bin/python -m pip list 2>/dev/null | grep -E '^(opentelemetry-sdk|opentelemetry-instrumentation-fastapi|fastapi|starlette|anyio|httpx) ' | tr -s ' ' | paste -sd ',')"
	$(VENV_OLDEST)/bin/python -m pytest -q $(MATRIX_TESTS)
	@echo "== distro tests, fast path off (OTEL_DISTRO_FAST_PATH=false): $$($(PY) -m pip list 2>/dev/null | grep -E '^(opentelemetry-sdk|fastapi|starlette) ' | tr -s ' ' | paste -sd ',')"
	OTEL_DISTRO_FAST_PATH=false $(PY) -m pytest -q $(MATRIX_TESTS)

run: $(STAMP) ui-build
	$(VENV)/bin/otel-distro demo

# Benchmarks print ratios against a baseline measured in the same run (the `bench` extra brings the baselines:
# upstream opentelemetry-distro, Presidio). Not part of `make test`: timings belong here, never in tests.
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || \
	  echo "warning: wrk missing (bench_distro falls back to its asyncio load generator)"
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VENV_OLDEST) .mypy_cache .ruff_cache build *.egg-info collector/otlpjson/*.so

# ui-new/ (Vite + React + TypeScript, Node 20.19+): install from the lockfile, type check, unit tests. The
# browser end-to-end test (tests/ui_new/, pytest) drives Debian's chromium with playwright-core from these packages.
NPM_MISSING := echo "warning: node/npm not found: skipping ui-new (install Node 20.19+; the browser end-to-end test skips too)"
ui-test:
	@if command -v npm >/dev/null; then \
	  cd ui-new && npm ci --no-audit --no-fund --loglevel=error && npx tsc --noEmit && npx vitest run; \
	else $(NPM_MISSING); fi

# The demo app serves ui-new/dist at /ui/ (and says how to build it when this step could not). npm ci only when
# the lockfile is newer than what node_modules holds.
ui-build:
	@if command -v npm >/dev/null; then \
	  (cd ui-new && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
	    npm ci --no-audit --no-fund --loglevel=error; } && npm run build) || \
	    echo "warning: building ui-new failed; the demo runs without /ui/"; \
	else $(NPM_MISSING); fi
