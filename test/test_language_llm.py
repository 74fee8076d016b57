"""The optional LLM backend against a real HTTP peer: a tiny OpenAI-compatible server started here.

The server answers ``POST /v1/chat/completions`` like an OpenAI-compatible
endpoint; what it puts in the message content is chosen per test (a good
answer, JSON that does not validate, an HTTP error, a stall), so the client's
validation and fallback are exercised over real sockets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cinempc.language import CommandAnswer, ErrorAnswer, ShotsAnswer, parse_command
from cinempc.language.lexicon import LlmSettings
from cinempc.language.llm import LlmError, parse_with_llm, validate_reply
from cinempc.shot import ShotSpec


class FakeOpenAI(BaseHTTPRequestHandler):
    reply: object = None  # message content, or ("status", code)
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 -- http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        reply = type(self).reply
        if isinstance(reply, tuple):
            self.send_response(reply[1])
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
            return
        payload = {"id": "x", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    FakeOpenAI.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def llm_config(tmp_path, monkeypatch, server):
    """A config dir whose language.yaml turns the LLM on at the test server."""
    import shutil

    from cinempc.config import config_dir

    for path in config_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "language.yaml").read_text()
    text = text.replace("      enabled: false", "      enabled: true")
    text = text.replace('      url: ""', f'      url: "{server}"')
    (tmp_path / "language.yaml").write_text(text)
    monkeypatch.setenv("CINEMPC_CONFIG_DIR", str(tmp_path))
    return server


def settings(url: str, **extra) -> LlmSettings:
    # the shipped 8 s, not 1 s: no test here waits the timeout out (the server answers at once, or refuses the
    # connection), and a loaded machine can take over a second to serve a reply from the test's own thread
    return LlmSettings(enabled=True, url=url, timeout_s=8.0, **extra)


def test_valid_reply_is_validated_and_returned(server, monkeypatch):
    FakeOpenAI.reply = json.dumps({"shots": [{"subjects": ["bride"], "framing": "close_up",
                                              "movement": {"type": "orbit", "direction": "clockwise"}}]})
    monkeypatch.setenv("TEST_LLM_KEY", "sekret")
    answer = parse_with_llm("circle the bride, nice and close", settings(server, api_key_env="TEST_LLM_KEY"),
                            current=ShotSpec(subjects=["bride"]), known_subjects=["bride"])
    assert isinstance(answer, ShotsAnswer) and answer.shots[0].framing == "close_up"
    request = FakeOpenAI.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sekret"
    assert request["body"]["messages"][-1]["content"] == "circle the bride, nice and close"
    assert "ShotSpec" in request["body"]["messages"][0]["content"]


@pytest.mark.parametrize("reply", [
    json.dumps({"shots": [{"framing": "gigantic"}]}),
    json.dumps({"command": "self_destruct"}),
    json.dumps({"shots": [], "command": "hold"}),
    "Sure! Here is your shot: a wide orbit.",
    json.dumps({"shots": [{"subjects": ["bride"], "movement": {"type": "static", "direction": "clockwise"}}]}),
])
def test_replies_that_do_not_validate_are_llm_errors(server, reply):
    FakeOpenAI.reply = reply
    with pytest.raises(LlmError):
        parse_with_llm("wide", settings(server))


def test_http_errors_and_no_server_are_llm_errors(server):
    FakeOpenAI.reply = ("status", 503)
    with pytest.raises(LlmError, match="503"):
        parse_with_llm("wide", settings(server))
    with pytest.raises(LlmError):
        parse_with_llm("wide", settings("http://127.0.0.1:9/v1"))
    with pytest.raises(LlmError, match="empty"):
        parse_with_llm("wide", settings(""))


def test_code_fences_are_tolerated():
    answer = validate_reply('```json\n{"command": "resume"}\n```')
    assert isinstance(answer, CommandAnswer) and answer.command == "resume"


def test_parse_command_uses_the_configured_llm(llm_config):
    FakeOpenAI.reply = json.dumps({"shots": [{"framing": "extreme_wide", "angle": "overhead"}]})
    answer = parse_command("something poetic and sweeping over the valley")
    assert isinstance(answer, ShotsAnswer) and answer.shots[0].framing == "extreme_wide"
    assert len(FakeOpenAI.requests) == 1


def test_control_words_never_wait_for_the_llm(llm_config):
    FakeOpenAI.reply = json.dumps({"shots": [{"framing": "wide"}]})
    answer = parse_command("HOLD")
    assert isinstance(answer, CommandAnswer) and answer.command == "hold"
    assert FakeOpenAI.requests == []


def test_a_broken_llm_falls_back_to_the_rules(llm_config):
    FakeOpenAI.reply = "not json at all"
    answer = parse_command("wide shot of the bride")
    assert isinstance(answer, ShotsAnswer) and answer.shots[0].framing == "wide"


def test_without_fallback_a_broken_llm_is_an_error(llm_config, tmp_path):
    text = (tmp_path / "language.yaml").read_text().replace("fallback_to_rules: true", "fallback_to_rules: false")
    (tmp_path / "language.yaml").write_text(text)
    FakeOpenAI.reply = ("status", 500)
    answer = parse_command("wide shot of the bride")
    assert isinstance(answer, ErrorAnswer) and answer.error.reason == "llm"


def test_backend_rules_overrides_the_config(llm_config):
    answer = parse_command("wide shot", backend="rules")
    assert isinstance(answer, ShotsAnswer) and FakeOpenAI.requests == []
