"""The HTTP surface of ``strata serve`` (a Starlette ASGI app, served by Hypercorn).

``POST /webhook/alertmanager`` answers 202 only after the notification is committed
to the queue; anything refused (401 auth, 415 content type, 413 too large, 408 too
slow, 400 malformed) stores nothing and says why in ``{"error": ...}``. The incident
API, ``/metrics``, ``/healthz`` and ``/readyz`` live here too. Diagnosis happens in
the worker pool, never in a request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strata.serve.metrics import CONTENT_TYPE, ServeMetrics
from strata.serve.store import Store, StoreError, detail, summary
from tools.alertmanager.webhook import WebhookError, WebhookPayload, parse_webhook

log = logging.getLogger("strata.serve.http")
MAX_LIST = 1000


@dataclass(frozen=True)
class Auth:
    """Accepted credentials: a bearer token and/or basic-auth users. Empty: no auth."""

    token: str | None = None
    basic: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether any credential is configured."""
        return self.token is not None or bool(self.basic)

    def check(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries valid credentials (constant time)."""
        if not self.enabled:
            return True
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.basic:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            if not sep:
                return False
            ok = False
            for name, secret in self.basic.items():
                # Compare against every user, so timing does not reveal which names exist.
                ok |= hmac.compare_digest(user.encode(), name.encode()) & hmac.compare_digest(
                    password.encode(), secret.encode()
                )
            return ok
        return False


@dataclass(frozen=True)
class Limits:
    """Request limits (slow and large clients)."""

    max_body_bytes: int = 4 * 1024 * 1024
    body_timeout_s: float = 10.0


class Refused(Exception):
    """A request refused before anything is stored."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def derived_group_key(payload: WebhookPayload) -> str:
    """A stable group key for senders that leave ``groupKey`` out (not Alertmanager)."""
    labels = payload.group_labels or {"alertname": payload.alertname}
    text = json.dumps([payload.receiver, sorted(labels.items())])
    return "derived:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class AccessLog:
    """Logs each request: method, path, status, milliseconds, client. Never headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client[0] if client else None,
                },
            )  # fmt: skip


def create_app(
    store: Store,
    *,
    auth: Auth,
    limits: Limits,
    metrics: ServeMetrics,
    on_queued: Callable[[], None] = lambda: None,
    ready: Callable[[], bool] = lambda: True,
) -> ASGIApp:
    """The ASGI app. ``on_queued`` wakes the workers; ``ready`` says they are running."""

    def authorised(request: Request) -> bool:
        return auth.check(request.headers.get("authorization"))

    def unauthorised() -> JSONResponse:
        return _error(
            401,
            "authentication required: a valid bearer token or basic credentials",
            {"WWW-Authenticate": 'Bearer realm="strata", Basic realm="strata"'},
        )

    async def read_body(request: Request) -> bytes:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise Refused(
                415, "content_type", f"expected Content-Type application/json, got {ctype!r}"
            )
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise Refused(400, "bad_length", "Content-Length is not a number") from None
            if size > limits.max_body_bytes:
                raise Refused(
                    413, "too_large",
                    f"body of {size} bytes exceeds the limit of {limits.max_body_bytes} bytes",
                )  # fmt: skip
        chunks: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(limits.body_timeout_s):
                async for chunk in request.stream():
                    total += len(chunk)
                    if total > limits.max_body_bytes:
                        raise Refused(
                            413, "too_large",
                            f"body exceeds the limit of {limits.max_body_bytes} bytes",
                        )  # fmt: skip
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(
                408, "too_slow", f"body not received within {limits.body_timeout_s:.0f}s"
            ) from None
        return b"".join(chunks)

    async def webhook(request: Request) -> Response:
        metrics.received.inc()
        client = request.client.host if request.client else None
        try:
            if not authorised(request):
                raise Refused(401, "unauthorised", "")
            body = await read_body(request)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "malformed", "the body is not UTF-8") from None
            try:
                payload = parse_webhook(text)
            except WebhookError as exc:
                raise Refused(400, "malformed", str(exc)) from None
        except Refused as exc:
            metrics.rejected.labels(exc.reason).inc()
            log.warning(
                "webhook refused",
                extra={"status": exc.status, "reason": exc.reason, "error": str(exc),
                       "client": client},
            )  # fmt: skip
            return unauthorised() if exc.status == 401 else _error(exc.status, str(exc))
        except ClientDisconnect:
            metrics.rejected.labels("disconnected").inc()
            log.warning("webhook client went away mid-body", extra={"client": client})
            return _error(400, "client disconnected before the body was complete")
        if not payload.group_key:
            payload = payload.model_copy(update={"group_key": derived_group_key(payload)})
        try:
            intake = await store.intake(payload, text, now=time.time())
        except StoreError as exc:
            metrics.rejected.labels("queue_unavailable").inc()
            log.error("queue unavailable; not acknowledged", extra={"error": str(exc)})
            return _error(503, "the queue is unavailable; retry later")
        metrics.accepted.inc()
        if intake.deduplicated:
            metrics.deduplicated.inc()
        else:
            on_queued()
        log.info(
            "webhook accepted",
            extra={"incident": intake.incident_id, "action": intake.action,
                   "group_key": payload.group_key, "status": payload.status,
                   "alerts": len(payload.alerts)},
        )  # fmt: skip
        return JSONResponse(
            {"incident": intake.incident_id, "action": intake.action, "status": intake.status},
            status_code=202,
        )

    async def incidents(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        try:
            limit = min(MAX_LIST, max(1, int(request.query_params.get("limit", "100"))))
        except ValueError:
            return _error(400, "limit must be a number")
        status = request.query_params.get("status")
        try:
            rows = await store.list(limit=limit, status=status)
        except StoreError as exc:
            log.error("queue unavailable", extra={"error": str(exc)})
            return _error(503, "the queue is unavailable")
        return JSONResponse({"incidents": [summary(r) for r in rows]})

    async def incident(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        try:
            row = await store.get(request.path_params["id"])
        except StoreError as exc:
            log.error("queue unavailable", extra={"error": str(exc)})
            return _error(503, "the queue is unavailable")
        if row is None:
            return _error(404, f"no incident {request.path_params['id']!r}")
        return JSONResponse(detail(row))

    async def metrics_endpoint(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        try:
            stats = await store.stats(now=time.time())
        except StoreError as exc:
            return _error(503, f"the queue is unavailable: {exc}")
        return Response(metrics.render(stats), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems: list[str] = []
        try:
            await store.ping()
        except StoreError as exc:
            problems.append(f"queue: {exc}")
        if not ready():
            problems.append("workers are not running")
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    app = Starlette(
        routes=[
            Route("/webhook/alertmanager", webhook, methods=["POST"]),
            Route("/api/incidents", incidents, methods=["GET"]),
            Route("/api/incidents/{id}", incident, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )
    return AccessLog(app)
