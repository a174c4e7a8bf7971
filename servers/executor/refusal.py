"""Why the executor refuses a request: one code per rule, so callers (and the attack suite) can tell them apart."""

from __future__ import annotations

from typing import Literal

Reason = Literal[
    "malformed_token",  # not a compact JWS, bad base64/JSON, too long
    "alg_none",  # an unsigned token
    "alg_hmac",  # HS256/384/512: the public key used as an HMAC secret (key confusion)
    "alg_not_allowed",  # any other algorithm but EdDSA
    "header_not_allowed",  # jwk/jku/x5u/x5c/crit/b64/...: keys or processing rules smuggled in the header
    "wrong_token_type",  # typ is not aoi-plan+jwt
    "unknown_key",  # no (or no such) kid in the keyring
    "kid_mismatch",  # header kid and the iss claim name different keys
    "bad_signature",
    "bad_claims",  # a claim missing, of the wrong type, or unknown
    "wrong_audience",  # the token is for another executor/cluster
    "wrong_cluster",  # the plan names another cluster
    "expired",
    "not_yet_valid",  # nbf (or iat) in the future
    "lifetime_over_cap",  # exp - iat beyond the executor's cap
    "invalid_plan",  # the plan does not validate
    "plan_id_mismatch",
    "plan_hash_mismatch",  # any changed argument
    "namespace_out_of_scope",  # an action outside the token's namespace scope
    "namespace_not_allowed_for_key",  # ... or outside the key's namespaces
    "action_not_allowed_for_key",  # a verb class the key may not sign
    "protected_namespace",
    "protected_kind",
    "kind_not_allowed",  # merge_patch on a kind the policy does not allow
    "exec_not_allowlisted",
    "over_cap",  # too many actions, too many replicas
    "missing_observed_state",  # the token does not pin a target's resourceVersion
    "resource_version_changed",  # the target changed since approval
    "target_missing",  # the target does not exist (any more)
    "replayed",  # the token's single-use id was used before
    "dry_run_failed",  # the server-side dry-run of an action failed; nothing was changed
    "cluster_unreachable",
    "internal_error",
]


class Refusal(Exception):
    """A request the executor will not act on, with a reason code and a message that says what to do."""

    def __init__(self, reason: Reason, message: str, action: int | None = None):
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message
        self.action = action
