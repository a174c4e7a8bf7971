"""The plan-token guard: nothing that looks like a compact JWS (a plan token) is ever stored.

The writer redacts secrets (the probe and executor already do); this guard is the store's last line for the one
secret it must never hold: a signed plan token. A compact JWS is three base64url segments joined by dots whose
first (the protected header) is a JSON object, so it starts with ``eyJ``. Each match is replaced by a marker that
carries the first 16 hex digits of the token's SHA-256, so a stored step can still be matched with the plan row and
the executor's audit entry (both keep the full SHA-256).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

# header (base64url of '{"...') . payload (may be empty: detached) . signature
JWS_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{8,}")


class TokenRefused(ValueError):
    """A value that must be an id or a digest looks like a token."""


def marker(token: str) -> str:
    return f"[plan token removed sha256:{hashlib.sha256(token.encode()).hexdigest()[:16]}]"


def looks_like_jws(value: str) -> bool:
    return JWS_RE.search(value) is not None


def strip_text(value: str) -> str:
    if "eyJ" not in value:  # fast path
        return value
    return JWS_RE.sub(lambda m: marker(m.group(0)), value)


def strip(value: Any) -> Any:
    """``value`` with every JWS-shaped substring replaced, in strings, dict keys and values, lists and tuples."""
    if isinstance(value, str):
        return strip_text(value)
    if isinstance(value, dict):
        return {strip(k) if isinstance(k, str) else k: strip(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip(v) for v in value]
    return value


def refuse_token(name: str, value: str | None) -> str | None:
    if value is not None and looks_like_jws(value):
        raise TokenRefused(f"{name} looks like a plan token (a compact JWS): store its id (jti) and SHA-256, "
                           "never the token")
    return value
