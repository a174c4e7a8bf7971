"""An SRE's view of a simulated incident, for the fault tests (``tests/sim/test_faults.py``).

``Incident`` builds a cluster, serves it over HTTPS with telemetry, brings a problem up, and then touches the
cluster only the way an operator or an agent would: the Kubernetes API (objects read as JSON through the official
Python client; logs, table output and every repair through the real ``kubectl``, or the same REST calls through
the client where kubectl is not installed), and Prometheus' and Jaeger's HTTP APIs without a token. Simulated time
moves only through ``advance``; nothing sleeps.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.sim import SimCluster, SimConfig
from cluster.sim.apps import APPS
from cluster.sim.apps.deploy import deploy
from cluster.sim.faults.problems import PROBLEMS, Problem
from cluster.sim.faults.setup import SYMPTOM_SECONDS, WARMUP_SECONDS, bring_up
from cluster.sim.server import SimServer

KUBECTL = shutil.which("kubectl")
NO_KUBECTL = ("kubectl is not installed: its table output is not checked, and repairs go through the official Python "
              "client (the same REST calls)")

# resource -> (API group path, plural, namespaced), for the Python client's raw REST calls
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("/api/v1", "pods", True),
    "services": ("/api/v1", "services", True),
    "configmaps": ("/api/v1", "configmaps", True),
    "events": ("/api/v1", "events", True),
    "persistentvolumeclaims": ("/api/v1", "persistentvolumeclaims", True),
    "persistentvolumes": ("/api/v1", "persistentvolumes", False),
    "deployments": ("/apis/apps/v1", "deployments", True),
    "podchaos": ("/apis/chaos-mesh.org/v1alpha1", "podchaos", True),
    "networkchaos": ("/apis/chaos-mesh.org/v1alpha1", "networkchaos", True),
}
PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


@dataclass(frozen=True)
class Span:
    service: str
    operation: str
    kind: str
    error: bool
    message: str  # the error log's message ('' when none)
    duration_us: int
    tags: dict[str, Any]


def problem_for(family: str) -> Problem:
    """The family's mitigation problem where AIOpsLab has one, else its first problem."""
    ours = [p for p in PROBLEMS.values() if p.family == family]
    assert ours, f"no problem of family {family}"
    return next((p for p in ours if p.task == "mitigation"), ours[0])


class Incident:
    """``inject=False`` brings the family's application up healthy (a control: the symptoms must be absent)."""

    def __init__(self, family: str, tmp_path: Path, seed: int = 1, inject: bool = True):
        self.problem = problem_for(family)
        self.app = APPS[self.problem.app]
        self.ns = self.app.namespace
        self.cluster = SimCluster(SimConfig(seed=seed))
        self.server = SimServer(self.cluster, kubeconfig=tmp_path / "kc", telemetry=True).start()
        self._ssl = ssl.create_default_context(cadata=self.server.ca_pem.decode())
        self._client: Any = None
        self.home = tmp_path
        if KUBECTL is None:
            warnings.warn(NO_KUBECTL, stacklevel=2)
        self.fault = self.problem.fault
        try:
            if inject:
                bring_up(self.cluster, self.problem)
            else:
                deploy(self.cluster, self.app)
                self.cluster.advance(WARMUP_SECONDS + SYMPTOM_SECONDS)
        except BaseException:
            self.close()
            raise

    def as_family(self, family: str) -> Incident:
        """The same cluster, seen as an incident of another family of the same application (for controls)."""
        _ = self.client  # one client, closed with the original
        view = copy.copy(self)
        view.problem = problem_for(family)
        assert view.problem.app == self.problem.app, (family, self.problem.app)
        view.fault = view.problem.fault
        return view

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.server.stop()

    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds)

    # ------------------------------------------------------------------------------------ kubectl
    @property
    def has_kubectl(self) -> bool:
        return KUBECTL is not None

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None, NO_KUBECTL
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig_path), "HOME": str(self.home)}
        proc = subprocess.run([KUBECTL, "-n", self.ns, *args], capture_output=True, text=True, env=env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def k(self, *args: str) -> str:
        return self.kubectl(*args).stdout

    # ------------------------------------------------------------------------------------ python client
    @property
    def client(self) -> Any:
        if self._client is None:
            from kubernetes import config

            self._client = config.new_client_from_config(config_file=str(self.server.kubeconfig_path))
        return self._client

    def rest(self, method: str, path: str, body: Any = None, ctype: str = "application/json",
             query: dict[str, Any] | None = None, raw: bool = False) -> Any:
        """One call to the Kubernetes API through the official client (auth and TLS from the kubeconfig)."""
        api = self.client
        _, url, headers, data, _ = api.param_serialize(
            method, path, query_params=list((query or {}).items()),
            header_params={"Accept": "application/json", "Content-Type": ctype}, body=body,
            auth_settings=["BearerToken"])
        resp = api.call_api(method, url, header_params=headers, body=data)
        resp.read()
        text = resp.data.decode()
        assert resp.status < 300, f"{method} {path}: {resp.status} {text}"
        return text if raw else json.loads(text)

    def _path(self, resource: str, name: str = "") -> str:
        group, plural, namespaced = RESOURCES[resource]
        base = f"{group}/namespaces/{self.ns}/{plural}" if namespaced else f"{group}/{plural}"
        return f"{base}/{name}" if name else base

    # ------------------------------------------------------------------------------------ what an operator reads
    def get(self, resource: str, name: str) -> dict:
        """An object as JSON (read through the Python client: the same REST API kubectl reads, minus the cost of a
        process per read)."""
        return self.rest("GET", self._path(resource, name))

    def list(self, resource: str, selector: str = "", field_selector: str = "") -> list[dict]:
        query = {k: v for k, v in (("labelSelector", selector), ("fieldSelector", field_selector)) if v}
        return self.rest("GET", self._path(resource), query=query)["items"]

    def selector(self, component: str) -> str:
        return f"{self.app.label_key}={component}"

    def pods(self, component: str) -> list[dict]:
        return [p for p in self.list("pods", self.selector(component)) if not p["metadata"].get("deletionTimestamp")]

    def pod(self, component: str) -> dict:
        pods = self.pods(component)
        assert len(pods) == 1, f"expected one {component} pod, found {[p['metadata']['name'] for p in pods]}"
        return pods[0]

    # ------------------------------------------------------------------------------------ what an operator does
    # (kubectl where it is installed; otherwise the same requests through the Python client)
    def logs(self, pod: str, container: str = "", previous: bool = False, tail: int | None = None) -> str:
        if self.has_kubectl:
            args = ["logs", pod] + (["-c", container] if container else [])
            args += ["--previous"] if previous else []
            args += [f"--tail={tail}"] if tail is not None else []
            return self.k(*args)
        query: dict[str, Any] = {}
        if container:
            query["container"] = container
        if previous:
            query["previous"] = "true"
        if tail is not None:
            query["tailLines"] = tail
        return self.rest("GET", self._path("pods", pod) + "/log", query=query, raw=True)

    def patch(self, resource: str, name: str, body: Any, kind: str = "strategic") -> None:
        if self.has_kubectl:
            self.k("patch", resource, name, "--type", kind, "-p", json.dumps(body))
        else:
            self.rest("PATCH", self._path(resource, name), body, PATCH_TYPES[kind])

    def delete(self, resource: str, *names: str) -> None:
        assert names, f"no {resource} to delete"
        if self.has_kubectl:
            self.k("delete", resource, *names, "--wait=false")
        else:
            for name in names:
                self.rest("DELETE", self._path(resource, name))

    def delete_pods(self, component: str) -> list[str]:
        names = [p["metadata"]["name"] for p in self.pods(component)]
        self.delete("pods", *names)
        return names

    def scale(self, deployment: str, replicas: int) -> None:
        if self.has_kubectl:
            self.k("scale", f"deployment/{deployment}", f"--replicas={replicas}")
        else:
            self.rest("PATCH", self._path("deployments", deployment) + "/scale",
                      {"spec": {"replicas": replicas}}, PATCH_TYPES["merge"])

    def set_image(self, deployment: str, container: str, image: str) -> None:
        if self.has_kubectl:
            self.k("set", "image", f"deployment/{deployment}", f"{container}={image}")
        else:
            self.patch("deployments", deployment,
                       {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}})

    def rollout_restart(self, deployment: str) -> None:
        if self.has_kubectl:
            self.k("rollout", "restart", f"deployment/{deployment}")
        else:
            stamp = self.get("deployments", deployment)["metadata"]["resourceVersion"]
            self.patch("deployments", deployment, {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": f"rv-{stamp}"}}}}})

    def exec(self, pod: str, container: str, argv: list[str]) -> tuple[int, str]:
        """``kubectl exec POD -c CONTAINER -- ARGV``: (exit code, stdout + stderr)."""
        if self.has_kubectl:
            proc = self.kubectl("exec", pod, "-c", container, "--", *argv, check=False)
            return proc.returncode, proc.stdout + proc.stderr
        from kubernetes.client import CoreV1Api
        from kubernetes.stream import stream

        resp = stream(CoreV1Api(self.client).connect_get_namespaced_pod_exec, pod, self.ns, command=argv,
                      container=container, stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
        resp.run_forever(timeout=30)
        out = resp.read_stdout() + resp.read_stderr()
        code = resp.returncode
        resp.close()
        return code, out

    # ------------------------------------------------------------------------------------ Prometheus
    def _get_json(self, url: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(url, context=self._ssl, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def prom(self, query: str) -> list[tuple[dict[str, str], float]]:
        """An instant query at the cluster's now: (labels, value) per series."""
        url = f"{self.server.url}/prometheus/api/v1/query?" + urllib.parse.urlencode({"query": query})
        code, body = self._get_json(url)
        assert code == 200 and body["status"] == "success", f"{query}: {code} {body}"
        data = body["data"]
        assert data["resultType"] in ("vector", "scalar"), data
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def prom_value(self, query: str) -> float | None:
        """The single value of a query that yields one series (None when it yields none)."""
        rows = self.prom(query)
        assert len(rows) <= 1, f"{query} gave {len(rows)} series: {rows}"
        return rows[0][1] if rows else None

    # ------------------------------------------------------------------------------------ Jaeger
    def traces(self, service: str, **params: Any) -> list[dict]:
        """GET /jaeger/api/traces?service=..&<params>; ``tags`` may be a dict (sent as JSON)."""
        if isinstance(params.get("tags"), dict):
            params["tags"] = json.dumps(params["tags"])
        query = urllib.parse.urlencode({"service": service, "limit": 100, **params})
        code, body = self._get_json(f"{self.server.url}/jaeger/api/traces?{query}")
        assert code == 200 and not body["errors"], f"jaeger {query}: {code} {body}"
        return body["data"]

    def spans(self, service: str, **params: Any) -> list[Span]:
        out = []
        for trace in self.traces(service, **params):
            for s in trace["spans"]:
                tags = {t["key"]: t["value"] for t in s["tags"]}
                message = ""
                for log in s.get("logs") or []:
                    fields = {f["key"]: f["value"] for f in log["fields"]}
                    message = message or str(fields.get("message") or fields.get("exception.message") or "")
                out.append(Span(trace["processes"][s["processID"]]["serviceName"], s["operationName"],
                                str(tags.get("span.kind", "")), tags.get("error") is True, message, s["duration"],
                                tags))
        return out

    def error_spans(self, service: str, lookback: str = "1m") -> list[Span]:
        """The failed spans of the traces through ``service`` that Jaeger finds with ``error=true``."""
        return [s for s in self.spans(service, lookback=lookback, tags={"error": "true"}) if s.error]


def status_reason(pod: dict) -> str:
    """What kubectl's STATUS column would say, from the pod's JSON: a waiting reason, else the phase."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "Waiting")
    return (pod.get("status") or {}).get("phase", "")


def ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])
