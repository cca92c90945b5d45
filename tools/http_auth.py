"""Authentication, TLS and retry settings shared by Strata's HTTP clients (Prometheus, Loki, Alertmanager).

One frozen :class:`HttpAuth` says how to reach a server: HTTP basic auth or a bearer token, a
CA file to verify its certificate, or (for labs only) no verification. It renders itself for
``requests`` (prometheus-api-client) and ``httpx``. Secrets are :class:`pydantic.SecretStr`:
their ``repr``/``str`` is masked, and this module never logs, prints or puts them in an
error message. :class:`RetryPolicy` and :func:`get_with_retries` give every client the same
bounded retries. This module does not load secrets from the environment or files (that is
the configuration's job) and knows nothing of any server's response format.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from tools.errors import SourceUnavailable


class AuthenticationFailed(SourceUnavailable):
    """The server refused our credentials (HTTP 401/403): nothing from it can be seen."""

    title = "Authentication failed"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries after a connection error, a timeout, HTTP 429 or 5xx."""

    retries: int = 3
    """Further attempts after the first."""
    backoff_s: float = 0.5
    """Wait before the second retry; doubles each time (the first retry is immediate)."""
    backoff_max_s: float = 10.0
    """Longest single wait."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 is the first try)."""
        if attempt <= 1:
            return 0.0
        return float(min(self.backoff_s * 2 ** (attempt - 2), self.backoff_max_s))


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpAuth(BaseModel):
    """How to authenticate to one HTTP server and verify its certificate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str | None = Field(default=None, description="Basic-auth user name.")
    password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    bearer_token: SecretStr | None = Field(
        default=None, description="Sent as ``Authorization: Bearer ...``; excludes basic auth."
    )
    ca_file: Path | None = Field(
        default=None, description="PEM bundle that signs the server's certificate."
    )
    insecure: bool = Field(
        default=False, description="Skip certificate verification (labs only; excludes ca_file)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("use either basic auth (username/password) or a bearer token")
        if self.insecure and self.ca_file is not None:
            raise ValueError("ca_file and insecure exclude each other")
        return self

    def headers(self) -> dict[str, str]:
        """Extra request headers (the bearer token, if any)."""
        if self.bearer_token is None:
            return {}
        return {"Authorization": f"Bearer {self.bearer_token.get_secret_value()}"}

    def basic(self) -> tuple[str, str] | None:
        """``(user, password)`` for basic auth, or None."""
        if self.username is None:
            return None
        password = self.password.get_secret_value() if self.password is not None else ""
        return (self.username, password)

    def requests_session(self) -> requests.Session:
        """A new :class:`requests.Session` carrying these credentials and TLS settings."""
        session = requests.Session()
        session.auth = self.basic()
        session.headers.update(self.headers())
        session.verify = False if self.insecure else str(self.ca_file) if self.ca_file else True
        return session

    def httpx_client(
        self,
        base_url: str,
        *,
        timeout_s: float,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> httpx.AsyncClient:
        """A new :class:`httpx.AsyncClient` for ``base_url`` with these settings.

        Args:
            base_url: the server's base URL.
            timeout_s: httpx timeout for each request.
            headers: further headers (e.g. a tenant id), sent with every request.
            transport: an httpx transport to use instead of the network (tests).

        Raises:
            tools.errors.SourceUnavailable: the CA file cannot be read.
        """
        verify: ssl.SSLContext | bool = not self.insecure
        if self.ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise SourceUnavailable(f"CA file {self.ca_file}: {exc}") from exc
        basic = self.basic()
        return httpx.AsyncClient(
            base_url=base_url,
            auth=httpx.BasicAuth(*basic) if basic else None,
            headers={**(headers or {}), **self.headers()},
            verify=verify,
            timeout=timeout_s,
            transport=transport,
        )


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def auth_failure(status: int, url: str, what: str) -> AuthenticationFailed:
    """The error for an HTTP 401/403 from ``what`` at ``url`` (credentials never shown)."""
    reason = "rejected the credentials" if status == 401 else "denied access"
    return AuthenticationFailed(f"{what} at {redact_url(url)} {reason} (HTTP {status})")


async def get_with_retries(
    http: httpx.AsyncClient,
    path: str,
    params: Mapping[str, str | list[str]],
    *,
    what: str,
    url: str,
    retry: RetryPolicy,
) -> httpx.Response:
    """GET ``path``, retrying as ``retry`` says; the answer is neither 401/403/404 nor retryable.

    Args:
        http: the client (its base URL, auth and timeout apply).
        path: path under the base URL.
        params: query parameters (a list value repeats the name).
        what: the server's kind for messages ("Loki", "Alertmanager").
        url: the server's URL for messages (credentials already removed).
        retry: the retry policy.

    Raises:
        AuthenticationFailed: HTTP 401 or 403.
        tools.errors.SourceUnavailable: no answer, 429 or 5xx after every retry, or 404
            (no such API at ``url``).
    """
    failure = "no attempt made"
    for attempt in range(retry.retries + 1):
        await asyncio.sleep(retry.delay(attempt))
        try:
            response = await http.get(path, params=params)
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            continue
        if response.status_code not in RETRY_STATUSES:
            break
        failure = f"HTTP {response.status_code}: {error_text(response)}"
    else:
        raise SourceUnavailable(
            f"{what} at {url} did not answer (after {retry.retries} retries): {failure}"
        )
    if response.status_code in (401, 403):
        raise auth_failure(response.status_code, url, what)
    if response.status_code == 404:
        raise SourceUnavailable(f"no {what} API at {url}{path} (HTTP 404)")
    return response


def error_text(response: httpx.Response) -> str:
    """A server's error text: a plain-text or JSON-string body, or a JSON ``error``/``message``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, str) and body:  # go-swagger servers (Alertmanager) send a JSON string
        return body
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])
    return response.text.strip()[:500] or f"HTTP {response.status_code} with an empty body"
