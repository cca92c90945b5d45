"""The Ollama path end to end, with model replies recorded in the shape Ollama returns.

No Ollama binary can be installed here. A loopback HTTP server speaks Ollama's
documented API (``GET /api/tags``, ``POST /api/chat`` non-streaming) and answers
with recorded replies from tests/fixtures/ollama/, a little slowly, so that the
shared client's concurrency bound and the overlap of specialist calls are real.
autogen-ext's ``OllamaChatCompletionClient`` (and the ``ollama`` library under it)
does the talking, as it does against a real server. Telemetry: the STP-loop seed
through a real Prometheus.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agents.llm import ModelLimits, resolve
from agents.replay import replay

ROOT = Path(__file__).resolve().parents[2]
REPLIES = ROOT / "tests" / "fixtures" / "ollama"
STP = ROOT / "scenarios" / "10_stp_loop_dns_symptoms"
DELAY_S = 0.4

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("prometheus") is None,
    reason="Prometheus/promtool not installed (make test installs the Debian package)",
)


class FakeOllama(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != "/api/tags":
            self._send(b"{}", 404)
            return
        self._send(
            json.dumps({"models": [{"name": "llama3.1:8b", "model": "llama3.1:8b"}]}).encode()
        )

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.requests.append(body)
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        try:
            time.sleep(DELAY_S)
            self._send((REPLIES / self._reply(body)).read_bytes())
        finally:
            with cls.lock:
                cls.in_flight -= 1

    @staticmethod
    def _reply(body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        system = messages[0].get("content", "") if messages else ""
        if body.get("format"):
            return "chat_answer.json"
        if body.get("tools"):
            asked_before = any(m.get("role") == "tool" for m in messages)
            if "network specialist" in system and not asked_before:
                return "chat_tool_call.json"
            return "chat_done.json"
        return "chat_summary.json"

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeOllama]]:
    handler = type("Handler", (FakeOllama,), {"requests": [], "in_flight": 0, "most": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.server_address[1]}")
    yield handler
    server.shutdown()
    server.server_close()


async def test_ollama_replies_drive_probes_answers_and_overlapping_calls(
    ollama: type[FakeOllama],
) -> None:
    model = await resolve("ollama:llama3.1:8b", limits=ModelLimits(max_concurrency=2, steps=2))
    assert model.use.backend == "ollama" and model.client is not None
    d = await replay(STP, model)

    assert d.root_cause is not None
    assert (d.root_cause.layer, d.root_cause.fault, d.root_cause.component) == (
        "network",
        "stp_loop",
        "sw1",
    )
    assert d.verdict == "diagnosed"
    assert d.narrative.startswith("A bridging loop on sw1")

    # Structured answers were asked for with the schema as Ollama's ``format``, capped.
    structured = [r for r in ollama.requests if r.get("format")]
    assert len(structured) == 6
    assert set(structured[0]["format"]["properties"]) == {"findings", "hypotheses"}
    assert all(r["options"]["num_predict"] == model.limits.max_tokens for r in structured)
    assert all(r.get("stream") is False for r in ollama.requests)

    review = d.model_review
    assert review is not None
    assert review.probes == 1  # the network model's snmp_get
    # Each specialist's recorded answer repeats the rules' stp_loop: one copy, no rival.
    assert review.hypotheses_proposed == 6 and review.hypotheses_kept <= 1
    assert sum(h.key == "network/stp_loop" and h.role == "root_cause" for h in d.hypotheses) == 1
    assert review.tokens > 0

    # Calls overlap in time, and never more than the bound are served at once.
    calls = d.timings.model_calls
    assert len(calls) == len(ollama.requests)
    assert all(c.prompt_tokens > 0 for c in calls if c.status == "ok")
    served = [(c.start_s + c.wait_s, c.end_s) for c in calls]
    overlaps = sum(
        1 for i, a in enumerate(served) for b in served[i + 1 :] if a[0] < b[1] and b[0] < a[1]
    )
    assert overlaps >= 3
    assert ollama.most == 2
    assert len({c.by for c in calls}) == 7  # six specialists and the summary
