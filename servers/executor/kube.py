"""The executor's Kubernetes client: only the requests its actions need, checked before a byte leaves the process.

Like ``cluster/readonly.py`` for the probe, the guard replaces the ApiClient's REST client (and wraps the
connection pool beneath it), and exec goes through a guarded WebSocket call. Every request is matched against a
method + path allowlist derived from the policy (which kinds may be read, patched, deleted, exec'd into); anything
else raises ``RequestRefused`` without being sent. In ``dry_run_only`` mode (``aoi plan approve``) every write must
also carry ``dryRun=All``, so approving a plan cannot change the cluster even with an admin kubeconfig.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import urllib3
from kubernetes import client
from kubernetes.client import rest
from kubernetes.stream import ws_client
from kubernetes.stream.stream import _websocket_request

from servers.executor.plan import KINDS, KindInfo
from servers.executor.policy import Policy

NS = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet")
CHAOS = ("PodChaos", "NetworkChaos", "StressChaos", "IOChaos", "TimeChaos", "HTTPChaos", "DNSChaos")
# Query parameters the executor ever sends; anything else is refused with the request.
QUERY_KEYS = frozenset({"dryRun", "labelSelector", "limit", "fieldManager", "fieldValidation", "gracePeriodSeconds",
                        "command", "container", "stdout", "stderr", "stdin", "tty"})
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"


class RequestRefused(PermissionError):
    """The executor's client refused a request that no action needs; nothing was sent."""

    def __init__(self, method: str, url: str, why: str):
        super().__init__(f"refused {method} {url}: {why}")
        self.method, self.url = method, url


class KubeError(RuntimeError):
    """The API server answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Rule:
    method: str  # GET, PATCH, DELETE, or EXEC (the pods/exec WebSocket)
    path: re.Pattern[str]
    what: str


def _paths(info: KindInfo, collection: bool, sub: str | None = None) -> str:
    base = "/api/v1" if not info.group else f"/apis/{re.escape(info.group)}/{info.version}"
    ns = f"/namespaces/{NS}" if info.namespaced else ""
    tail = f"(/{NAME})?" if collection else f"/{NAME}"
    return f"{base}{ns}/{info.plural}{tail}" + (f"/{sub}" if sub else "")


def request_rules(policy: Policy) -> list[Rule]:
    """The allowlist for a policy; ``deploy/executor-rbac.yaml`` is the same set for the default policy."""
    allowed_patch = [k for k in policy.merge_patch_kinds if k not in policy.protected_kinds]
    read = sorted({*WORKLOADS, "ReplicaSet", "Pod", "Service", *CHAOS, *allowed_patch})
    patch = sorted({*WORKLOADS, "Service", *CHAOS, *allowed_patch})
    rules = [Rule("GET", re.compile(_paths(KINDS[k], collection=True)), f"read {k}") for k in read]
    rules += [Rule("PATCH", re.compile(_paths(KINDS[k], collection=False)), f"patch {k}") for k in patch]
    rules += [Rule("PATCH", re.compile(_paths(KINDS[k], collection=False, sub="scale")), f"scale {k}")
              for k in SCALABLE]
    rules += [Rule("DELETE", re.compile(_paths(KINDS[k], collection=False)), f"delete {k}") for k in ("Pod", *CHAOS)]
    rules.append(Rule("EXEC", re.compile(_paths(KINDS["Pod"], collection=False, sub="exec")), "exec in Pod"))
    return rules


class Guard:
    """Checks one request against the rules; records what was sent for the audit log."""

    def __init__(self, rules: list[Rule], host: str, dry_run_only: bool = False):
        self.rules = rules
        self.prefix = urlsplit(host).path.rstrip("/")
        self.netloc = urlsplit(host).netloc
        self.dry_run_only = dry_run_only
        self._local = threading.local()

    def check(self, method: str, url: str, record: bool = True) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != self.netloc:
            raise RequestRefused(method, url, f"not this executor's API server ({self.netloc})")
        path = parts.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                raise RequestRefused(method, url, "outside the API server's base path")
            path = path[len(self.prefix):]
        query = parse_qsl(parts.query, keep_blank_values=True)
        bad = sorted({k for k, _ in query} - QUERY_KEYS)
        if bad:
            raise RequestRefused(method, url, f"query parameters {bad} are not used by any action")
        dry = dict(query).get("dryRun")
        if dry is not None and dry != "All":
            raise RequestRefused(method, url, "dryRun must be All")
        if self.dry_run_only and method != "GET" and dry != "All":
            raise RequestRefused(method, url, "this client only dry-runs (plan approval never changes the cluster)")
        if not any(r.method == method and r.path.fullmatch(path) for r in self.rules):
            raise RequestRefused(method, url, "no executor action needs this request")
        entry = {"method": method, "path": path, **({"dryRun": "All"} if dry else {})}
        log = getattr(self._local, "log", None)
        if record and log is not None:
            log.append(entry)
        return entry

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        log: list[dict[str, Any]] = []
        self._local.log = log
        try:
            yield log
        finally:
            self._local.log = None


class _GuardedPool:
    """Beneath the REST client: a request that reaches the pool any other way is checked too."""

    def __init__(self, inner: urllib3.PoolManager, guard: Guard):
        self._inner, self._guard = inner, guard

    def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        self._guard.check(method.upper(), url, record=False)  # the REST client checked and recorded it already
        return self._inner.request(method, url, *args, **kw)

    def urlopen(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        raise RequestRefused(method.upper(), url, "direct pool access is not allowed")

    def clear(self) -> None:
        self._inner.clear()

    def __getattr__(self, name: str) -> Any:
        if name in ("request_encode_url", "request_encode_body", "connection_from_url", "connection_from_host"):
            raise RequestRefused("ANY", f"<pool.{name}>", "direct pool access is not allowed")
        return getattr(self._inner, name)


class GuardedRESTClient(rest.RESTClientObject):
    def __init__(self, configuration: client.Configuration, guard: Guard):
        super().__init__(configuration)
        self.guard = guard
        self.pool_manager = _GuardedPool(self.pool_manager, guard)  # type: ignore[assignment]

    def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
        self.guard.check(method.upper(), url)
        return super().request(method, url, *args, **kw)


def guard_api_client(api: client.ApiClient, policy: Policy, dry_run_only: bool = False) -> Guard:
    """Replace ``api``'s REST client with the guarded one (in place); returns the guard."""
    guard = Guard(request_rules(policy), api.configuration.host, dry_run_only=dry_run_only)
    old = api.rest_client
    api.rest_client = GuardedRESTClient(api.configuration, guard)
    with contextlib.suppress(Exception):  # an unused pool may have nothing to clear
        old.pool_manager.clear()
    return guard


@dataclass
class ExecOutput:
    stdout: str
    stderr: str
    exit_code: int | None


class Kube:
    """The few REST operations actions are made of, over a guarded ApiClient."""

    def __init__(self, api: client.ApiClient, policy: Policy, dry_run_only: bool = False, timeout: float = 30.0):
        self.api = api
        self.guard = guard_api_client(api, policy, dry_run_only=dry_run_only)
        self.timeout = timeout

    def close(self) -> None:
        """Close kept-alive connections."""
        with contextlib.suppress(Exception):
            self.api.rest_client.pool_manager.clear()

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def request(self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None,
                content_type: str | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        m, url, hdrs, data, _ = self.api.param_serialize(method, path, query_params=query or [],
                                                         header_params=headers, body=body,
                                                         auth_settings=["BearerToken"])
        log = getattr(self.guard._local, "log", None)
        try:
            resp = self.api.call_api(m, url, header_params=hdrs, body=data, _request_timeout=self.timeout)
            resp.read()
        except RequestRefused:
            raise
        except client.ApiException as e:
            if log:
                log[-1]["status"] = e.status or 0
            raise KubeError(e.status or 0, _status_message(e.body) or str(e.reason)) from None
        except Exception as e:  # urllib3 connection errors
            if log:
                log[-1]["status"] = 0
            raise KubeError(0, f"cannot reach the Kubernetes API at {self.host}: {type(e).__name__}: {e}") from None
        if log:
            log[-1]["status"] = resp.status
        if resp.status >= 400:
            raise KubeError(resp.status, _status_message(resp.data) or str(resp.reason))
        return json.loads(resp.data) if resp.data else {}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", KINDS[kind].path(namespace, name))
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        return list(self.request("GET", KINDS[kind].path(namespace), query).get("items") or [])

    def patch(self, kind: str, namespace: str, name: str, body: Any, content_type: str, dry_run: bool,
              sub: str | None = None) -> dict[str, Any]:
        query = [("dryRun", "All")] if dry_run else []
        return self.request("PATCH", KINDS[kind].path(namespace, name, sub), query, body, content_type)

    def delete(self, kind: str, namespace: str, name: str, dry_run: bool, grace_period_seconds: int | None = None,
               resource_version: str | None = None) -> dict[str, Any]:
        query = [("dryRun", "All")] if dry_run else []
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        return self.request("DELETE", KINDS[kind].path(namespace, name), query, body, "application/json")

    def exec(self, namespace: str, pod: str, container: str | None, command: list[str],
             timeout: float = 60.0) -> ExecOutput:
        """Run a command in a pod over the WebSocket remote-command protocol (what kubectl exec does)."""
        guard = self.guard

        def guarded_ws(configuration: client.Configuration, method: str, url: str, **kw: Any) -> Any:
            guard.check("EXEC", url)
            if guard.dry_run_only:
                raise RequestRefused("EXEC", url, "this client only dry-runs")
            return ws_client.websocket_call(configuration, method, url, **kw)

        core = client.CoreV1Api(self.api)
        kwargs: dict[str, Any] = {"command": command, "stdout": True, "stderr": True, "stdin": False, "tty": False,
                                  "_preload_content": False}
        if container:
            kwargs["container"] = container
        try:
            resp = _websocket_request(guarded_ws, None, core.connect_get_namespaced_pod_exec, pod, namespace,
                                      **kwargs)
            resp.run_forever(timeout=timeout)
            stdout, stderr = resp.read_stdout() or "", resp.read_stderr() or ""
            code, why = _exit_status(resp.read_channel(ws_client.ERROR_CHANNEL), resp.is_open())
            out = ExecOutput(stdout, stderr + (f"\n{why}" if why else ""), code)
            with contextlib.suppress(Exception):
                resp.close()
            with contextlib.suppress(Exception):
                resp.sock.shutdown()  # the server finished the command; do not hold its connection open
        except RequestRefused:
            raise
        except client.ApiException as e:
            raise KubeError(e.status or 0, _status_message(e.body) or str(e.reason)) from None
        log = getattr(guard._local, "log", None)
        if log:
            log[-1]["exit_code"] = out.exit_code
        return out


def _exit_status(channel: str, still_open: bool) -> tuple[int | None, str]:
    """The exit code from the remote-command error channel (a Status); the client's own parser assumes every
    failure carries an ExitCode cause, which a command that cannot start does not."""
    if still_open:
        return None, "the command did not finish in time"
    try:
        status = json.loads(channel) if channel else {}
    except ValueError:
        return None, channel[:500]
    if not isinstance(status, dict) or status.get("status") == "Success" or not status:
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"]), ""
    return None, str(status.get("message") or status)[:500]


def _status_message(body: Any) -> str:
    if not body:
        return ""
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        return str(body)[:500]
    if isinstance(doc, dict):
        return str(doc.get("message") or doc.get("reason") or "")[:1000]
    return str(doc)[:500]
