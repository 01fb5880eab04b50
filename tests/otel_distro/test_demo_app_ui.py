"""The demo app serves the browser demo (ui-new/dist) at /ui/; configured origins may call it with tracing headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from otel_distro.testing import OtelCapture


@pytest.fixture(autouse=True)
def _instrumented(otel: OtelCapture) -> None:
    otel.instrument_sqlalchemy()  # before demo_app is first imported, as under the distro (other tests rely on it)


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: Path, origins: str = "") -> TestClient:
    from demo_app.main import create_app  # noqa: PLC0415

    monkeypatch.setenv("DEMO_UI_DIST", str(dist))
    if origins:
        monkeypatch.setenv("OTEL_DISTRO_CORS_ORIGINS", origins)
    return TestClient(create_app(f"sqlite:///{tmp_path / 'demo.db'}"))


def test_serves_the_built_ui_at_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<div id="root"></div><script src="/ui/assets/app.js"></script>')
    (dist / "assets" / "app.js").write_text("console.log('ui')")
    with _client(tmp_path, monkeypatch, dist) as client:
        page = client.get("/ui/")
        script = client.get("/ui/assets/app.js")
        bare = client.get("/ui", follow_redirects=True)

    assert page.status_code == 200 and 'id="root"' in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert bare.status_code == 200 and 'id="root"' in bare.text


def test_says_how_to_build_the_ui_when_it_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(tmp_path, monkeypatch, tmp_path / "no-dist") as client:
        page = client.get("/ui/")
        info = client.get("/api/info")

    assert page.status_code == 404
    assert "npm ci &amp;&amp; npm run build" in page.text and "make run" in page.text
    assert info.status_code == 200  # the demo keeps working without it


def test_a_configured_origin_may_send_the_clients_tracing_headers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(tmp_path, monkeypatch, tmp_path / "no-dist", origins="http://localhost:5173") as client:
        preflight = client.options("/chat/messages", headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,traceparent,x-request-id",
        })
        answer = client.get("/items/404", headers={"Origin": "http://localhost:5173"})
        stranger = client.options("/chat/messages", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})

    assert preflight.status_code == 200
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "traceparent", "x-request-id"} <= allowed
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
    assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
