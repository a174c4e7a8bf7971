"""What an application's container does when it starts, given the application-level state.

A Go service of HotelReservation reads its config, dials its MongoDB and exits with a fatal log line when it
cannot authenticate; a Thrift service aborts when its MongoDB demands TLS; MongoDB runs its init scripts on
an empty data directory and starts with the TLS mode of its arguments; flagd loads its flags file. A binary
the image does not have fails to start; the pause image Chaos Mesh swaps in runs and does nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from cluster.sim.apps.health import _args, _edge, component_pods, program_of, running
from cluster.sim.apps.model import AppModel, Component
from cluster.sim.runtime.behavior import Behavior, ContainerContext
from cluster.sim.runtime.commands import default_behavior
from cluster.sim.runtime.images import normalize

if TYPE_CHECKING:
    from cluster.sim.apps.runtime import AppRuntime, Apps
    from cluster.sim.cluster import SimCluster

CRASH_AFTER = 1.2  # seconds a service runs before its fatal error


class AppBehavior:
    def __init__(self, apps: Apps):
        self.apps = apps

    def __call__(self, cluster: SimCluster, ctx: ContainerContext) -> Behavior | None:
        found = self.apps.for_pod(ctx.pod)
        if found is None or ctx.init:
            return None
        run, comp = found
        if ctx.container.get("name") != comp.container:
            return None
        base = default_behavior(cluster, ctx)  # pull errors, missing binaries, OOM limits stay the catalog's
        if base.pull_error or base.start_error:
            return base
        image = ctx.container.get("image", "")
        repo = normalize(image)[0]
        if repo.endswith("google-containers/pause"):
            return replace(base, run_seconds=None, log_style="none", output=())
        b = replace(base, memory_bytes=comp.memory_mib * 2**20, cpu_cores=comp.cpu_cores, log_style=comp.log_style)
        if b.run_seconds is not None and b.exit_code != 0:
            return b  # a command the image has but that exits (e.g. a shell one-liner)
        if repo == normalize("yinfangchen/geo:app3")[0]:
            return _crash(
                b, comp, [*_go_start("geo", ctx), (0.9, _zl(ctx, "FTL", "cmd/geo/db.go:26", "no reachable servers"))]
            )
        prog = program_of(run.model, comp, ctx.pod) or comp
        if comp.role == "mongodb":
            return self._mongod(cluster, run, comp, ctx, b)
        if comp.role == "flags":
            self._load_flags(cluster, run)
        return self._service(cluster, run, prog, ctx, b)

    # -------------------------------------------------------------------------------------- services
    def _service(self, c: SimCluster, run: AppRuntime, prog: Component, ctx: ContainerContext, b: Behavior) -> Behavior:
        """A service dials its datastores at start; a failure there is fatal, as in these applications."""
        app = run.model
        for store in prog.stores:
            if not app.has(store):
                continue
            callee = app.component(store)
            if callee.role != "mongodb":
                continue
            listening = {
                (p.get("status") or {}).get("podIP"): (callee.container_ports)
                for p in component_pods(c, app, callee)
                if running(c, p) and program_of(app, callee, p) is not None
            }
            pods_by_ip = {(p.get("status") or {}).get("podIP"): p for p in component_pods(c, app, callee)}
            e = _edge(c, run, prog, callee, {k: v for k, v in listening.items() if k}, pods_by_ip, c.clock.now)
            if e.fail >= 1.0:
                if prog.language == "go":
                    return _crash(
                        b,
                        prog,
                        [*_go_start(prog.name, ctx), (1.0, _zl(ctx, "FTL", f"cmd/{prog.name}/db.go:35", e.message))],
                    )
                return _crash(
                    b,
                    prog,
                    [
                        (
                            0.01,
                            _thrift(
                                ctx, 0.01, "info", f"({_bin(prog)}.cpp:51:main) Starting the {prog.name} server ..."
                            ),
                        ),
                        *[
                            (
                                0.5 + i,
                                _thrift(
                                    ctx,
                                    0.5 + i,
                                    "error",
                                    f"({_bin(prog)}.cpp:79:main) Failed to create mongodb "
                                    f"index, try again: {e.message}",
                                ),
                            )
                            for i in range(3)
                        ],
                        (
                            3.6,
                            "terminate called after throwing an instance of 'mongocxx::v_noabi::bulk_write_exception'",
                        ),
                        (3.6, f"  what():  {e.message}"),
                    ],
                    code=134,
                    after=3.6,
                )
        return b

    def _mongod(self, c: SimCluster, run: AppRuntime, comp: Component, ctx: ContainerContext, b: Behavior) -> Behavior:
        args = _args(ctx.pod, comp)
        mode = "disabled"
        if "--tlsMode" in args:
            i = args.index("--tlsMode")
            mode = args[i + 1] if i + 1 < len(args) else "disabled"
        run.state.mongo_tls[(run.model.namespace, comp.name)] = mode
        data = run.mongo_data(comp, ctx.pod)
        if not data.initialized and "--auth" in args:
            for u in run.model.mongo_users:
                data.users[u.user] = {
                    "pwd": u.password,
                    "roles": [[r, d.replace("{db}", comp.database or "admin")] for r, d in u.roles],
                }
        data.initialized = True
        return b

    def _load_flags(self, c: SimCluster, run: AppRuntime) -> None:
        cm = c.store.get("configmaps", run.model.namespace, "flagd-config")
        flags: dict[str, object] = {}
        try:
            doc = json.loads(((cm or {}).get("data") or {}).get("demo.flagd.json", "{}"))
            for name, spec in (doc.get("flags") or {}).items():
                if spec.get("state", "ENABLED") != "ENABLED":
                    continue
                variant = spec.get("defaultVariant")
                flags[name] = (spec.get("variants") or {}).get(variant)
        except (ValueError, AttributeError):
            flags = {}  # flagd refuses a broken file and serves no flags; services fall back to defaults
        run.state.flags[run.model.namespace] = flags


def _bin(comp: Component) -> str:
    return comp.command[0] if comp.command else comp.name


def _crash(
    b: Behavior, comp: Component, lines: list[tuple[float, str]], code: int = 1, after: float = CRASH_AFTER
) -> Behavior:
    return replace(b, run_seconds=after, exit_code=code, output=tuple(lines), log_style=comp.log_style)


def _zl(ctx: ContainerContext, level: str, where: str, msg: str) -> str:
    return f"@ts {level} {where} > {msg}"


def _thrift(ctx: ContainerContext, offset: float, level: str, msg: str) -> str:
    return f"@thrift {level} {msg}"


def _go_start(name: str, ctx: ContainerContext) -> list[tuple[float, str]]:
    return [
        (0.001, '{"level":"info","time":"@iso","message":"TLS disabled."}'),
        (0.002, '{"level":"info","time":"@iso","message":"Set global log level: info"}'),
        (0.003, '{"level":"info","time":"@iso","message":"Tune: setGCPercent to 100"}'),
        (0.01, f"@ts INF cmd/{name}/main.go:24 > Reading config..."),
        (0.02, f"@ts INF cmd/{name}/main.go:37 > Read database URL: mongodb-{name}:27017"),
        (0.03, f"@ts INF cmd/{name}/main.go:38 > Initializing DB connection..."),
        (0.5, f"@ts INF cmd/{name}/db.go:29 > New session successfull..."),
        (0.51, f"@ts INF cmd/{name}/db.go:31 > Generating test data..."),
    ]


__all__ = ["AppBehavior", "AppModel"]
