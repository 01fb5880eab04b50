"""Run a real server binary (Prometheus, Alertmanager, ...) for a test: free port, own temp dir, stopped after.

    with ServerProcess(["prometheus", "--config.file=..."], ready_url="http://127.0.0.1:PORT/-/ready") as p:
        ...

If the binary is missing the test is skipped with the reason (``make test`` installs the Debian packages when it
runs as root). If the server does not become ready, the test fails with the server's own output.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import pytest


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package; `make test` installs it when run as root)")
    return path


class ServerProcess:
    def __init__(self, argv: list[str], ready_url: str, *, ready_timeout: float = 30.0, cwd: Path | None = None):
        self.argv = argv
        self.ready_url = ready_url
        self.ready_timeout = ready_timeout
        self.cwd = cwd
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.proc: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        output = self.output()
        self._log.close()
        raise RuntimeError(f"{self.argv[0]} did not become ready at {self.ready_url}:\n{output[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._log.close()
