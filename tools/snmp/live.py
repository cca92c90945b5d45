"""Live SNMP: polls switches over SNMP v2c/v3 and answers reads from the polls it made.

:class:`SnmpClient` is the wire: pysnmp 7 (asyncio) GET, GETNEXT walk and GETBULK walk with
numeric OIDs, a per-device concurrency limit, timeouts and retries; replies become
:class:`~tools.snmp.base.Varbind` and failures typed errors (``tools/snmp/errors.py``). An
error-status or a ``noSuchObject`` is data (:class:`SnmpReply`), not an exception.
:class:`LiveSnmp` is the :class:`~tools.snmp.base.SnmpSource` the specialists read: it keeps
timestamped polls per device and answers ``get``/``walk`` from them exactly as a recording
does (:class:`~tools.snmp.recorded.RecordedSnmp`), less the counters that a discontinuity
(agent restart, changed ``ifCounterDiscontinuityTime``) makes incomparable.

It must only read (GET, GETNEXT, GETBULK; never SET), must not need MIB files, and must never
put a secret (community, auth or priv key) into a message, repr or log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pyasn1.type import univ
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
    walk_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from tools.snmp import oids
from tools.snmp.base import Discontinuity, Varbind, discontinuity
from tools.snmp.errors import (
    SnmpAuthError,
    SnmpError,
    SnmpRequestError,
    SnmpTimeout,
    SnmpUnavailable,
)
from tools.snmp.recorded import RecordedSnmp, oid_key

__all__ = [
    "POLL_GETS",
    "POLL_WALKS",
    "LiveSnmp",
    "Poll",
    "SnmpClient",
    "SnmpDevice",
    "SnmpReply",
    "comparable_varbinds",
    "typed_value",
]

log = logging.getLogger(__name__)

POLL_WALKS: tuple[str, ...] = (
    oids.IF_DESCR,
    oids.IF_OPER_STATUS,
    oids.IF_IN_OCTETS,
    oids.IF_IN_UCAST_PKTS,
    oids.IF_IN_DISCARDS,
    oids.IF_IN_ERRORS,
    oids.IF_OUT_DISCARDS,
    oids.IF_OUT_ERRORS,
    oids.IF_NAME,
    oids.IF_IN_BROADCAST_PKTS,
    oids.IF_HC_IN_OCTETS,
    oids.IF_HC_IN_BROADCAST_PKTS,
    oids.IF_COUNTER_DISCONTINUITY_TIME,
    oids.STP_PORT_STATE,
)
"""Columns one poll walks: what agents/network.py reads, and what makes its rates valid."""
POLL_GETS: tuple[str, ...] = (
    oids.SYS_UPTIME,
    oids.STP_TIME_SINCE_TOP_CHANGE,
    oids.STP_TOP_CHANGES,
    oids.STP_DESIGNATED_ROOT,
)
"""Scalars one poll reads (first, in one GET: it is also the check that the device answers)."""

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "AES"]
_AUTH: dict[str, tuple[int, ...]] = {
    "MD5": USM_AUTH_HMAC96_MD5,
    "SHA": USM_AUTH_HMAC96_SHA,
    "SHA224": USM_AUTH_HMAC128_SHA224,
    "SHA256": USM_AUTH_HMAC192_SHA256,
    "SHA384": USM_AUTH_HMAC256_SHA384,
    "SHA512": USM_AUTH_HMAC384_SHA512,
}
_PRIV: dict[str, tuple[int, ...]] = {"DES": USM_PRIV_CBC56_DES, "AES": USM_PRIV_CFB128_AES}

# SNMPv3 security reports (RFC 3414 usmStats*) and the engine's own refusals to secure.
_AUTH_FAILURES = (
    errind.WrongDigest,
    errind.UnknownUserName,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.DecryptionError,
    errind.NotInTimeWindow,
    errind.UnknownEngineID,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
    errind.NoAuthentication,
    errind.NoEncryption,
)
_ABSENT = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView, univ.Null)
_NUMBERS: tuple[tuple[type, str], ...] = (
    (rfc1902.Counter32, "Counter32"),
    (rfc1902.Counter64, "Counter64"),
    (rfc1902.Gauge32, "Gauge32"),
    (rfc1902.Unsigned32, "Gauge32"),
    (rfc1902.TimeTicks, "TimeTicks"),
)


class SnmpDevice(BaseModel):
    """One SNMP agent (a switch, usually) and how to reach it. Keys are secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, description="Device name, as in the topology (sw1).")
    host: str = Field(min_length=1, description="Agent address or host name.")
    port: int = Field(161, ge=1, le=65535, description="Agent UDP port.")
    version: Literal["v2c", "v3"] = Field("v2c", description="SNMP version.")
    community: SecretStr | None = Field(None, description="v2c community.")
    user: str | None = Field(None, description="v3 USM user name.")
    auth_protocol: AuthProtocol = Field("SHA", description="v3 authentication (with auth_key).")
    auth_key: SecretStr | None = Field(None, description="v3 auth passphrase; none: noAuthNoPriv.")
    priv_protocol: PrivProtocol = Field("AES", description="v3 privacy, AES = AES-128 CFB.")
    priv_key: SecretStr | None = Field(None, description="v3 privacy passphrase; none: no privacy.")
    timeout_s: float = Field(1.0, gt=0, le=60, description="Seconds to wait for each try.")
    retries: int = Field(2, ge=0, le=10, description="Tries after the first one.")
    max_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once.")
    max_repetitions: int = Field(25, ge=1, le=100, description="GETBULK rows per response.")

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.version == "v2c" and self.community is None:
            raise ValueError(f"SNMP device {self.name}: v2c needs a community")
        if self.version == "v3":
            if not self.user:
                raise ValueError(f"SNMP device {self.name}: v3 needs a user")
            if self.priv_key is not None and self.auth_key is None:
                raise ValueError(f"SNMP device {self.name}: v3 privacy needs an auth_key too")
            for what, key in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
                if key is not None and len(key.get_secret_value()) < 8:
                    raise ValueError(
                        f"SNMP device {self.name}: {what} is shorter than 8 characters (RFC 3414)"
                    )
        return self

    @property
    def label(self) -> str:
        """``sw1 (10.0.0.2:161)``: how messages name the device."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name} ({host}:{self.port})"

    @property
    def security(self) -> str:
        """``v2c`` or ``v3 authPriv SHA/AES``: the security in use, without secrets."""
        if self.version == "v2c":
            return "v2c"
        if self.auth_key is None:
            return "v3 noAuthNoPriv"
        if self.priv_key is None:
            return f"v3 authNoPriv {self.auth_protocol}"
        return f"v3 authPriv {self.auth_protocol}/{self.priv_protocol}"

    def secrets(self) -> list[str]:
        """The secret values, to redact them from any text that could carry them."""
        keys = (self.community, self.auth_key, self.priv_key)
        return [k.get_secret_value() for k in keys if k is not None and k.get_secret_value()]


class SnmpReply(BaseModel):
    """What one GET or walk returned. Absent OIDs and error-status are data, not failures."""

    model_config = ConfigDict(frozen=True)

    device: str = Field(description="Device name.")
    varbinds: tuple[Varbind, ...] = Field(default=(), description="Values read, in OID order.")
    missing: tuple[str, ...] = Field(
        default=(),
        description="Requested OIDs without a value (noSuchObject, noSuchInstance, "
        "endOfMibView), or a walked prefix with nothing under it.",
    )
    error: str | None = Field(
        default=None, description="The response's error-status (e.g. 'genErr at 1.3...'), if any."
    )
    elapsed_s: float = Field(description="Seconds the request took.")


class Poll(BaseModel):
    """One poll of one device: every value read, all stamped with the poll's start."""

    model_config = ConfigDict(frozen=True)

    device: str = Field(description="Device name.")
    ts: datetime = Field(description="When the poll started (the stamp of all its varbinds).")
    varbinds: tuple[Varbind, ...] = Field(description="Every value read.")
    missing: tuple[str, ...] = Field(default=(), description="OIDs and columns without a value.")
    errors: tuple[str, ...] = Field(default=(), description="Error-status replies (rest counts).")
    elapsed_s: float = Field(description="Seconds the whole poll took.")


def _now() -> datetime:
    return datetime.now(UTC)


def _oid(text: str) -> str:
    oid = text.strip().strip(".")
    if not oid or not all(part.isdigit() for part in oid.split(".")):
        raise ValueError(f"not a numeric OID (no MIB names here): {text!r}")
    return oid


def _under(root: str, oid: str) -> bool:
    return oid == root or oid.startswith(root + ".")


def _text(octets: bytes) -> str:
    """Printable text as text; anything else (MACs, bridge ids) as ``60:01:8c:...`` hex."""
    try:
        text = octets.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        return text
    return ":".join(f"{b:02x}" for b in octets)


def typed_value(value: Any) -> tuple[str, int | str] | None:
    """A pysnmp value as (type name as in snmp.jsonl, value); ``None`` for "no such ..."."""
    if isinstance(value, _ABSENT):
        return None
    if isinstance(value, univ.Integer):
        name = next((n for cls, n in _NUMBERS if isinstance(value, cls)), "INTEGER")
        return name, int(value)
    if isinstance(value, rfc1902.IpAddress):
        return "IpAddress", ".".join(str(b) for b in value.asOctets())
    if isinstance(value, rfc1902.Opaque | rfc1902.Bits):
        return type(value).__name__.upper(), value.asOctets().hex(":")
    if isinstance(value, univ.OctetString):
        return "OCTET STRING", _text(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return "OBJECT IDENTIFIER", ".".join(str(part) for part in value)
    return type(value).__name__, str(value.prettyPrint())


def _auth_data(d: SnmpDevice) -> CommunityData | UsmUserData:
    """pysnmp credentials for ``d`` (their reprs mask the secrets; never log them anyway)."""
    if d.version == "v2c":
        assert d.community is not None  # the model requires it
        return CommunityData(d.community.get_secret_value(), mpModel=1)
    assert d.user is not None
    if d.auth_key is None:
        return UsmUserData(d.user)
    auth = d.auth_key.get_secret_value()
    if d.priv_key is None:
        return UsmUserData(d.user, auth, authProtocol=_AUTH[d.auth_protocol])
    return UsmUserData(
        d.user,
        auth,
        d.priv_key.get_secret_value(),
        authProtocol=_AUTH[d.auth_protocol],
        privProtocol=_PRIV[d.priv_protocol],
    )


class SnmpClient:
    """One device's agent over UDP: GET, walk and bulk-walk, numeric OIDs only.

    At most ``device.max_concurrency`` requests (a walk counts as one) are in flight at
    once. The engine and transport open on first use; :meth:`aclose` closes them.
    """

    def __init__(self, device: SnmpDevice) -> None:
        self.device = device
        self._limit = asyncio.Semaphore(device.max_concurrency)
        self._auth = _auth_data(device)
        self._open_lock = asyncio.Lock()
        self._engine: SnmpEngine | None = None
        self._target: UdpTransportTarget | Udp6TransportTarget | None = None

    def __repr__(self) -> str:
        return f"SnmpClient({self.device.label}, {self.device.security})"

    async def get(self, oids: Sequence[str], *, ts: datetime | None = None) -> SnmpReply:
        """Read the listed OIDs in one request; those the agent lacks go to ``missing``.

        Raises:
            tools.snmp.errors.SnmpTimeout: no answer within the timeout and retries.
            tools.snmp.errors.SnmpAuthError: the agent refused our v3 credentials.
            tools.snmp.errors.SnmpError: any other failure (messages never carry secrets).
        """
        names = [_oid(o) for o in oids]
        stamp, start = ts or _now(), time.perf_counter()
        engine, target = await self._open()
        async with self._limit:
            try:
                indication, status, index, rows = await get_cmd(
                    engine,
                    self._auth,
                    target,
                    ContextData(),
                    *(ObjectType(ObjectIdentity(n)) for n in names),
                    lookupMib=False,
                )
            except (PySnmpError, OSError) as exc:
                raise self._error(SnmpUnavailable, f"GET failed: {self._redact(exc)}") from None
        if indication:
            raise self._indication(indication, "GET")
        if status:
            return SnmpReply(
                device=self.device.name,
                error=self._status(status, index, names),
                elapsed_s=time.perf_counter() - start,
            )
        found, missing = self._varbinds(rows, stamp)
        got = {vb.oid for vb in found}
        missing += [n for n in names if n not in got and n not in missing]
        return SnmpReply(
            device=self.device.name,
            varbinds=tuple(found),
            missing=tuple(missing),
            elapsed_s=time.perf_counter() - start,
        )

    async def walk(self, prefix: str, *, ts: datetime | None = None) -> SnmpReply:
        """Every OID under ``prefix`` by GETNEXT, in OID order (the prefix itself if a leaf).

        Raises:
            tools.snmp.errors.SnmpError: as :meth:`get`.
        """
        return await self._walk(prefix, bulk=False, ts=ts)

    async def bulk_walk(self, prefix: str, *, ts: datetime | None = None) -> SnmpReply:
        """Every OID under ``prefix`` by GETBULK (``max_repetitions`` rows a response).

        Raises:
            tools.snmp.errors.SnmpError: as :meth:`get`.
        """
        return await self._walk(prefix, bulk=True, ts=ts)

    async def aclose(self) -> None:
        """Close the transport; a later request opens it again."""
        engine, self._engine, self._target = self._engine, None, None
        if engine is not None:
            engine.close_dispatcher()

    async def _walk(self, prefix: str, *, bulk: bool, ts: datetime | None) -> SnmpReply:
        root = _oid(prefix)
        stamp, start = ts or _now(), time.perf_counter()
        engine, target = await self._open()
        found: list[Varbind] = []
        error: str | None = None
        start_at = ObjectType(ObjectIdentity(root))
        async with self._limit:
            gen = (
                bulk_walk_cmd(
                    engine,
                    self._auth,
                    target,
                    ContextData(),
                    0,
                    self.device.max_repetitions,
                    start_at,
                    lexicographicMode=False,
                    lookupMib=False,
                )
                if bulk
                else walk_cmd(
                    engine,
                    self._auth,
                    target,
                    ContextData(),
                    start_at,
                    lexicographicMode=False,
                    lookupMib=False,
                )
            )
            try:
                async for indication, status, index, rows in gen:
                    if indication:
                        raise self._indication(indication, f"walk of {root}")
                    if status:
                        error = self._status(status, index, [root])
                        break
                    vbs, _ = self._varbinds(rows, stamp)
                    found.extend(vb for vb in vbs if _under(root, vb.oid))
            except (PySnmpError, OSError) as exc:
                raise self._error(
                    SnmpUnavailable, f"walk of {root} failed: {self._redact(exc)}"
                ) from None
            finally:
                await gen.aclose()
        if not found and error is None:
            leaf = await self.get([root], ts=stamp)  # a walk of a scalar reads the scalar
            found, error = list(leaf.varbinds), leaf.error
        found.sort(key=lambda vb: oid_key(vb.oid))
        return SnmpReply(
            device=self.device.name,
            varbinds=tuple(found),
            missing=() if found else (root,),
            error=error,
            elapsed_s=time.perf_counter() - start,
        )

    async def _open(self) -> tuple[SnmpEngine, UdpTransportTarget | Udp6TransportTarget]:
        async with self._open_lock:
            if self._engine is None or self._target is None:
                d = self.device
                kind = Udp6TransportTarget if ":" in d.host else UdpTransportTarget
                try:
                    target = await kind.create(
                        (d.host, d.port), timeout=d.timeout_s, retries=d.retries
                    )
                except (PySnmpError, OSError) as exc:
                    raise self._error(
                        SnmpUnavailable, f"bad address: {self._redact(exc)}"
                    ) from None
                self._engine, self._target = SnmpEngine(), target
            return self._engine, self._target

    def _varbinds(self, rows: Iterable[Any], ts: datetime) -> tuple[list[Varbind], list[str]]:
        found: list[Varbind] = []
        missing: list[str] = []
        for name, value in rows:
            oid = ".".join(str(part) for part in name)
            typed = typed_value(value)
            if typed is None:
                missing.append(oid)
            else:
                found.append(
                    Varbind(ts=ts, device=self.device.name, oid=oid, type=typed[0], value=typed[1])
                )
        return found, missing

    def _status(self, status: Any, index: Any, names: Sequence[str]) -> str:
        i = int(index or 0)
        where = f" at {names[i - 1]}" if 0 < i <= len(names) else ""
        return f"{self._redact(status.prettyPrint())}{where}"

    def _indication(self, indication: Any, what: str) -> SnmpError:
        d = self.device
        if isinstance(indication, errind.RequestTimedOut):
            hint = (
                "wrong community or host down?"
                if d.version == "v2c"
                else "wrong privacy key or protocol, or host down?"
            )
            return self._error(
                SnmpTimeout,
                f"no response after {d.retries} retries (timeout {d.timeout_s:.1f} s) — {hint}",
            )
        if isinstance(indication, _AUTH_FAILURES):
            return self._error(
                SnmpAuthError,
                f"{d.security} user {d.user!r} refused: {self._redact(indication)} — check "
                "the user, auth/priv protocols and keys",
            )
        return self._error(SnmpRequestError, f"{what} failed: {self._redact(indication)}")

    def _error(self, cls: type[SnmpError], message: str) -> SnmpError:
        # Text from pysnmp goes through _redact before it gets here; our own parts
        # (name, address, settings) never hold a secret.
        return cls(f"{self.device.label}: {message}")

    def _redact(self, text: object) -> str:
        out = str(text)
        for secret in self.device.secrets():
            out = out.replace(secret, "***")
        return out


def comparable_varbinds(polls: Sequence[Poll]) -> list[Varbind]:
    """Every polled varbind, less the counters that a later discontinuity cuts off.

    Rates come from consecutive polls, so a counter read before an agent restart or before
    its interface's ``ifCounterDiscontinuityTime`` changed must not be paired with one
    read after: the earlier reads of such counters are dropped (other values stay).
    """
    out: list[Varbind] = []
    cut = Discontinuity()
    for i in range(len(polls) - 1, -1, -1):
        out.extend(vb for vb in polls[i].varbinds if not cut.affects(vb))
        if i:
            step = discontinuity(polls[i - 1].varbinds, polls[i].varbinds)
            cut = Discontinuity(cut.restart or step.restart, cut.interfaces | step.interfaces)
    return out


async def _all(requests: Sequence[Awaitable[SnmpReply]]) -> list[SnmpReply]:
    """All replies, or the first failure (the requests still in flight are cancelled)."""
    tasks = [asyncio.ensure_future(r) for r in requests]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


class LiveSnmp:
    """A :class:`~tools.snmp.base.SnmpSource` over live devices.

    Reads answer from the polls made so far, like a recording whose clock is the last
    poll: ``at`` picks the last poll at or before it. A device never polled is polled once
    on its first read; one whose last poll failed raises that failure again.
    """

    def __init__(
        self,
        devices: Iterable[SnmpDevice],
        *,
        interval_s: float = 10.0,
        walks: Sequence[str] = POLL_WALKS,
        gets: Sequence[str] = POLL_GETS,
        max_polls: int = 120,
    ) -> None:
        self._clients: dict[str, SnmpClient] = {}
        for device in devices:
            if device.name in self._clients:
                raise ValueError(f"SNMP device {device.name!r} is configured twice")
            self._clients[device.name] = SnmpClient(device)
        self.interval_s = interval_s
        self._walks = tuple(_oid(w) for w in walks)
        self._gets = tuple(_oid(g) for g in gets)
        self._polls: dict[str, deque[Poll]] = {n: deque(maxlen=max_polls) for n in self._clients}
        self._views: dict[str, RecordedSnmp] = {}
        self._failures: dict[str, SnmpError] = {}
        self._first_poll = {n: asyncio.Lock() for n in self._clients}
        # One poll of a device at a time, so its polls are kept in the order they were taken.
        self._polling = {n: asyncio.Lock() for n in self._clients}

    def __repr__(self) -> str:
        return f"LiveSnmp({', '.join(c.device.label for c in self._clients.values())})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every device's transport."""
        for client in self._clients.values():
            await client.aclose()

    def devices(self) -> list[str]:
        """Configured device names."""
        return sorted(self._clients)

    def client(self, device: str) -> SnmpClient:
        """The wire client of ``device`` (for direct GETs and walks).

        Raises:
            tools.snmp.errors.SnmpUnavailable: ``device`` is not configured.
        """
        try:
            return self._clients[device]
        except KeyError:
            known = ", ".join(self.devices()) or "none"
            raise SnmpUnavailable(
                f"SNMP device {device!r} is not configured (configured: {known})"
            ) from None

    def poll_times(self, device: str) -> list[datetime]:
        """When ``device`` was polled, ascending (empty until its first poll)."""
        self.client(device)
        return [p.ts for p in self._polls[device]]

    def history(self, device: str) -> list[Poll]:
        """The polls of ``device`` kept so far, oldest first."""
        self.client(device)
        return list(self._polls[device])

    def varbinds(self) -> list[Varbind]:
        """Every value polled from every device, as a recording's ``snmp.jsonl`` holds them."""
        return [vb for name in self.devices() for p in self._polls[name] for vb in p.varbinds]

    def failure(self, device: str) -> SnmpError | None:
        """Why the last poll of ``device`` failed; ``None`` when it answered."""
        self.client(device)
        return self._failures.get(device)

    async def get(self, device: str, oids: Sequence[str], at: datetime) -> list[Varbind]:
        """The listed OIDs' values at the last poll at or before ``at`` (missing ones absent).

        Raises:
            tools.snmp.errors.SnmpError: the device is not configured, or could not be
                polled (then nothing was ever read from it).
        """
        view = await self._view(device)
        return await view.get(device, oids, at) if view else []

    async def walk(self, device: str, prefix: str, at: datetime) -> list[Varbind]:
        """Every OID under ``prefix`` at the last poll at or before ``at``, in OID order.

        Raises:
            tools.snmp.errors.SnmpError: as :meth:`get`.
        """
        view = await self._view(device)
        return await view.walk(device, prefix, at) if view else []

    async def poll(self, device: str) -> Poll:
        """Read the scalars, then walk the columns (concurrently), and keep it as one poll.

        Raises:
            tools.snmp.errors.SnmpError: the device did not answer or refused us; the poll
                is not kept and :meth:`failure` returns the error.
        """
        self.client(device)  # an unknown device raises here
        async with self._polling[device]:
            return await self._poll_now(device)

    async def _poll_now(self, device: str) -> Poll:
        client = self.client(device)
        ts, start = _now(), time.perf_counter()
        try:
            scalars = await client.get(self._gets, ts=ts)
            replies = [scalars, *await _all([client.bulk_walk(w, ts=ts) for w in self._walks])]
        except SnmpError as exc:
            again = device in self._failures and self._failures[device].message == exc.message
            self._failures[device] = exc
            # A device that stays down is polled round after round: warn once, not each time.
            log.log(
                logging.DEBUG if again else logging.WARNING, "SNMP poll failed: %s", exc.message
            )
            raise
        poll = Poll(
            device=device,
            ts=ts,
            varbinds=tuple(vb for r in replies for vb in r.varbinds),
            missing=tuple(m for r in replies for m in r.missing),
            errors=tuple(r.error for r in replies if r.error),
            elapsed_s=time.perf_counter() - start,
        )
        polls = self._polls[device]
        if polls:
            step = discontinuity(polls[-1].varbinds, poll.varbinds)
            if step.restart:
                log.info("SNMP %s: agent restarted since the last poll", client.device.label)
            elif step.interfaces:
                log.info(
                    "SNMP %s: counter discontinuity on ifIndex %s",
                    client.device.label,
                    ", ".join(sorted(step.interfaces, key=int)),
                )
        polls.append(poll)
        self._views.pop(device, None)
        self._failures.pop(device, None)
        log.debug(
            "SNMP polled %s: %d values in %.3f s",
            client.device.label,
            len(poll.varbinds),
            poll.elapsed_s,
        )
        return poll

    async def collect(
        self,
        devices: Iterable[str] | None = None,
        *,
        polls: int = 2,
        interval_s: float | None = None,
    ) -> dict[str, SnmpError]:
        """Poll each device ``polls`` times, ``interval_s`` apart, all devices at once.

        Poll ``k`` starts ``k * interval_s`` after the first (at once when the previous one
        overran), so that rates can be computed. A device that fails is not polled again.

        Returns:
            The devices that failed, with why; empty when every poll answered.

        Raises:
            tools.snmp.errors.SnmpUnavailable: a device is not configured.
        """
        names = self.devices() if devices is None else list(devices)
        for name in names:
            self.client(name)
        step = self.interval_s if interval_s is None else interval_s
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def run(name: str) -> SnmpError | None:
            for k in range(polls):
                delay = t0 + k * step - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    await self.poll(name)
                except SnmpError as exc:
                    return exc
            return None

        results = await asyncio.gather(*(run(name) for name in names))
        return {name: exc for name, exc in zip(names, results, strict=True) if exc is not None}

    async def _view(self, device: str) -> RecordedSnmp | None:
        self.client(device)
        polls = self._polls[device]
        if not polls:
            async with self._first_poll[device]:
                if not polls:
                    failed = self._failures.get(device)
                    if failed is not None:
                        raise type(failed)(failed.message)
                    await self.poll(device)
        view = self._views.get(device)
        if view is None:
            view = RecordedSnmp(comparable_varbinds(list(polls)), polls[-1].ts)
            self._views[device] = view
        return view if device in view.devices() else None
