"""Connect to a Kubernetes API from a kubeconfig (path, context) with errors that say what to do."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from cluster.kubeconfig import Telemetry, read_telemetry
from cluster.readonly import WriteRefused, read_only


class ConnectError(RuntimeError):
    """The cluster cannot be reached or the kubeconfig is unusable; the message says how to fix it."""


def kubeconfig_path(path: str | Path | None) -> str:
    if path:
        return str(Path(path).expanduser())
    return os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path("~/.kube/config").expanduser())


def load_api_client(kubeconfig: str | Path | None = None, context: str | None = None,
                    readonly: bool = True) -> client.ApiClient:
    path = kubeconfig_path(kubeconfig)
    if not Path(path).exists():
        raise ConnectError(f"kubeconfig {path} does not exist; pass --kubeconfig PATH (or set KUBECONFIG). For the "
                           "simulator: `aoi sim up` writes .aoi/sim/kubeconfig")
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConnectError(f"cannot read kubeconfig {path}: {e}") from e
    contexts = [c.get("name") for c in doc.get("contexts") or [] if isinstance(c, dict)]
    if context and context not in contexts:
        raise ConnectError(f"context {context!r} is not in {path}; it has: {', '.join(contexts) or 'none'}")
    try:
        api = config.new_client_from_config(config_file=path, context=context)
    except (ConfigException, ValueError, TypeError, KeyError) as e:
        raise ConnectError(f"kubeconfig {path} is not usable ({e}); check its current-context and credentials") from e
    return read_only(api) if readonly else api


@dataclass
class Target:
    """Where an investigation points: the API server, its identity, and the telemetry URLs."""

    api: client.ApiClient
    kubeconfig: str
    context: str | None
    telemetry: Telemetry

    @property
    def server(self) -> str:
        return self.api.configuration.host


def connect(kubeconfig: str | Path | None = None, context: str | None = None, prometheus_url: str | None = None,
            jaeger_url: str | None = None, readonly: bool = True) -> Target:
    api = load_api_client(kubeconfig, context, readonly=readonly)
    path = kubeconfig_path(kubeconfig)
    recorded = read_telemetry(path, context)
    telemetry = Telemetry(prometheus=prometheus_url or recorded.prometheus, jaeger=jaeger_url or recorded.jaeger)
    return Target(api=api, kubeconfig=path, context=context, telemetry=telemetry)


class KubeHTTP:
    """Raw reads of the Kubernetes REST API through an ApiClient (auth, TLS, proxies as configured)."""

    def __init__(self, api: client.ApiClient, timeout: float = 15.0):
        self.api = api
        self.timeout = timeout

    def _request(self, path: str, query: dict[str, Any] | None, accept: str) -> Any:
        q = [(k, v) for k, v in (query or {}).items() if v is not None and v != ""]
        method, url, headers, _body, _post = self.api.param_serialize(
            "GET", path, query_params=q, header_params={"Accept": accept}, auth_settings=["BearerToken"])
        try:
            resp = self.api.call_api(method, url, header_params=headers, _request_timeout=self.timeout)
            resp.read()
        except (client.ApiException, WriteRefused):  # a refusal is not a connection problem
            raise
        except Exception as e:  # urllib3 connection errors: say where and what to check
            raise ConnectError(f"cannot reach the Kubernetes API at {self.api.configuration.host}: "
                               f"{type(e).__name__}: {e}. Is the cluster (or `aoi sim up`) running, and is the "
                               "kubeconfig's server address right?") from e
        if resp.status >= 400:
            raise client.ApiException(status=resp.status, reason=resp.reason, body=resp.data.decode(errors="replace"))
        return resp.data

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return orjson.loads(self._request(path, query, "application/json"))

    def text(self, path: str, query: dict[str, Any] | None = None) -> str:
        return self._request(path, query, "text/plain, */*").decode(errors="replace")
