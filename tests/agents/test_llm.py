"""Model selection: ``auto`` never hangs without Ollama; specs are checked.

No Ollama binary exists here: the "Ollama answers" case is a real HTTP server on
loopback serving Ollama's documented ``GET /api/tags`` response shape.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.llm import ModelSpecError, parse_spec, resolve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Tags(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {"models": [{"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 4920753328}]}
        ).encode()
        self.send_response(200 if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def fake_ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_parse_spec() -> None:
    assert parse_spec("none") == ("none", "")
    assert parse_spec("ollama:llama3.1:8b") == ("ollama", "llama3.1:8b")
    with pytest.raises(ModelSpecError):
        parse_spec("ollama:")
    with pytest.raises(ModelSpecError):
        parse_spec("gpt")


async def test_auto_without_server_is_quick_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_free_port()}")
    started = time.perf_counter()
    handle = await resolve("auto")
    assert time.perf_counter() - started < 2.0
    assert handle.client is None
    assert not handle.use.available
    assert "no model server answered" in handle.use.note


async def test_none_never_probes() -> None:
    handle = await resolve("none")
    assert handle.client is None and handle.use.backend == "none"


async def test_auto_with_ollama_answering(
    fake_ollama: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama)
    handle = await resolve("auto")
    assert handle.use.available and handle.use.backend == "ollama"
    assert handle.use.name == "llama3.1:8b"
    assert handle.client is not None


async def test_unknown_model_on_ollama_is_reported(
    fake_ollama: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama)
    handle = await resolve("ollama:mistral:7b")
    assert handle.client is None
    assert "does not serve" in handle.use.note
