"""Save a simulated cluster to a file and restore it (``aoi sim up --state FILE``)."""

from __future__ import annotations

import heapq
import os
from pathlib import Path

import orjson

from cluster.sim.cluster import SimCluster
from cluster.sim.runtime.behavior import ContainerContext
from cluster.sim.runtime.containers import ContainerState, PodRuntime, Run

FORMAT = 1


class StateError(ValueError):
    pass


def save_state(c: SimCluster, path: Path) -> None:
    with c.lock:
        snap = c.snapshot()
        snap["ids"] = _jsonable(c.ids.getstate())
        apps = getattr(c, "apps", None)
        if apps is not None:
            st = apps.state
            snap["apps"] = {
                "models": [run.model.name for run in apps.by_namespace.values()],
                "mongo": {k: {"users": v.users, "initialized": v.initialized} for k, v in st.mongo.items()},
                "mongo_tls": [[ns, comp, mode] for (ns, comp), mode in st.mongo_tls.items()],
                "flags": st.flags,
                "chaos": [vars(e) for e in st.chaos],
            }
    tmp = Path(f"{path}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(orjson.dumps(snap))
    os.replace(tmp, path)  # never leave a half-written state behind, even on Ctrl-C


def _jsonable(x: object) -> object:
    return [_jsonable(i) for i in x] if isinstance(x, (tuple, list)) else x


def _tuple(x: object) -> object:
    return tuple(_tuple(i) for i in x) if isinstance(x, list) else x


def load_state(c: SimCluster, path: Path) -> None:
    try:
        snap = orjson.loads(Path(path).read_bytes())
        if snap.get("version") != FORMAT:
            raise StateError(f"{path} has state format {snap.get('version')!r}; this simulator reads {FORMAT}")
        with c.lock:
            c.store.load(snap["store"])
            c.clock.restore(snap["clock"])
            c.ids.setstate(_tuple(snap["ids"]))
            c.service_ips.used = set(snap["service_ips"])
            c.node_ports.used = set(snap["node_ports"])
            for node, ips in snap["pod_ips"].items():
                n = c.store.get("nodes", "", node)
                if n is not None:
                    c.pod_ip_pool(n).used = set(ips)
            for crd in c.store.list("customresourcedefinitions.apiextensions.k8s.io"):
                c.registry.add_crd(crd)
            if snap.get("apps"):
                _restore_apps(c, snap["apps"])  # before the runtime: app containers' behaviours need the apps
            c.runtime.pods.clear()
            for uid, p in snap["runtime"]["pods"].items():
                containers = {}
                for name, cs in p.pop("containers").items():
                    runs = [Run(**r) for r in cs.pop("runs")]
                    containers[name] = ContainerState(**cs, runs=runs)
                rt = PodRuntime(**p, containers=containers)
                c.runtime.pods[uid] = rt
                _resolve_behaviors(c, rt)
            c.runtime.node_images = {n: {tuple(i) for i in imgs} for n, imgs in
                                     snap["runtime"]["node_images"].items()}
            c._timers = [(t, s, tuple(k)) for t, s, k in snap["timers"]]
            heapq.heapify(c._timers)
            c._timer_seq = snap["timer_seq"]
            # Controllers keep caches (the scheduler's node usage): rebuild them from a fresh look at everything.
            for ctl in c.controllers.values():
                if hasattr(ctl, "_usage"):
                    ctl._usage.clear()
                    ctl._placed.clear()
                    for pod in c.store.list("pods"):
                        ctl._account(pod, False)
    except (OSError, KeyError, TypeError, orjson.JSONDecodeError) as e:
        raise StateError(f"cannot restore the simulated cluster from {path}: {e}; delete the file to start "
                         "afresh") from e


def _restore_apps(c: SimCluster, data: dict) -> None:
    from cluster.sim.apps import APPS
    from cluster.sim.apps.runtime import Apps
    from cluster.sim.apps.state import ChaosEffect, MongoData

    apps = Apps.of(c)
    for name in data["models"]:
        apps.add(APPS[name])
    st = apps.state
    st.mongo = {k: MongoData(users=v["users"], initialized=v["initialized"]) for k, v in data["mongo"].items()}
    st.mongo_tls = {(ns, comp): mode for ns, comp, mode in data["mongo_tls"]}
    st.flags = data["flags"]
    st.chaos = [ChaosEffect(**e) for e in data["chaos"]]
    if c.registry.by_key("podchaos.chaos-mesh.org") is not None:
        from cluster.sim.chaos import install_chaos_mesh

        install_chaos_mesh(c)


def _resolve_behaviors(c: SimCluster, rt: PodRuntime) -> None:
    pod = c.store.get("pods", rt.namespace, rt.name)
    if pod is None:
        return
    specs = {x["name"]: (x, False) for x in pod["spec"]["containers"]}
    specs.update({x["name"]: (x, True) for x in pod["spec"].get("initContainers") or []})
    for name, cs in rt.containers.items():
        spec, init = specs.get(name, (None, False))
        if spec is None:
            continue
        for i, run in enumerate(cs.runs):
            run.behavior = c.behaviors.resolve(c, ContainerContext(pod=pod, container=spec, restart_count=i, init=init))
