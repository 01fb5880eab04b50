"""Demo app: login, chat messages, image generation, items from SQL, and a route that fails.

It logs the way ordinary apps do (structlog for new code, stdlib ``logging`` for old code) and knows nothing
about OpenTelemetry: run it under ``opentelemetry-instrument uvicorn demo_app.main:app``.
Database: ``DATABASE_URL`` (any SQLAlchemy URL, e.g. ``postgresql+psycopg://127.0.0.1/test``), else SQLite.
The browser demo (``ui-new/``, built into ``ui-new/dist``, or ``DEMO_UI_DIST``) is served at ``/ui/``; without a
build, ``/ui/`` says how to make one. Browser origins in ``OTEL_DISTRO_CORS_ORIGINS`` (the distro's setting for its
own browser routes) may call these routes too, with the headers the browser's API client sends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Engine, Integer, String, create_engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

log = structlog.get_logger("demo_app")
legacy_log = logging.getLogger("demo_app.legacy")

DEFAULT_DATABASE_URL = "sqlite:///./demo_app.db"
DEMO_PASSWORD = "demo-password"  # a demo credential, printed by `otel-distro demo`
UI_DIST = Path(__file__).resolve().parents[2] / "ui-new" / "dist"
# What the browser's API client sends (ui-new/src/api/client.ts) and may read back.
CORS_HEADERS = ["content-type", "accept", "traceparent", "tracestate", "baggage", "x-request-id", "sentry-trace"]
UI_MISSING = """<!doctype html><html><head><meta charset="utf-8"><title>ui-new is not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>The browser demo is not built</h1>
<p>This app serves <code>ui-new/dist</code> at <code>/ui/</code>. Build it once (Node 20.19+):</p>
<pre>cd ui-new &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>or run <code>make run</code>, which builds it before starting the demo. Then reload this page.</p>
</body></html>"""


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "demo_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)


class ChatMessage(Base):
    __tablename__ = "demo_chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class ChatRequest(BaseModel):
    user: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)


class ImageRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=500)
    size: str = "512x512"


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        return create_engine(database_url, connect_args={"check_same_thread": False})
    return create_engine(database_url, pool_pre_ping=True)


def seed(engine: Engine) -> None:
    """Create and fill the tables; several workers starting at once may race, the loser tries again."""
    for attempt in range(3):
        try:
            _seed(engine)
            return
        except (OperationalError, IntegrityError):  # "table already exists" / duplicate id from another worker
            if attempt == 2:
                raise


def _seed(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        if session.scalar(select(func.count()).select_from(Item)) == 0:
            session.add_all(
                [
                    Item(id=1, name="notebook", price_cents=450),
                    Item(id=2, name="pen", price_cents=120),
                    Item(id=3, name="backpack", price_cents=3999),
                ]
            )
            session.commit()


def db_session(request: Request) -> Session:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions()


DbSession = Annotated[Session, Depends(db_session)]


def create_app(database_url: str | None = None) -> FastAPI:
    engine = make_engine(database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    sessions = sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        seed(engine)
        legacy_log.info("database ready at %s", engine.url.render_as_string(hide_password=True))
        yield
        engine.dispose()

    app = FastAPI(title="demo app", lifespan=lifespan)
    app.state.sessions = sessions
    origins = [o.strip().rstrip("/") for o in os.environ.get("OTEL_DISTRO_CORS_ORIGINS", "").split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=CORS_HEADERS, expose_headers=["x-request-id", "retry-after"], max_age=600)

    @app.get("/api/info")
    async def info() -> dict[str, str]:
        return {"service": "demo-app", "status": "ok"}

    @app.post("/auth/login")
    async def login(body: LoginRequest) -> dict[str, str]:
        if body.password != DEMO_PASSWORD:
            log.warning("login_failed", username=body.username)
            raise HTTPException(status_code=401, detail="invalid credentials")
        token = hashlib.sha256(f"{body.username}:session".encode()).hexdigest()[:32]
        log.info("login_succeeded", username=body.username)
        return {"token": token, "token_type": "bearer"}

    @app.post("/chat/messages", status_code=201)
    def post_message(body: ChatRequest, session: DbSession) -> dict[str, object]:
        with session:
            message = ChatMessage(user=body.user, text=body.text)
            session.add(message)
            session.commit()
            legacy_log.info("stored chat message %s from %s", message.id, body.user)
            return {"id": message.id, "reply": f"echo: {body.text[:100]}"}

    @app.post("/images/generate")
    async def generate_image(body: ImageRequest) -> dict[str, str]:
        log.info("image_generation_started", size=body.size, prompt_length=len(body.prompt))
        await asyncio.sleep(0.02)  # stands in for the model call
        image_id = hashlib.sha1(body.prompt.encode(), usedforsecurity=False).hexdigest()[:16]
        return {"image_id": image_id, "url": f"/images/{image_id}.png"}

    @app.get("/items/{item_id}")
    def get_item(item_id: int, session: DbSession) -> dict[str, object]:
        with session:
            item = session.get(Item, item_id)
            if item is None:
                log.info("item_not_found", item_id=item_id)
                raise HTTPException(status_code=404, detail="item not found")
            return {"id": item.id, "name": item.name, "price_cents": item.price_cents}

    @app.get("/fail")
    async def fail() -> None:
        legacy_log.warning("about to fail on purpose")
        raise RuntimeError("demo failure: the /fail route always raises")

    mount_ui(app, Path(os.environ.get("DEMO_UI_DIST") or UI_DIST))
    return app


def mount_ui(app: FastAPI, dist: Path) -> None:
    """Serve the built browser demo at /ui/, or a page saying how to build it."""
    if (dist / "index.html").is_file():
        app.mount("/ui", StaticFiles(directory=dist, html=True), name="ui")
        return

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/{path:path}", include_in_schema=False)
    async def ui_not_built(path: str = "") -> HTMLResponse:
        return HTMLResponse(UI_MISSING, status_code=404)


app = create_app()
