"""Kubeconfig files: write the simulator's, and read the telemetry URLs it records.

The simulator records its Prometheus and Jaeger URLs as a cluster extension named ``aoi.dev/telemetry``;
kubectl ignores extensions, and the probe reads them so that it needs no configuration against the
simulator.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

TELEMETRY_EXTENSION = "aoi.dev/telemetry"


class Telemetry(BaseModel):
    prometheus: str | None = None
    jaeger: str | None = None


def sim_kubeconfig(server: str, token: str, ca_pem: bytes, context: str = "aoi-sim", namespace: str = "default",
                   telemetry: Telemetry | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    if telemetry and (telemetry.prometheus or telemetry.jaeger):
        cluster["extensions"] = [{"name": TELEMETRY_EXTENSION,
                                  "extension": telemetry.model_dump(exclude_none=True)}]
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }


def write_kubeconfig(path: Path, config: dict[str, Any], merge: bool = True) -> Path:
    """Write (or merge into) a kubeconfig, replacing only the entries of the same names; mode 0600."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = config
    if merge and path.exists():
        try:
            existing = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{path} is not a valid kubeconfig (YAML error: {e}); "
                             "pass another --kubeconfig path") from e
        if isinstance(existing, dict):
            merged = dict(existing)
            for section in ("clusters", "users", "contexts"):
                names = {e["name"] for e in config[section]}
                merged[section] = [e for e in existing.get(section) or [] if e.get("name") not in names] + \
                    config[section]
            merged["current-context"] = config["current-context"]
            merged.setdefault("apiVersion", "v1")
            merged.setdefault("kind", "Config")
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(merged, f, sort_keys=False)
    os.replace(tmp, path)
    return path


def read_telemetry(path: str | Path | None = None, context: str | None = None) -> Telemetry:
    """The telemetry URLs recorded for a context's cluster (empty when none are recorded)."""
    files = [Path(p) for p in (str(path) if path else os.environ.get("KUBECONFIG", "~/.kube/config")).split(
        os.pathsep) if p]
    for f in files:
        f = f.expanduser()
        if not f.exists():
            continue
        try:
            doc = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError:
            continue
        ctx_name = context or doc.get("current-context")
        ctx = next((c["context"] for c in doc.get("contexts") or [] if c.get("name") == ctx_name), None)
        if not ctx:
            continue
        cl = next((c["cluster"] for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")), None)
        for ext in (cl or {}).get("extensions") or []:
            if ext.get("name") == TELEMETRY_EXTENSION:
                return Telemetry(**(ext.get("extension") or {}))
    return Telemetry()
