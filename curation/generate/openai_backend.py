"""OpenAI-compatible HTTP backend: retries with backoff + jitter, Retry-After, rate limits, usage, no key leaks.

Plain `urllib` (stdlib, thread-safe per request) rather than a new HTTP dependency: concurrency comes from the
caller's thread pool (`requests.complete_all`), and a custom redirect handler refuses every redirect, so the API
key never reaches a host other than the configured one (urllib would follow a 302/303 as a GET with the original
headers, Authorization included, to any host).

Each request is bounded as a whole: `timeout` is a deadline for connect, send, headers and body together (a
watchdog shuts the socket when it passes), not a per-read limit that a server trickling one byte at a time never
trips. The answer is read in chunks up to `max_response_bytes` (the `llm_max_response_mb` setting) and the request
fails as soon as it is larger, so memory never grows with what a server sends.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from curation import config
from curation.generate import endpoints
from curation.generate.endpoints import Endpoint
from curation.generate.llm import Completion, LLMError, cut_at_stop

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 300.0


class RedirectRefused(LLMError):
    """The server answered with a redirect; following it could send the API key elsewhere."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise RedirectRefused(
                f"{req.full_url} redirected (HTTP {code}) to another host, {new.scheme}://{new.netloc}; refused so "
                f"the API key is only sent to {old.netloc}. Set the base URL to the server you mean to use"
            )
        raise RedirectRefused(f"{req.full_url} redirected (HTTP {code}) to {newurl}; set the base URL to that address")


class ResponseTooLarge(LLMError):
    """The server's answer is larger than the configured cap; the request is abandoned, not retried."""


class _Watchdog:
    """Shuts a request's socket down when its deadline passes, whatever the socket is waiting for."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            self._timer = threading.Timer(self.remaining(), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sock = None


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        kwargs["timeout"] = watchdog.remaining()
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self.watchdog.arm(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any) -> None:
        kwargs["timeout"] = watchdog.remaining()
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def connect(self) -> None:
        super().connect()  # the TLS handshake is bounded by the socket timeout (the time left)
        self.watchdog.arm(self.sock)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPConnection, watchdog=self.watchdog), req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPSConnection, watchdog=self.watchdog), req)


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        _RefuseRedirects(), _WatchedHTTPHandler(watchdog), _WatchedHTTPSHandler(watchdog)
    )


def read_capped(resp: Any, limit: int, url: str, chunk: int = 65536) -> bytes:
    """The body, read in chunks; ResponseTooLarge as soon as it passes `limit` bytes (nothing more is read)."""
    too_large = ResponseTooLarge(
        f"{url} sent an answer larger than {limit / 1048576:g} MB; refused (raise the "
        f"{config.SETTINGS['llm_max_response_mb'].env} setting if such answers are expected)"
    )
    declared = resp.headers.get("Content-Length") if resp.headers else None
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    parts, size = [], 0
    while True:
        data = resp.read(min(chunk, limit + 1 - size))
        if not data:
            return b"".join(parts)
        parts.append(data)
        size += len(data)
        if size > limit:
            raise too_large


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), capped; None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - (time.time() if now is None else now)), MAX_RETRY_AFTER)


class RateLimiter:
    """Optional requests/min and tokens/min limits over a sliding 60 s window, shared by all threads."""

    def __init__(
        self,
        requests_per_min: int | None = None,
        tokens_per_min: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, value in (("requests_per_min", requests_per_min), ("tokens_per_min", tokens_per_min)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or empty for no limit); got {value}")
        self.requests_per_min, self.tokens_per_min = requests_per_min, tokens_per_min
        self.clock, self.sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def _wait_needed(self, now: float) -> float:
        while self._sent and now - self._sent[0] >= 60:
            self._sent.popleft()
        while self._tokens and now - self._tokens[0][0] >= 60:
            self._tokens.popleft()
        waits = [0.0]
        if self.requests_per_min and len(self._sent) >= self.requests_per_min:
            waits.append(60 - (now - self._sent[0]))
        if self.tokens_per_min and sum(n for _, n in self._tokens) >= self.tokens_per_min:
            waits.append(60 - (now - self._tokens[0][0]))
        return max(waits)

    def acquire(self) -> None:
        """Block until one more request fits in both limits, then count it."""
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    return
            self.sleep(wait)

    def record_tokens(self, tokens: int) -> None:
        if tokens > 0:
            with self._lock:
                self._tokens.append((self.clock(), tokens))


@dataclass
class OpenAIBackend:
    """Any OpenAI-compatible server (vLLM, llama.cpp, Ollama, hosted): /completions or /chat/completions."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    chat: bool = False
    timeout: float = 60.0  # seconds for the whole request (connect, send, headers, body)
    max_retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    jitter: float = 0.25
    requests_per_min: int | None = None
    tokens_per_min: int | None = None
    max_response_bytes: int | None = None  # None: the llm_max_response_mb setting
    allowed: Sequence[Endpoint] | None = field(default=None, repr=False)  # the admin's list (a users file is set)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https://; got {self.base_url!r}")
        if not self.model.strip():
            raise ValueError("model name is empty; give the name the server knows the model by")
        endpoints.check(list(self.allowed) if self.allowed is not None else None, self.api_key_env or "", self.base_url)
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds; got {self.timeout}")
        if self.max_response_bytes is None:
            self.max_response_bytes = int(float(config.get("llm_max_response_mb")) * 1048576)
        if self.max_response_bytes < 1:
            raise ValueError(f"the response size cap must be >= 1 byte; got {self.max_response_bytes}")
        self.base_url = self.base_url.rstrip("/")
        self.name = self.model
        self.limiter = RateLimiter(self.requests_per_min, self.tokens_per_min, sleep=self.sleep)

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: Sequence[str] = (),
        presence_penalty: float = 0.0,
    ) -> Completion:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature}
        body |= {"top_p": top_p, **({"stop": list(stop)[:4]} if stop else {})}
        if presence_penalty:
            body["presence_penalty"] = presence_penalty
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        data = self._post("/chat/completions" if self.chat else "/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.chat else choice["text"]
        except (KeyError, IndexError, TypeError) as err:
            raise LLMError(f"{self.base_url} sent an answer without choices[0] text: {str(data)[:200]}") from err
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens, completion_tokens = (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )
        self.limiter.record_tokens(prompt_tokens + completion_tokens)
        text, hit = cut_at_stop(text or "", stop)
        reason = "stop" if hit else (choice.get("finish_reason") or "stop")
        return Completion(text, "length" if reason == "length" else "stop", prompt_tokens, completion_tokens)

    def _request(self, url: str, body: dict[str, Any]) -> urllib.request.Request:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return urllib.request.Request(url, json.dumps(body).encode("utf-8"), headers, method="POST")

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when given, else exponential backoff with up to `jitter` extra (attempt >= 1)."""
        if retry_after is not None:
            return retry_after
        base = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return base * (1 + self.jitter * self.rng.random())

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        problem, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.backoff_delay(attempt, retry_after))
            retry_after = None
            self.limiter.acquire()
            watchdog = _Watchdog(self.timeout)
            try:
                with _opener(watchdog).open(self._request(url, body), timeout=self.timeout) as resp:
                    raw = read_capped(resp, int(self.max_response_bytes or 0), url)
                if watchdog.fired:  # the socket was shut mid-body: what arrived is cut short
                    raise TimeoutError("timed out")
                return json.loads(raw.decode("utf-8"))
            except urllib.error.HTTPError as err:
                detail = err.read(200).decode("utf-8", "replace")[:200]
                problem = f"HTTP {err.code}: {detail}"
                if err.code not in RETRY_STATUS:
                    raise LLMError(f"{url} refused the request ({problem}); check the model name and API key") from err
                retry_after = retry_after_seconds(err.headers.get("Retry-After") if err.headers else None)
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", err)
                timed_out = watchdog.fired or "timed out" in str(reason)
                problem = f"timed out after {self.timeout:g} s" if timed_out else str(reason)
                problem = problem or type(err).__name__
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise LLMError(f"{url} did not answer with JSON ({getattr(err, 'msg', None) or err.reason})") from err
            finally:
                watchdog.cancel()
        raise LLMError(
            f"cannot get a completion from {url} after {self.max_retries + 1} attempts ({problem}); "
            "check that the server is running and the base URL is right"
        )
