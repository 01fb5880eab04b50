"""The demo app's routes, on SQLite and on the real PostgreSQL, as app teams would test them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from otel_distro._internal import health
from otel_distro.testing import OtelCapture

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_chat_and_images(client: TestClient, otel: OtelCapture) -> None:
    chat = client.post("/chat/messages", json={"user": "ada", "text": "hi"})
    image = client.post("/images/generate", json={"prompt": "a lighthouse"})

    assert chat.status_code == 201 and chat.json()["reply"] == "echo: hi"
    assert image.status_code == 200 and image.json()["url"].endswith(".png")
    insert = [s for s in otel.spans() if str((s.attributes or {}).get("db.statement", "")).startswith("INSERT")]
    assert insert, "the chat message INSERT is traced"
    [legacy] = [e for e in otel.logs if e["logger"] == "demo_app.legacy" and "stored chat message" in e["message"]]
    assert legacy["trace_id"] == otel.trace_id(otel.span("POST /chat/messages"))


def test_bad_login_is_a_warning_with_the_username_only(client: TestClient, otel: OtelCapture) -> None:
    response = client.post("/auth/login", json={"username": "mallory", "password": "guess"})

    assert response.status_code == 401
    [event] = [e for e in otel.logs if e["message"] == "login_failed"]
    assert event["level"] == "warning"
    assert "guess" not in str(otel.log_lines())


@pytest.fixture
def postgres_client(otel: OtelCapture) -> Iterator[TestClient]:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 5432)) != 0:
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    otel.instrument_sqlalchemy()
    from demo_app.main import create_app  # noqa: PLC0415 - after instrumenting, as under the distro

    app = otel.instrument(create_app(POSTGRES_URL))
    with TestClient(app) as test_client:
        otel.clear()
        yield test_client
    cleanup = create_engine(POSTGRES_URL)
    with cleanup.begin() as connection:
        deleted = connection.execute(text("""DELETE FROM demo_chat_messages WHERE "user" = 'pg-test'"""))
        assert deleted.rowcount >= 1
    cleanup.dispose()
    health._engines.clear()  # later detailed-health reports must not check this disposed engine


def test_items_on_postgresql(postgres_client: TestClient, otel: OtelCapture) -> None:
    assert postgres_client.get("/items/3").json()["name"] == "backpack"
    assert postgres_client.post("/chat/messages", json={"user": "pg-test", "text": "hello"}).status_code == 201

    systems = {(s.attributes or {}).get("db.system") for s in otel.spans() if "db.statement" in (s.attributes or {})}
    assert systems == {"postgresql"}
    assert otel.metric_total("db.client.operation.duration", {"db.system.name": "postgresql"}) >= 2
