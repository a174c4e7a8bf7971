"""The ``openai`` policy: any OpenAI-compatible ``/v1/chat/completions`` endpoint.

The primary target is vLLM serving a Qwen model with native tool calls::

    vllm serve Qwen/Qwen2.5-7B-Instruct --host 127.0.0.1 --port 8000 \\
        --enable-auto-tool-choice --tool-call-parser hermes --max-model-len 16384

Tools go to the API (``tools=``, ``tool_choice="auto"``) and calls come back as ``tool_calls``. A server that refuses
tools (vLLM without ``--enable-auto-tool-choice``) or a model that writes ``<tool_call>`` text instead is handled by
the text protocol: the policy switches to it once and goes on. Transient failures (connection errors, timeouts,
429/5xx, junk bodies) are retried with exponential backoff; what remains is a :class:`ModelError` that says what to
check. HTTP goes through ``httpx2`` (already installed with ``mcp``); the ``openai`` package is not needed.

Settings, each a constructor argument or an environment variable: ``AOI_OPENAI_BASE_URL`` (or ``OPENAI_BASE_URL``;
default ``http://127.0.0.1:8000/v1``), ``AOI_OPENAI_MODEL`` (or ``OPENAI_MODEL``; default: the first model the
server lists), ``AOI_OPENAI_API_KEY`` (or ``OPENAI_API_KEY``; vLLM's ``--api-key``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import httpx2

from observer.llm.chat import ChatConfig, ChatPolicy, Completion, ModelError, ToolsUnsupported, Usage
from observer.llm.prompting import approx_tokens

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
# httpx2 logs every request at INFO; an episode makes one per step, and failures are reported by this module.
_HTTP_LOG = logging.getLogger("httpx2")
if _HTTP_LOG.level == logging.NOTSET:
    _HTTP_LOG.setLevel(logging.WARNING)
TOOL_MODES = ("auto", "native", "text")


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1/`` both become ``http://host:8000/v1``; a URL with another path
    (a hosted API's own prefix) is kept as given. A full ``.../chat/completions`` URL is cut back to its base."""
    u = url.strip().rstrip("/")
    u = u.removesuffix("/chat/completions")
    if "://" not in u:
        u = "http://" + u
    if "/" not in u.split("://", 1)[1]:
        u += "/v1"
    return u


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend:
    """Chat completions over HTTP. ``tool_mode``: ``auto`` (native tool calls, falling back to the text protocol
    when the server refuses tools), ``native`` (never fall back) or ``text`` (never send tools)."""

    name = "openai"
    arguments_as_text = True

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 tool_mode: str = "auto", timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 retries: int = 3, backoff_s: float = 1.0, max_backoff_s: float = 20.0, temperature: float = 0.0,
                 max_tokens: int = 768, extra_body: dict[str, Any] | None = None,
                 transport: httpx2.BaseTransport | None = None):
        if tool_mode not in TOOL_MODES:
            raise ValueError(f"tool_mode must be one of {', '.join(TOOL_MODES)}, not {tool_mode!r}")
        self.base_url = normalize_base_url(base_url or _env("AOI_OPENAI_BASE_URL", "OPENAI_BASE_URL")
                                           or DEFAULT_BASE_URL)
        self.api_key = api_key if api_key is not None else _env("AOI_OPENAI_API_KEY", "OPENAI_API_KEY")
        self.requested_mode = tool_mode
        self.tool_mode = "text" if tool_mode == "text" else "api"
        self.retries = max(1, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self.timeout_s = timeout_s
        headers = {"Content-Type": "application/json", "User-Agent": "aoi-observer"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._client = httpx2.Client(headers=headers, transport=transport,
                                     timeout=httpx2.Timeout(timeout_s, connect=connect_timeout_s))
        self.fallback_reason: str | None = None
        self._model = model or _env("AOI_OPENAI_MODEL", "OPENAI_MODEL")
        self.sleep = time.sleep  # tests replace it

    # ------------------------------------------------------------------------------------------------ model and HTTP

    @property
    def model(self) -> str:
        if not self._model:
            self._model = self.discover_model()
        return self._model

    def discover_model(self) -> str:
        """The first model ``GET /models`` lists (vLLM serves one)."""
        data = self._request("GET", "/models", None)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list) or not models or not isinstance(models[0], dict) or not models[0].get("id"):
            raise ModelError(f"the endpoint at {self.base_url} lists no models; pass --model")
        return str(models[0]["id"])

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def _where(self) -> str:
        return f"the model at {self.base_url}"

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        last: str = ""
        for i in range(self.retries):
            try:
                return self._once(method, url, body)
            except _Retryable as e:
                last = str(e)
                if i == self.retries - 1:
                    break
                delay = min(self.max_backoff_s, self.backoff_s * (2 ** i))
                if e.retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, e.retry_after))
                self.sleep(delay)
        raise ModelError(f"{last} (gave up after {self.retries} attempt{'s' if self.retries != 1 else ''})")

    def _once(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        try:
            r = self._client.request(method, url, content=json.dumps(body) if body is not None else None)
        except httpx2.ConnectError as e:
            raise _Retryable(f"cannot reach {self._where()}: is `vllm serve` running? ({e})") from None
        except httpx2.TimeoutException:
            raise _Retryable(f"{self._where()} did not answer within {self.timeout_s:g}s") from None
        except httpx2.TransportError as e:
            raise _Retryable(f"connection to {self._where()} failed: {type(e).__name__}: {e}") from None
        text = r.text
        if r.status_code in (429, 500, 502, 503, 504):
            ra = r.headers.get("retry-after")
            try:
                retry_after = float(ra) if ra else None
            except ValueError:
                retry_after = None
            raise _Retryable(f"{self._where()} answered HTTP {r.status_code}: {_error_text(text)}", retry_after)
        if r.status_code in (401, 403):
            raise ModelError(f"{self._where()} refused the request (HTTP {r.status_code}: {_error_text(text)}); "
                             "set the API key with --api-key or AOI_OPENAI_API_KEY")
        if r.status_code == 404:
            raise ModelError(f"{self._where()} answered 404 for {url} ({_error_text(text)}): check the base URL "
                             "(it usually ends in /v1) and the model name")
        if r.status_code == 400 and body is not None and body.get("tools") and _about_tools(text):
            raise ToolsUnsupported(f"{self._where()} refused tools: {_error_text(text)}")
        if r.status_code >= 400:
            raise ModelError(f"{self._where()} answered HTTP {r.status_code}: {_error_text(text)}")
        try:
            return r.json()
        except ValueError:
            raise _Retryable(f"{self._where()} returned junk (not JSON): {text[:200]!r}") from None

    # ------------------------------------------------------------------------------------------------ chat

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Completion:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                                "temperature": self.temperature, **self.extra_body}
        if tools and self.tool_mode == "api":
            body["tools"] = tools
            body["tool_choice"] = "auto"
        started = time.perf_counter()
        data = self._chat(body)
        latency = (time.perf_counter() - started) * 1000
        return self._completion(data, latency)

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        url_path = "/chat/completions"
        last = ""
        for i in range(self.retries):
            try:
                data = self._request("POST", url_path, body)
            except ToolsUnsupported as e:
                if self.requested_mode == "native":
                    raise ModelError(f"{e}; start vLLM with --enable-auto-tool-choice --tool-call-parser hermes, "
                                     "or use --tool-mode text") from None
                self.fallback_reason = str(e)
                raise
            problem = _junk(data)
            if problem is None:
                return data
            last = f"{self._where()} returned junk ({problem}): {json.dumps(data, default=str)[:200]}"
            if i < self.retries - 1:
                self.sleep(min(self.max_backoff_s, self.backoff_s * (2 ** i)))
        raise ModelError(f"{last} (gave up after {self.retries} attempts)")

    def _completion(self, data: dict[str, Any], latency_ms: float) -> Completion:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        content = msg.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        calls = [tc for tc in (msg.get("tool_calls") or []) if isinstance(tc, dict)]
        u = data.get("usage") or {}
        usage = Usage(prompt_tokens=_int(u.get("prompt_tokens")), completion_tokens=_int(u.get("completion_tokens")))
        return Completion(content=content if isinstance(content, str) else "", tool_calls=calls, usage=usage,
                          finish_reason=choice.get("finish_reason"), latency_ms=latency_ms,
                          model=data.get("model") if isinstance(data.get("model"), str) else None)


def _int(v: Any) -> int:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0


def _junk(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not an object"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    c = choices[0]
    if not isinstance(c, dict) or not isinstance(c.get("message"), dict):
        return "a choice without a message"
    return None  # an empty message is the model's answer: the policy tells the model, not the endpoint


def _error_text(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:300]
        if isinstance(data.get("message"), str):
            return data["message"][:300]
        return str(err)[:300]
    return str(data)[:300]


def _about_tools(text: str) -> bool:
    t = text.lower()
    return "tool" in t and any(w in t for w in ("tool choice", "tool_choice", "tool-call-parser", "tools",
                                                 "enable-auto-tool-choice", "function"))


class OpenAIPolicy(ChatPolicy):
    """The ``openai`` policy: :class:`ChatPolicy` over :class:`OpenAIBackend`."""

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 config: ChatConfig | None = None, **backend_kw: Any):
        config = config or ChatConfig()
        backend_kw.setdefault("max_tokens", config.max_tokens)
        super().__init__(OpenAIBackend(base_url, model, api_key, **backend_kw), config)

    def close(self) -> None:
        self.backend.close()  # type: ignore[attr-defined]
