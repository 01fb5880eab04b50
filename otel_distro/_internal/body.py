"""Reading a request body with a size limit: never more than the limit is read into memory."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["BodyTooLarge", "read_body"]


class BodyTooLarge(Exception):
    """The body passed the limit; ``args[0]`` is how many bytes were declared or seen."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or `BodyTooLarge` as soon as it passes ``limit`` bytes (a ``Content-Length`` above it
    is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)
