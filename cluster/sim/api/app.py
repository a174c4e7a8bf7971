"""The Kubernetes REST API over HTTP: routing, authentication, content negotiation, lists with
pagination, watches, logs and metrics.k8s.io. Every request runs under the cluster lock, after the
clock has caught up and before the controllers settle, so a response reflects a consistent cluster."""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from cluster.sim import printers
from cluster.sim.api import discovery, openapi
from cluster.sim.api import exec as pod_exec
from cluster.sim.cluster import SimCluster
from cluster.sim.errors import ApiError, bad_request
from cluster.sim.quantity import format_bytes
from cluster.sim.resources import ResourceType
from cluster.sim.runtime.logs import pod_logs
from cluster.sim.runtime.usage import container_usage
from cluster.sim.selectors import FieldSelector, LabelSelector, SelectorError
from cluster.sim.store import WatchEvent

log = logging.getLogger("aoi.sim.api")

PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
JSON = "application/json"


def _json(body: Any, code: int = 200, media_type: str = JSON) -> Response:
    return Response(orjson.dumps(body), status_code=code, media_type=media_type)


def _error(e: ApiError) -> Response:
    return _json(e.status(), e.code)


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "t")


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as e:
        raise bad_request(f"{name}: invalid value {value!r}: must be an integer") from e


def _list_key(obj: dict) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Route_:
    """A parsed resource path."""

    def __init__(self, rt: ResourceType, namespace: str | None, name: str | None, sub: str | None):
        self.rt, self.namespace, self.name, self.sub = rt, namespace, name, sub


class KubeApi:
    def __init__(self, cluster: SimCluster):
        self.c = cluster
        self.token = cluster.config.token

    # --------------------------------------------------------------------------------------- entry
    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        try:
            if path not in PUBLIC_PATHS and not self._authorized(request):
                raise ApiError(401, "Unauthorized")
            return await self._dispatch(request, path)
        except ApiError as e:
            return _error(e)
        except Exception as e:  # a bug must answer 500, never take the server down
            log.exception("internal error serving %s %s", request.method, path)
            return _error(ApiError(500, f"Internal error occurred: {type(e).__name__}: {e}"))

    def _authorized(self, request: HTTPConnection) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.token)

    async def _dispatch(self, request: Request, path: str) -> Response:
        reg = self.c.registry
        if path in ("/healthz", "/livez", "/readyz"):
            return Response("ok", media_type="text/plain")
        if path == "/version":
            return _json(discovery.version_info(self.c.config.kubernetes_version))
        if path == "/openapi/v3":
            return _json(openapi.root(reg))
        if path.startswith("/openapi/v3/"):
            doc = openapi.group_version(reg, path[len("/openapi/v3/"):])
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return _json(doc)
        if path.startswith("/openapi"):
            raise ApiError(404, "the server could not find the requested resource (only OpenAPI v3 is served)")
        parts = [p for p in path.split("/") if p]
        accept = request.headers.get("accept", "")
        if parts == ["api"]:
            if "as=APIGroupDiscoveryList" in accept:
                return _json(discovery.aggregated(reg, legacy=True), media_type=discovery.AGGREGATED_V2)
            return _json(discovery.api_versions())
        if parts == ["apis"]:
            if "as=APIGroupDiscoveryList" in accept:
                return _json(discovery.aggregated(reg, legacy=False), media_type=discovery.AGGREGATED_V2)
            return _json(discovery.api_group_list(reg))
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if len(parts) == 2:
                doc = discovery.api_group(reg, parts[1])
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource")
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            doc = discovery.resource_list(reg, group, version)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return _json(doc)
        route = self._route(group, version, rest)
        return await self._resource(request, route)

    def _route(self, group: str, version: str, rest: list[str]) -> Route_:
        reg = self.c.registry
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = reg.lookup(group, version, rest[2])
            if rt is not None and rt.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = reg.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        if rt.namespaced and name is not None and namespace is None:
            raise ApiError(404, "the server could not find the requested resource")
        return Route_(rt, namespace, name, sub)

    # ---------------------------------------------------------------------------------- resources
    async def _resource(self, request: Request, r: Route_) -> Response:
        q = request.query_params
        method = request.method
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ApiError(405, f"the server does not allow this method on the requested resource ({method})")
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if method == "GET" and r.name is None:
            verb = "watch" if _bool(q.get("watch")) else "list"
        if method == "DELETE" and r.name is None:
            verb = "deletecollection"
        if r.rt.group == "metrics.k8s.io":
            return self._metrics(r, q)
        if verb not in r.rt.verbs and r.sub is None:
            raise ApiError(405, f"the server does not allow this method on the requested resource ({verb})")
        if r.sub == "log" and method == "GET":
            return await self._logs(request, r)
        if r.sub == "exec":
            return pod_exec.http_exec(self.c, request.headers, request.query_params, r.namespace or "", r.name or "")
        if r.sub in ("attach", "portforward", "proxy"):
            raise ApiError(400, f"{r.sub} is not supported by this simulated cluster yet")
        if verb == "watch":
            return await self._watch(request, r)
        body = await self._body(request) if method in ("POST", "PUT", "PATCH") else None
        dry_run = "All" in q.getlist("dryRun")
        with self.c.locked():
            api = self.c.api
            if verb == "list":
                return self._list(request, r)
            if verb == "get":
                obj = api.get_scale(r.rt, r.namespace or "", r.name) if r.sub == "scale" else \
                    api.get(r.rt, r.namespace or "", r.name)
                return self._object(request, r, obj)
            if verb == "create":
                if r.sub == "binding":
                    return _json(self._bind(r, body), 201)
                if r.sub == "eviction":
                    api.delete(r.rt, r.namespace or "", r.name, dry_run=dry_run)
                    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                  "code": 201}, 201)
                if r.name is not None:
                    raise ApiError(405, "the server does not allow this method on the requested resource")
                return self._object(request, r, api.create(r.rt, r.namespace or "", body, dry_run=dry_run), 201)
            if verb == "update":
                return self._object(request, r, api.update(r.rt, r.namespace or "", r.name, body, r.sub, dry_run))
            if verb == "patch":
                ctype = request.headers.get("content-type", "")
                return self._object(request, r, api.patch(r.rt, r.namespace or "", r.name, ctype, body, r.sub,
                                                          dry_run))
            opts = body if isinstance(body, dict) else {}
            if body is None and request.headers.get("content-length") not in (None, "0"):
                opts = await self._body(request) or {}
            propagation = q.get("propagationPolicy") or opts.get("propagationPolicy")
            if opts.get("orphanDependents") is True:
                propagation = "Orphan"
            grace = _int(q.get("gracePeriodSeconds"), "gracePeriodSeconds")
            if grace is None:
                grace = opts.get("gracePeriodSeconds")
            dry_run = dry_run or "All" in (opts.get("dryRun") or [])
            if verb == "deletecollection":
                items = api.list(r.rt, r.namespace, q.get("labelSelector"), q.get("fieldSelector"))
                for obj in items:
                    api.delete(r.rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], propagation,
                               grace, dry_run)
                return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            obj = api.delete(r.rt, r.namespace or "", r.name, propagation, grace, dry_run, opts.get("preconditions"))
            still_there = self.c.store.get(r.rt.storage_key, r.namespace if r.rt.namespaced else "", r.name)
            if still_there is not None or r.rt.kind in ("Pod", "Namespace") or dry_run:
                return self._object(request, r, obj)
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": {"name": r.name, "group": r.rt.group, "kind": r.rt.plural,
                                      "uid": obj["metadata"].get("uid", "")}})

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return None
        ctype = request.headers.get("content-type", "")
        if "protobuf" in ctype:
            # kubectl's typed clients (kubectl create deployment/job/secret/...) send protobuf.
            from cluster.sim.api.protobuf import ProtobufError, decode_object

            try:
                return decode_object(raw)
            except ProtobufError as e:
                raise ApiError(415, f"cannot decode the protobuf body: {e}; send JSON (application/json) "
                               "instead") from e
        if "yaml" in ctype:
            import yaml

            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise bad_request(f"the body is not valid YAML: {e}") from e
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}") from e

    def _bind(self, r: Route_, body: Any) -> dict:
        target = (body or {}).get("target", {}).get("name") if isinstance(body, dict) else None
        if not target:
            raise bad_request("a Binding needs target.name")
        pod = self.c.api.get(r.rt, r.namespace or "", r.name)
        if pod["spec"].get("nodeName"):
            raise ApiError(409, f'pod {r.name} is already assigned to node "{pod["spec"]["nodeName"]}"')
        from cluster.sim.store import clone

        new = clone(pod)
        new["spec"]["nodeName"] = target
        self.c.api.system_update("pods", new)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    # --------------------------------------------------------------------------- output encodings
    def _wants_table(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "as=Table" in accept

    def _columns(self, rt: ResourceType):
        if rt.custom:
            for crd in self.c.store.list("customresourcedefinitions.apiextensions.k8s.io"):
                spec = crd.get("spec", {})
                if spec.get("group") == rt.group and spec.get("names", {}).get("plural") == rt.plural:
                    for v in spec.get("versions", []):
                        if v.get("name") == rt.version:
                            cols = v.get("additionalPrinterColumns") or []
                            return lambda cols=cols: printers.custom_resource_columns(cols)
        return None

    def _table(self, request: Request, rt: ResourceType, objs: list[dict], meta: dict) -> Response:
        include = request.query_params.get("includeObject", "Metadata")
        table = printers.build_table(rt.key, objs, self.c.clock.datetime(), include_object=include,
                                     column_defs_for=self._columns(rt))
        table["metadata"] = meta
        return _json(table)

    def _object(self, request: Request, r: Route_, obj: dict, code: int = 200) -> Response:
        if self._wants_table(request) and r.sub is None:
            return self._table(request, r.rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion",
                                                                                             "")})
        return _json(obj, code)

    def _list(self, request: Request, r: Route_) -> Response:
        q = request.query_params
        rt = r.rt
        objs = self.c.api.list(rt, r.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        rv = str(self.c.store.rv)
        limit = _int(q.get("limit"), "limit")
        cont = q.get("continue")
        if cont:
            try:
                token = orjson.loads(base64.urlsafe_b64decode(cont.encode()))
                start = tuple(token["start"])
                rv = str(token["rv"])
            except Exception as e:
                raise ApiError(400, "continue key is not valid: the token could not be decoded") from e
            # objs are in the store's (namespace, name) order: find the page's start by bisection.
            objs = objs[bisect.bisect_right(objs, start, key=_list_key):]
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit and limit > 0 and len(objs) > limit:
            remaining = len(objs) - limit
            objs = objs[:limit]
            last = objs[-1]["metadata"]
            token = {"rv": int(rv), "start": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(token)).decode()
            meta["remainingItemCount"] = remaining
        if self._wants_table(request):
            return self._table(request, rt, objs, meta)
        head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})[:-1]
        if rt.storage_of:
            items = b",".join(orjson.dumps(o) for o in objs)
        else:
            items = b",".join(self.c.store.json(rt.storage_key, o) for o in objs)
        return Response(head + b',"items":[' + items + b"]}", media_type=JSON)

    # ---------------------------------------------------------------------------------------- watch
    async def _watch(self, request: Request, r: Route_) -> Response:
        q = request.query_params
        rt = r.rt
        try:
            ls = LabelSelector.parse(q.get("labelSelector"))
            fs = FieldSelector.parse(q.get("fieldSelector"), rt.key)
        except SelectorError as e:
            raise bad_request(str(e)) from e
        timeout = _int(q.get("timeoutSeconds"), "timeoutSeconds") or 1800
        table = self._wants_table(request)
        include = q.get("includeObject", "Metadata")
        rv = q.get("resourceVersion") or ""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
        ns = r.namespace if rt.namespaced else None

        def listener(ev: WatchEvent) -> None:
            if ev.resource == rt.storage_key and (ns is None or ev.obj["metadata"].get("namespace") == ns):
                loop.call_soon_threadsafe(queue.put_nowait, ev)

        def wanted(obj: dict) -> bool:
            if r.name and obj["metadata"]["name"] != r.name:
                return False
            return ls.matches(obj["metadata"].get("labels")) and fs.matches(obj)

        with self.c.locked():
            if rv in ("", "0"):
                initial = [WatchEvent("ADDED", rt.storage_key, o, self.c.store.rv)
                           for o in self.c.store.list(rt.storage_key, ns)]
            else:
                try:
                    since = int(rv)
                except ValueError as e:
                    raise bad_request(f"resourceVersion: invalid value {rv!r}") from e
                initial = [e for e in self.c.store.events_since(since, rt.storage_key)
                           if ns is None or e.obj["metadata"].get("namespace") == ns]
            self.c.store.subscribe(listener)
        first = [True]
        columns = self._columns(rt)

        def encode(ev: WatchEvent) -> bytes:
            obj = self.c.views.present(rt, ev.obj)
            if table:
                t = printers.build_table(rt.key, [obj], self.c.clock.datetime(), include_object=include,
                                         column_defs_for=columns)
                t["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                if not first[0]:
                    t["columnDefinitions"] = []
                first[0] = False
                obj = t
            return orjson.dumps({"type": ev.type, "object": obj}) + b"\n"

        async def stream() -> AsyncIterator[bytes]:
            try:
                for ev in initial:
                    if wanted(ev.obj):
                        yield encode(ev)
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        ev = await asyncio.wait_for(queue.get(), timeout=min(left, 5.0))
                    except TimeoutError:
                        continue
                    if wanted(ev.obj):
                        yield encode(ev)
            finally:
                self.c.store.unsubscribe(listener)

        return StreamingResponse(stream(), media_type=JSON)

    # ----------------------------------------------------------------------------------------- logs
    async def _logs(self, request: Request, r: Route_) -> Response:
        q = request.query_params
        kw = dict(container=q.get("container"), previous=_bool(q.get("previous")),
                  since_seconds=_int(q.get("sinceSeconds"), "sinceSeconds"), since_time=q.get("sinceTime"),
                  tail_lines=_int(q.get("tailLines"), "tailLines"), timestamps=_bool(q.get("timestamps")),
                  limit_bytes=_int(q.get("limitBytes"), "limitBytes"))
        with self.c.locked():
            text = pod_logs(self.c, r.namespace or "", r.name, **kw)  # type: ignore[arg-type]
        if not _bool(q.get("follow")):
            return Response(text, media_type="text/plain")

        async def follow() -> AsyncIterator[bytes]:
            sent = text
            yield sent.encode()
            while True:
                await asyncio.sleep(0.5)
                with self.c.locked():
                    pod = self.c.store.get("pods", r.namespace or "", r.name)
                    if pod is None:
                        return
                    try:
                        now_text = pod_logs(self.c, r.namespace or "", r.name, container=kw["container"],
                                            timestamps=kw["timestamps"])
                    except ApiError:
                        return
                # Logs only grow within a run; send the new tail.
                if len(now_text) > len(sent) and now_text.startswith(sent[: len(sent) // 2]):
                    yield now_text[len(sent):].encode()
                    sent = now_text

        return StreamingResponse(follow(), media_type="text/plain")

    # -------------------------------------------------------------------------------------- metrics
    def _metrics(self, r: Route_, q: Any) -> Response:
        with self.c.locked():
            now = self.c.clock.rfc3339()
            if r.rt.plural == "pods":
                pods = self.c.api.list(self.c.registry.lookup("", "v1", "pods"), r.namespace,  # type: ignore
                                       q.get("labelSelector"))
                if r.name:
                    pods = [p for p in pods if p["metadata"]["name"] == r.name]
                items = []
                for p in pods:
                    usage = container_usage(self.c, p)
                    if not usage:
                        continue
                    items.append({"metadata": {"name": p["metadata"]["name"], "namespace": p["metadata"]["namespace"],
                                               "creationTimestamp": now, "labels": p["metadata"].get("labels", {})},
                                  "timestamp": now, "window": "15s",
                                  "containers": [{"name": n, "usage": {"cpu": f"{max(int(cpu * 1e9), 0)}n",
                                                                       "memory": format_bytes(mem)}}
                                                 for n, cpu, mem in usage]})
                if r.name:
                    if not items:
                        raise ApiError(404, f'podmetrics.metrics.k8s.io "{r.namespace}/{r.name}" not found')
                    return _json({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **items[0]})
                return _json({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
                              "items": [{"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **i}
                                        for i in items]})
            nodes = self.c.store.list("nodes")
            if r.name:
                nodes = [n for n in nodes if n["metadata"]["name"] == r.name]
            per_node: dict[str, list[float]] = {n["metadata"]["name"]: [0.0, 0.0] for n in nodes}
            for p in self.c.store.list("pods"):
                node = p["spec"].get("nodeName")
                if node in per_node:
                    for _, cpu, mem in container_usage(self.c, p):
                        per_node[node][0] += cpu
                        per_node[node][1] += mem
            items = [{"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                      "metadata": {"name": n, "creationTimestamp": now}, "timestamp": now, "window": "20s",
                      "usage": {"cpu": f"{int((cpu + 0.05) * 1e9)}n", "memory": format_bytes(int(mem + 300 * 2**20))}}
                     for n, (cpu, mem) in per_node.items()]
            if r.name:
                if not items:
                    raise ApiError(404, f'nodemetrics.metrics.k8s.io "{r.name}" not found')
                return _json(items[0])
            return _json({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
                          "items": items})


def build_app(cluster: SimCluster, extra_routes: list | None = None) -> Starlette:
    """The ASGI app. ``extra_routes`` (Prometheus, Jaeger) are mounted before the Kubernetes catch-all."""
    api = KubeApi(cluster)

    async def endpoint(request: Request) -> Response:
        return await api(request)

    async def websocket_endpoint(websocket: WebSocket) -> None:
        await pod_exec.serve_websocket(cluster, websocket, api._authorized(websocket))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticker(cluster)) if cluster.clock.realtime else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes = [*(extra_routes or []),
              Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
              WebSocketRoute("/{path:path}", websocket_endpoint)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(_AccessLog, cluster=cluster)])


class _AccessLog:
    """Appends (method, path) of every request, telemetry included, to ``cluster.access_log`` when it is a list;
    a WebSocket upgrade is recorded as method "WEBSOCKET"."""

    def __init__(self, app: Any, cluster: SimCluster):
        self.app = app
        self.cluster = cluster

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        entries = self.cluster.access_log
        if entries is not None and scope["type"] in ("http", "websocket"):
            entries.append((scope.get("method", "WEBSOCKET") if scope["type"] == "http" else "WEBSOCKET",
                            scope["path"]))
        await self.app(scope, receive, send)


async def _ticker(cluster: SimCluster) -> None:
    """Keep a real-time cluster moving even when nobody calls it, so watches see progress."""
    while True:
        await asyncio.sleep(0.1)
        try:
            with cluster.lock:
                cluster.sync()
        except Exception:  # keep ticking; the error is logged and the request path reports it
            log.exception("simulated cluster failed to advance")
