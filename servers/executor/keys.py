"""Ed25519 plan tokens: key pairs, the keyring of trusted public keys and their roles, signing and verification.

A plan token is a compact JWS (EdDSA only) whose claims bind exactly one plan: its id and the SHA-256 of its
canonical JSON, the executor's cluster identity (audience), the namespace scope, a short validity window, a random
single-use id and the resourceVersions observed at approval. Verification parses the header itself before any
cryptography so that every other algorithm, and every header that could carry its own key, is refused with a
precise reason rather than whatever PyJWT happens to raise.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import Annotated, Any

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.exceptions import DecodeError, InvalidSignatureError, InvalidTokenError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from servers.executor.plan import ACTION_TYPES, VERB_CLASSES, Plan, plan_hash
from servers.executor.refusal import Refusal

TOKEN_TYPE = "aoi-plan+jwt"
ALGORITHM = "EdDSA"
MAX_TOKEN_CHARS = 16384
KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
_HEADER_KEYS = frozenset({"alg", "typ", "kid"})
_B64U = re.compile(r"[A-Za-z0-9_-]*")


# ------------------------------------------------------------------------------------------------ key material
def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_text(key: Ed25519PublicKey) -> str:
    """The keyring form of a public key: its 32 raw bytes, base64url without padding."""
    return _b64u(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()[:32]


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from the keyring: base64url raw bytes, or a PEM SubjectPublicKeyInfo. Ed25519 only."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"only Ed25519 keys are trusted, not {type(key).__name__}")
        return key
    raw = _unb64u(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_key_pair(directory: str | Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` (PKCS#8 PEM, mode 0600) and ``NAME.pub`` (keyring form); returns both paths."""
    KeyEntry.model_validate({"kid": name, "public_key": "A" * 43})  # validates the name as a kid
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    if not force and (priv_path.exists() or pub_path.exists()):
        raise FileExistsError(f"{priv_path} or {pub_path} exists; pass --force to overwrite")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    if force and priv_path.exists():
        priv_path.unlink()
    # Created 0600 from the first byte: no window in which another user could read the key.
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_text(public_key_text(key.public_key()) + "\n")
    return priv_path, pub_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    path = Path(path).expanduser()
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


# ------------------------------------------------------------------------------------------------ keyring
class KeyEntry(BaseModel):
    """One trusted public key and what it may sign."""

    model_config = ConfigDict(extra="forbid")

    kid: KeyId
    public_key: str = Field(description="base64url of the 32 raw bytes, or a PEM public key")
    allow: list[str] = Field(default_factory=lambda: ["restart", "scale"],
                             description="verb classes (restart, scale, rollback, patch, delete, exec), action "
                                         "types (e.g. merge_patch) or '*'")
    namespaces: list[str] = Field(default_factory=lambda: ["*"], description="namespace patterns (fnmatch)")
    cluster_scoped: bool = Field(default=False, description="may sign actions on cluster-scoped objects")
    description: str = ""

    @field_validator("allow")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        known = set(VERB_CLASSES) | set(ACTION_TYPES) | {"*"}
        bad = [x for x in v if x not in known]
        if bad:
            raise ValueError(f"unknown action class {bad}; known: {sorted(known)}")
        return v

    def public(self) -> Ed25519PublicKey:
        return parse_public_key(self.public_key)

    def may(self, action_type: str, verb_class: str) -> bool:
        return "*" in self.allow or action_type in self.allow or verb_class in self.allow

    def covers_namespace(self, namespace: str) -> bool:
        if namespace == "":
            return self.cluster_scoped
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.namespaces)


class Keyring(BaseModel):
    """The trusted public keys. The executor holds only these: it can verify a plan but never mint one."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry] = Field(default_factory=list)

    @field_validator("keys")
    @classmethod
    def _unique(cls, v: list[KeyEntry]) -> list[KeyEntry]:
        kids = [k.kid for k in v]
        if len(set(kids)) != len(kids):
            raise ValueError("duplicate kid in keyring")
        for k in v:
            k.public()  # a bad key fails at load, not at the first request
        return v

    def get(self, kid: str) -> KeyEntry | None:
        return next((k for k in self.keys if k.kid == kid), None)

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        doc = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        return cls.model_validate(doc)

    def save(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False))


# ------------------------------------------------------------------------------------------------ tokens
class Claims(BaseModel):
    """The claims of a plan token (strict: no coercion, no unknown claims)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    iss: KeyId  # the signing key's id
    aud: str  # the executor's cluster identity
    plan_id: str
    plan_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    namespaces: list[str]
    iat: int
    nbf: int
    exp: int
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,128}$")]
    observed: dict[str, str]  # "Kind/namespace/name" -> resourceVersion at approval


def sign_plan(plan: Plan, key: Ed25519PrivateKey, kid: str, audience: str, *, ttl_s: int = 300,
              observed: dict[str, str] | None = None, namespaces: list[str] | None = None,
              now: float | None = None, jti: str | None = None) -> str:
    """Mint a plan token for exactly this plan. ``observed`` pins each target's resourceVersion."""
    t = int(time.time() if now is None else now)
    claims = Claims(iss=kid, aud=audience, plan_id=plan.id, plan_sha256=plan_hash(plan),
                    namespaces=sorted(plan.namespaces() if namespaces is None else namespaces),
                    iat=t, nbf=t, exp=t + int(ttl_s), jti=jti or secrets.token_urlsafe(24),
                    observed=dict(observed or {}))
    return jwt.encode(claims.model_dump(), key, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE})


def token_digest(token: str) -> str:
    """What the audit log keeps of a token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode(errors="replace")).hexdigest() if isinstance(token, str) else ""


def _canonical_b64u(part: str) -> bool:
    if not _B64U.fullmatch(part):
        return False
    try:
        return _b64u(_unb64u(part)) == part
    except ValueError:
        return False


def unverified_header(token: Any) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise Refusal("malformed_token", f"a token is a compact JWS string of at most {MAX_TOKEN_CHARS} characters")
    parts = token.split(".")
    # The signature may be empty here (alg none): that is refused below with its own reason.
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise Refusal("malformed_token", "a compact JWS has three dot-separated parts")
    for part in parts:
        # Canonical base64url only: otherwise one signature has several spellings (a malleable token).
        if not _canonical_b64u(part):
            raise Refusal("malformed_token", "a part is not canonical unpadded base64url")
    try:
        header = json.loads(_unb64u(parts[0]))
    except (ValueError, UnicodeDecodeError) as e:
        raise Refusal("malformed_token", f"the header is not base64url JSON ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise Refusal("malformed_token", "the header is not a JSON object")
    return header


def verify_token(token: Any, keyring: Keyring, *, audience: str, now: float, max_lifetime_s: int,
                 skew_s: int = 30) -> tuple[Claims, KeyEntry]:
    """Check a token's header, signature and time/audience claims; raise Refusal with the first failed rule."""
    header = unverified_header(token)
    alg = header.get("alg")
    if alg is None or (isinstance(alg, str) and alg.lower() == "none"):
        raise Refusal("alg_none", "unsigned tokens (alg none) are never accepted; sign with EdDSA")
    if isinstance(alg, str) and alg.upper().startswith("HS"):
        raise Refusal("alg_hmac", f"alg {alg} refused: an HMAC over the public key proves nothing; only EdDSA")
    if alg != ALGORITHM:
        raise Refusal("alg_not_allowed", f"alg {str(alg)[:32]!r} refused; only EdDSA (Ed25519) is accepted")
    extra = sorted(set(header) - _HEADER_KEYS)
    if extra:
        raise Refusal("header_not_allowed", f"header fields {extra[:5]} are not accepted (keys come only from the "
                                            "executor's keyring); allowed: alg, typ, kid")
    if header.get("typ") != TOKEN_TYPE:
        raise Refusal("wrong_token_type", f"typ must be {TOKEN_TYPE!r}: this is not a plan token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Refusal("unknown_key", "the token names no key (kid)")
    entry = keyring.get(kid)
    if entry is None:
        raise Refusal("unknown_key", f"key {kid[:64]!r} is not in the executor's keyring")
    try:
        payload = jwt.PyJWS().decode(token, key=entry.public(), algorithms=[ALGORITHM])
    except InvalidSignatureError:
        raise Refusal("bad_signature", f"the signature does not verify with key {kid!r}") from None
    except (DecodeError, InvalidTokenError, ValueError, TypeError) as e:
        raise Refusal("malformed_token", f"the token cannot be decoded ({type(e).__name__})") from None
    try:
        raw = json.loads(payload)
        claims = Claims.model_validate(raw)
    except (ValueError, UnicodeDecodeError, ValidationError) as e:
        detail = e.errors()[0]["loc"] if isinstance(e, ValidationError) else type(e).__name__
        raise Refusal("bad_claims", f"the claims are not a plan token's ({detail})") from None
    if claims.iss != kid:
        raise Refusal("kid_mismatch", f"header kid {kid!r} and issuer {claims.iss!r} differ")
    if claims.aud != audience:
        raise Refusal("wrong_audience", f"the token is for {claims.aud[:200]!r}, this executor is {audience!r}")
    if claims.exp <= now - skew_s:
        raise Refusal("expired", f"the token expired {int(now - claims.exp)} s ago; approve the plan again")
    if claims.nbf > now + skew_s or claims.iat > now + skew_s:
        raise Refusal("not_yet_valid", "the token is not valid yet (nbf/iat in the future)")
    lifetime = claims.exp - min(claims.iat, claims.nbf)
    if lifetime > max_lifetime_s:
        raise Refusal("lifetime_over_cap", f"the token lives {lifetime} s; this executor accepts at most "
                                           f"{max_lifetime_s} s")
    if claims.exp <= claims.nbf:
        raise Refusal("bad_claims", "exp is not after nbf")
    return claims, entry
