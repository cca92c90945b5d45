"""Strata's configuration file: sources, SNMP devices, SSH hosts, topology and the model.

One TOML file (``strata.toml``). Looked for at ``--config``, then ``$STRATA_CONFIG``,
``./strata.toml``, ``$XDG_CONFIG_HOME/strata/strata.toml`` (default
``~/.config/strata/strata.toml``) and ``/etc/strata/strata.toml``.

Secrets (``password``, ``bearer_token``, ``community``, ``auth_key``, ``priv_key``,
``passphrase``) may be given inline, or as ``<key>_env = "VAR"`` (read from the
environment) or ``<key>_file = "/path"`` (first line of a file). They are held as
``SecretStr`` and never printed, logged or written into a recording; :meth:`secrets`
lists their values so output can be checked and scrubbed. File paths (client keys,
``known_hosts``, CA files, ``<key>_file``) may start with ``~``. The format, with a complete
example, is in docs/configuration.md.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tools.errors import ToolError
from tools.http_auth import HttpAuth
from tools.logs.files import LogFile
from tools.snmp.live import SnmpDevice
from tools.ssh.live import SshHostConfig
from tools.topology import Topology

SECRET_KEYS = ("password", "bearer_token", "community", "auth_key", "priv_key", "passphrase")


class ConfigError(ToolError):
    """The configuration file is missing, unreadable or invalid."""

    title = "Configuration error"


class HttpSource(BaseModel):
    """A source reached over HTTP (Prometheus, Loki, Alertmanager)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="Base URL.")
    auth: HttpAuth = Field(default_factory=HttpAuth, description="Credentials and TLS.")
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    org_id: str | None = Field(default=None, description="Loki tenant (X-Scope-OrgID).")


class SnmpSettings(BaseModel):
    """Switches read over SNMP, and how rates are measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    devices: tuple[SnmpDevice, ...] = Field(default=(), description="SNMP agents.")
    polls: int = Field(
        default=4, ge=2, le=10, description="Polls per device per incident (discards need 4)."
    )
    interval_s: float = Field(default=5.0, gt=0, description="Seconds between polls.")


class SshSettings(BaseModel):
    """Nodes reachable over SSH for read-only diagnostics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosts: tuple[SshHostConfig, ...] = Field(default=(), description="SSH hosts.")
    command_timeout_s: float = Field(default=15.0, gt=0, description="Per-command timeout.")


class ModelSettings(BaseModel):
    """The shared language model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: str = Field(
        default="auto",
        description="none | auto | ollama:NAME | openai:BASE_URL:NAME | llamacpp:PATH.gguf.",
    )
    max_concurrency: int = Field(default=2, ge=1, description="Model requests in flight.")
    max_tokens: int = Field(default=384, ge=1, description="Longest model reply, in tokens.")
    steps: int = Field(default=3, ge=0, description="Model-chosen probes per specialist.")
    specialist_tokens: int = Field(default=12_000, ge=1, description="Tokens per specialist.")
    incident_tokens: int = Field(default=60_000, ge=1, description="Tokens per incident.")
    call_timeout_s: float = Field(default=120.0, gt=0, description="One request's longest run.")


class StrataConfig(BaseModel):
    """The whole configuration. Every section is optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prometheus: HttpSource | None = None
    loki: HttpSource | None = None
    log_files: tuple[LogFile, ...] = Field(
        default=(), description="Local log files read when there is no [loki]."
    )
    alertmanager: HttpSource | None = None
    snmp: SnmpSettings = Field(default_factory=SnmpSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    topology: Topology = Field(default_factory=Topology)
    model: ModelSettings = Field(default_factory=ModelSettings)
    window_minutes: float = Field(default=30.0, gt=0, description="Investigation window.")
    path: Path | None = Field(default=None, description="Where it was loaded from.")

    def secrets(self) -> list[str]:
        """Every secret value in this configuration (to scrub output and test for leaks)."""
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, SecretStr):
                if value := obj.get_secret_value():
                    found.append(value)
            elif isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name))
            elif isinstance(obj, tuple | list):
                for item in obj:
                    walk(item)

        walk(self)
        for source in (self.prometheus, self.loki, self.alertmanager):
            if source is not None and (password := urlsplit(source.url).password):
                found.append(password)  # https://user:password@host: a secret too
        return found


def search_path() -> list[Path]:
    """Where a configuration is looked for, in order (without ``--config``)."""
    paths = []
    if env := os.environ.get("STRATA_CONFIG"):
        paths.append(Path(env))
    paths.append(Path("strata.toml"))
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(xdg) / "strata" / "strata.toml")
    paths.append(Path("/etc/strata/strata.toml"))
    return paths


def _resolve_secrets(node: Any, where: str) -> Any:
    """Replace ``<secret>_env`` / ``<secret>_file`` keys by the secret's value."""
    if isinstance(node, list):
        return [_resolve_secrets(x, f"{where}[{i}]") for i, x in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        base, _, how = key.rpartition("_")
        if base in SECRET_KEYS and how in ("env", "file"):
            if base in node:
                raise ConfigError(f"{where}.{key}: give {base} once (inline, _env or _file)")
            if how == "env":
                if str(value) not in os.environ:
                    raise ConfigError(f"{where}.{key}: environment variable {value} is not set")
                out[base] = os.environ[str(value)]
            else:
                try:
                    text = Path(str(value)).expanduser().read_text().splitlines()
                except OSError as exc:
                    raise ConfigError(
                        f"{where}.{key}: cannot read {value}: {exc.strerror}"
                    ) from exc
                out[base] = text[0].strip() if text else ""
        else:
            out[key] = _resolve_secrets(value, f"{where}.{key}" if where else key)
    return out


_PATH_KEYS = ("client_keys", "known_hosts", "ca_file")


def _expand_paths(node: Any) -> Any:
    """``~`` in file paths (keys, known_hosts, CA files) is the user's home, as in a shell."""
    if isinstance(node, list):
        return [_expand_paths(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _PATH_KEYS and isinstance(value, str):
            out[key] = str(Path(value).expanduser())
        elif key in _PATH_KEYS and isinstance(value, list):
            out[key] = [str(Path(v).expanduser()) if isinstance(v, str) else v for v in value]
        else:
            out[key] = _expand_paths(value)
    return out


def parse_config(text: str, *, path: Path | None = None) -> StrataConfig:
    """Parse TOML text into a configuration.

    Raises:
        ConfigError: invalid TOML or values; the message names the key (never a secret).
    """
    name = str(path) if path else "<config>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    data = _expand_paths(_resolve_secrets(raw, ""))
    try:
        return StrataConfig.model_validate({**data, "path": path})
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        shown = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]
        ) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
        raise ConfigError(f"{name}: {shown}") from exc


def load_config(path: str | Path | None = None) -> StrataConfig:
    """Load ``path``, or the first file on :func:`search_path`.

    Raises:
        ConfigError: no file found (the message lists where it looked), or it is invalid.
    """
    candidates = [Path(path)] if path else search_path()
    for candidate in candidates:
        file = candidate.expanduser()
        if file.is_file():
            try:
                text = file.read_text()
            except OSError as exc:
                raise ConfigError(f"{file}: cannot read: {exc.strerror}") from exc
            return parse_config(text, path=file)
        if path:
            raise ConfigError(f"{file}: no such configuration file")
    looked = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"no configuration file found (looked at {looked}); pass --config FILE")
