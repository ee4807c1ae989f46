"""ASGI middlewares that refuse oversized requests: headers with a 431, bodies with a 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import PayloadTooLargeError, RequestHeadersTooLargeError
from common.service.problems import ProblemResponse

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_COUNT = 100
"""More header fields than this is no client of ours (browsers send about 20)."""


class HeaderSizeLimitMiddleware:
    """Refuses requests whose header fields (names and values) or their count are too large.

    The HTTP server has already read the headers; this bounds what the
    application parses and logs, and says so with a 431 problem.
    """

    def __init__(self, app: ASGIApp, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", ())
            size = sum(len(name) + len(value) for name, value in headers)
            if size > self.max_header_bytes or len(headers) > MAX_HEADER_COUNT:
                error = RequestHeadersTooLargeError(
                    f"at most {MAX_HEADER_COUNT} header fields of {self.max_header_bytes} bytes"
                    f" in all; this request has {len(headers)} of {size} bytes"
                )
                await ProblemResponse(error.to_problem(instance=scope["path"]))(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Counts body bytes as they arrive, so a lying or absent Content-Length cannot get past."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(f"the limit is {self.max_body_bytes} bytes")
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await ProblemResponse(too_large.to_problem(instance=scope["path"]))(
                scope, receive, send
            )
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if response_started:
                raise
            await ProblemResponse(too_large.to_problem(instance=scope["path"]))(
                scope, receive, send
            )


class _BodyTooLarge(BaseException):
    """Raised inside the app's receive to stop reading an oversized body.

    A BaseException, so that FastAPI's "could not parse the body" handler, which
    catches Exception, does not turn it into a 400.
    """


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
