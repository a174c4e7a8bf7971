"""API errors answered as real ``Status`` objects, the way kube-apiserver reports them."""

from __future__ import annotations

from typing import Any

# HTTP code -> the StatusReason kube-apiserver uses for it.
REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 504: "Timeout",
}


class ApiError(Exception):
    """Raised anywhere in the simulator to answer a request with a Status; never crashes the server."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _res(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(404, f'{_res(group, plural)} "{name}" not found',
                    details={"name": name, "group": group, "kind": plural})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(409, f'{_res(group, plural)} "{name}" already exists', reason="AlreadyExists",
                    details={"name": name, "group": group, "kind": plural})


def conflict(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_res(group, plural)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details={"name": name, "group": group, "kind": plural},
    )


def invalid(kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with field causes, e.g. ``invalid("Deployment", "web", [("spec.replicas", "must be >= 0")])``."""
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(422, f'{kind} "{name}" is invalid: {text}',
                    details={"name": name, "kind": kind,
                             "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                        for f, m in causes]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
