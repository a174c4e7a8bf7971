"""Mount the telemetry APIs on the simulator's server: Prometheus at /prometheus, Jaeger at /jaeger.

AIOpsLab runs one Jaeger per application; so does the simulator: ``/jaeger/<namespace>/api/...`` is that
application's Jaeger, and ``/jaeger/api/...`` the most recently deployed application's (the one a problem
runs). Both APIs are unauthenticated and bound where the Kubernetes API is (127.0.0.1 by default), as a
port-forwarded Prometheus or Jaeger would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

PROMETHEUS_PATH = "/prometheus"
JAEGER_PATH = "/jaeger"


class JaegerDispatch:
    """Routes /jaeger/[<namespace>/]api/... to the Jaeger of that application."""

    def __init__(self, cluster: SimCluster):
        self.c = cluster
        self._routers: dict[str, Router] = {}

    def _router(self, namespace: str) -> Router:
        router = self._routers.get(namespace)
        if router is None:
            from cluster.sim.telemetry.jaeger import jaeger_routes
            from cluster.sim.telemetry.tracegen import AppTraces

            router = Router(routes=jaeger_routes(AppTraces(self.c, namespace), prefix=""))
            self._routers[namespace] = router
        return router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        apps = getattr(self.c, "apps", None)
        namespaces = list(apps.by_namespace) if apps is not None else []
        path = scope["path"]
        rest = path[len(scope.get("root_path", "")):] if path.startswith(scope.get("root_path", "")) else path
        first = rest.strip("/").split("/", 1)[0]
        if first in namespaces:
            ns, rest = first, "/" + rest.strip("/").split("/", 1)[1] if "/" in rest.strip("/") else "/"
        elif namespaces:
            ns = namespaces[-1]
        else:
            resp = JSONResponse({"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [
                {"code": 404, "msg": "no application is deployed in this simulated cluster, so there are no traces"}]},
                status_code=404)
            await resp(scope, receive, send)
            return
        await self._router(ns)({**scope, "path": rest, "root_path": ""}, receive, send)


def telemetry_routes(cluster: SimCluster) -> list[BaseRoute]:
    from cluster.sim.telemetry.metrics import ClusterMetrics
    from cluster.sim.telemetry.prometheus import prometheus_routes

    return [*prometheus_routes(ClusterMetrics.of(cluster), prefix=PROMETHEUS_PATH),
            Mount(JAEGER_PATH, app=JaegerDispatch(cluster))]
