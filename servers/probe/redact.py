"""Redaction on every output path, default on: no secret value ever leaves the probe.

Three layers, applied to every string a tool returns (text and structured content alike):
1. Structure: Secret ``data``/``stringData`` values are replaced by their size; env values, args and annotations
   whose *names* look like credentials are replaced; kubeconfig-like documents lose their credentials.
2. Patterns: values that look like credentials wherever they appear (JWTs, PEM private keys, bearer tokens,
   ``password=...``, URLs with user:password@, cloud and VCS tokens).
3. Known values: the values of Secrets the probe can read (and its own kubeconfig token) are scrubbed wherever
   they appear, e.g. a database password that a service prints in a log line. Short values (< 6 characters) are
   skipped, since scrubbing "root" everywhere would destroy ordinary text; patterns still catch them in context.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
SENSITIVE_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|private[-_]?key|credential|auth(orization)?|cookie|"
    r"session[-_]?id|access[-_]?key|client[-_]?secret|signing[-_]?key|dsn|connection[-_]?string)", re.I)
# Annotation keys that hold whole manifests (which may embed secret data) are dropped like credentials.
SENSITIVE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)

PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("pem", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)"), MASK),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    ("bearer", re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    ("url-credentials", re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.I), r"\1" + MASK + "@"),
    ("aws", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    ("github", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), MASK),
    ("slack", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b"), MASK),
    ("key-value", re.compile(
        r"(?i)(\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)[\w.-]*"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?)([^\s\"',;&}]{2,})"), r"\1" + MASK),
    ("cli-password", re.compile(r"(?:^|(?<=\s))(-p|--password|--pass|--token)(\s+|=)(?!-)(\S+)"), r"\1\2" + MASK),
]


class Redactor:
    def __init__(self, enabled: bool = True, known: Iterable[str] = ()):
        self.enabled = enabled
        self._known: set[str] = set()
        self._known_re: re.Pattern[str] | None = None
        self.add_known(known)

    def add_known(self, values: Iterable[str]) -> None:
        added = {v for v in values if isinstance(v, str) and len(v) >= 6}
        if added - self._known:
            self._known |= added
            alts = sorted(self._known, key=len, reverse=True)
            self._known_re = re.compile("|".join(re.escape(v) for v in alts))

    # ------------------------------------------------------------------------------------------- text
    def text(self, s: str) -> str:
        if not self.enabled or not s:
            return s
        if self._known_re is not None:
            s = self._known_re.sub(MASK, s)
        for _, pattern, repl in PATTERNS:
            s = pattern.sub(repl, s)
        return s

    # ------------------------------------------------------------------------------------------ objects
    def obj(self, o: Any) -> Any:
        """A Kubernetes object (or any JSON value), redacted structurally and then as text."""
        if not self.enabled:
            return o
        return self._walk(self._structural(o))

    def _walk(self, o: Any) -> Any:
        if isinstance(o, str):
            return self.text(o)
        if isinstance(o, list):
            return [self._walk(x) for x in o]
        if isinstance(o, dict):
            return {k: self._walk(v) for k, v in o.items()}
        return o

    def _structural(self, o: Any) -> Any:
        if isinstance(o, list):
            return [self._structural(x) for x in o]
        if not isinstance(o, dict):
            return o
        out = {k: self._structural(v) for k, v in o.items()}
        secret_like = "data" in out and str(out.get("type", "")).startswith(("Opaque", "kubernetes.io/"))
        if out.get("kind") == "Secret" or secret_like:
            for key in ("data", "stringData"):
                if isinstance(out.get(key), dict):
                    out[key] = {k: f"{MASK} ({_size(v)} bytes)" for k, v in out[key].items()}
        if isinstance(out.get("env"), list):
            out["env"] = [self._env(e) for e in out["env"]]
        for key in ("args", "command"):
            if isinstance(out.get(key), list):
                out[key] = _redact_argv(out[key])
        meta = out.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
            meta["annotations"] = {k: (MASK if k in SENSITIVE_ANNOTATIONS or SENSITIVE_NAME.search(k.split("/")[-1])
                                       else v) for k, v in meta["annotations"].items()}
        if "users" in out and "clusters" in out and isinstance(out.get("users"), list):  # a kubeconfig
            out["users"] = [{"name": u.get("name"), "user": MASK} for u in out["users"] if isinstance(u, dict)]
        return out

    @staticmethod
    def _env(e: Any) -> Any:
        if isinstance(e, dict) and "value" in e and SENSITIVE_NAME.search(str(e.get("name", ""))):
            return {**e, "value": MASK}
        return e


def _size(v: Any) -> int:
    try:
        return len(base64.b64decode(str(v), validate=False))
    except ValueError:
        return len(str(v))


def _redact_argv(argv: list[Any]) -> list[Any]:
    out: list[Any] = []
    hide_next = False
    for a in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        s = str(a)
        if s in ("-p", "--password", "--pass", "--token", "--api-key", "--secret"):
            hide_next = True
        elif re.match(r"--?[\w-]*(password|token|secret|api-key)[\w-]*=", s, re.I):
            s = s.split("=", 1)[0] + "=" + MASK
        out.append(s if isinstance(a, str) else a)
    return out


def secret_values(secret: dict) -> list[str]:
    """The decoded values of a Secret, to scrub wherever they appear."""
    out = []
    for v in (secret.get("data") or {}).values():
        try:
            out.append(base64.b64decode(v).decode())
        except (ValueError, UnicodeDecodeError):
            continue
    out += [str(v) for v in (secret.get("stringData") or {}).values()]
    return out
