"""What the applications' processes write to stdout, in each one's own style.

A long-running container logs its start-up, then, for every stretch of time under one health snapshot, the
request lines and error lines that its traffic in that stretch produces: a Go service of HotelReservation
logs the gRPC error of a failed call (zerolog console format), a Thrift service logs ``TSocket::open()``
failures, mongod logs authentication failures and TLS handshake errors as JSON, the OpenTelemetry demo's
services log in their language's idiom. Times come from a seeded Poisson process per run, so logs are
reproducible and cost nothing until read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime

from cluster.sim.apps.health import Snapshot, Traffic
from cluster.sim.runtime import logs as base
from cluster.sim.runtime.logs import LogContext

MAX_LINES_PER_SECOND = 2.0  # a cap so that a flood does not generate millions of lines


def _find(ctx: LogContext):
    c = ctx.cluster
    apps = getattr(c, "apps", None) if c is not None else None
    return apps.for_pod(ctx.pod) if apps is not None else None


def _traffic(run, snap: Snapshot) -> dict[str, Traffic]:
    return run.traffic(snap)


def _stretches(run, ctx: LogContext, settle: float) -> Iterator[tuple[Snapshot, float, float]]:
    """(snapshot, from, to) for each stretch of the run's window under one health snapshot, after start-up."""
    snaps = run.history.changes(ctx.start, ctx.end)
    for i, snap in enumerate(snaps):
        lo = max(snap.t, ctx.start + settle)
        hi = min(snaps[i + 1].t if i + 1 < len(snaps) else ctx.end, ctx.end)
        if hi > lo:
            yield snap, lo, hi


def _poisson(rng: random.Random, start: float, end: float, rate: float) -> Iterator[float]:
    rate = min(rate, MAX_LINES_PER_SECOND)
    if rate <= 0:
        return
    t = start + rng.expovariate(rate)
    while t < end:
        yield t
        t += rng.expovariate(rate)


Line = Callable[[datetime, str, str], str]  # (time, level, message) -> text


def _stream(
    ctx: LogContext, startup: list[str], line: Line, info: Callable[[str, random.Random], str] | None, info_share: float
) -> Iterator[tuple[float, str]]:
    """Start-up lines, then per snapshot stretch: request lines (``info_share`` of requests) and error lines."""
    for i, text in enumerate(startup):
        t = ctx.start + 0.01 * (i + 1)
        if t <= ctx.end:
            yield t, line(ctx.at(t), "info", text)
    found = _find(ctx)
    if found is None:
        return
    run, comp = found
    for snap, lo, hi in _stretches(run, ctx, 0.1):
        t = _traffic(run, snap).get(comp.name)
        if t is None:
            continue
        events: list[tuple[float, str]] = []
        if info is not None and t.rate and info_share:
            ops = sorted(t.by_op)
            for at in _poisson(ctx.rng, lo, hi, t.rate * info_share):
                events.append((at, line(ctx.at(at), "info", info(ctx.rng.choice(ops), ctx.rng))))
        for (callee, msg), per_s in sorted(t.call_errors.items()):
            for at in _poisson(ctx.rng, lo, hi, per_s):
                events.append((at, line(ctx.at(at), "error", _describe(comp.language, callee, msg))))
        h = snap.component(comp.name)
        for sub, p, msg in h.fail_ops:
            rate = sum(v[0] for op, v in t.by_op.items() if sub in op) * p
            for at in _poisson(ctx.rng, lo, hi, rate):
                events.append((at, line(ctx.at(at), "error", msg)))
        events.sort()
        yield from events


def _describe(lang: str, callee: str, msg: str) -> str:
    if lang == "go":
        return f"Failed to call {callee}: {msg}"
    return msg


# ----------------------------------------------------------------------------------------- formats
def _zerolog(at: datetime, level: str, msg: str) -> str:
    lvl = {"info": "INF", "error": "ERR", "warn": "WRN"}[level]
    return f"{at.strftime('%Y-%m-%dT%H:%M:%SZ')} {lvl} {msg}"


def _thrift(at: datetime, level: str, msg: str) -> str:
    return f"[{at.strftime('%Y-%b-%d %H:%M:%S.%f')}] <{level}>: {msg}"


def zerolog(ctx: LogContext) -> Iterator[tuple[float, str]]:
    found = _find(ctx)
    name = found[1].name if found else ctx.container
    port = found[1].ports[0].port if found and found[1].ports else 8080
    startup = [
        '{"level":"info","time":"@iso","message":"TLS disabled."}',
        '{"level":"info","time":"@iso","message":"Set global log level: info"}',
        '{"level":"info","time":"@iso","message":"Tune: setGCPercent to 100"}',
        f"cmd/{name}/main.go:24 > Reading config...",
        f"cmd/{name}/main.go:37 > Read database URL: mongodb-{name}:27017"
        if found and found[1].stores
        else f"cmd/{name}/main.go:38 > Read target port: {port}",
        f"cmd/{name}/main.go:57 > Initializing jaeger agent [service name: {name} | host: jaeger:6831]...",
        "tracing/tracer.go:26 > Jaeger client: adjusted sample ratio 1.000000",
        f"cmd/{name}/main.go:62 > Jaeger agent initialized",
        f"cmd/{name}/main.go:64 > Initializing consul agent [host: consul:8500]...",
        f"cmd/{name}/main.go:69 > Consul agent initialized",
        f"cmd/{name}/main.go:80 > Starting server...",
    ]

    def line(at: datetime, level: str, msg: str) -> str:
        if msg.startswith("{"):
            return msg.replace("@iso", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if level == "error" and not msg.startswith("services/"):
            msg = f"services/{name}/server.go:{180 + len(msg) % 60} > {msg}"
        return _zerolog(at, level, msg)

    return _stream(ctx, startup, line, None, 0.0)


def thrift(ctx: LogContext) -> Iterator[tuple[float, str]]:
    found = _find(ctx)
    binary = found[1].command[0] if found and found[1].command else ctx.container
    name = found[1].name if found else ctx.container
    startup = [f"({binary}.cpp:51:main) Starting the {name} server ..."]

    def line(at: datetime, level: str, msg: str) -> str:
        if level == "error":
            msg = f"(ClientPool.h:114:Pop) {msg}"
        return _thrift(at, level, msg)

    return _stream(ctx, startup, line, None, 0.0)


def openresty(ctx: LogContext) -> Iterator[tuple[float, str]]:
    def line(at: datetime, level: str, msg: str) -> str:
        if level == "info":
            return msg.replace("@clf", at.strftime("%d/%b/%Y:%H:%M:%S +0000"))
        return (
            f"{at.strftime('%Y/%m/%d %H:%M:%S')} [error] 14#14: *{int(at.timestamp()) % 9973} [lua] "
            f"compose.lua:62: {msg}, client: 10.244.1.1, server: localhost"
        )

    def info(op: str, rng: random.Random) -> str:
        path = op if op.startswith("/") else "/"
        return f'10.244.1.1 - - [@clf] "GET {path} HTTP/1.1" 200 {rng.randrange(80, 900)} "-" "wrk2"'

    return _stream(ctx, [], line, info, 0.3)


def mongod(ctx: LogContext) -> Iterator[tuple[float, str]]:
    def j(at: datetime, comp: str, id_: int, c: str, msg: str, attr: str = "", sev: str = "I") -> str:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
        extra = f',"attr":{attr}' if attr else ""
        return (
            f'{{"t":{{"$date":"{stamp}"}},"s":"{sev}",  "c":"{comp}", "id":{id_},   "ctx":"{c}","msg":"{msg}"{extra}}}'
        )

    yield (
        ctx.start + 0.01,
        j(
            ctx.at(ctx.start),
            "CONTROL",
            23285,
            "main",
            "Automatically disabling TLS 1.0, to force-enable TLS 1.0 specify --sslDisabledProtocols 'none'",
        ),
    )
    yield (
        ctx.start + 0.02,
        j(
            ctx.at(ctx.start),
            "CONTROL",
            4615611,
            "initandlisten",
            "MongoDB starting",
            '{"pid":1,"port":27017,"dbPath":"/data/db","architecture":"64-bit","host":"'
            + ctx.pod["metadata"]["name"]
            + '"}',
        ),
    )
    yield (
        ctx.start + 0.3,
        j(
            ctx.at(ctx.start + 0.3),
            "NETWORK",
            23016,
            "listener",
            "Waiting for connections",
            '{"port":27017,"ssl":"off"}',
        ),
    )
    found = _find(ctx)
    if found is None:
        return
    run, comp = found
    for snap, lo, hi in _stretches(run, ctx, 0.5):
        tr = _traffic(run, snap).get(comp.name)
        rate = tr.rate if tr else 0.0
        failing = [
            (caller, e)
            for (caller, callee), e in snap.edges.items()
            if callee == comp.name and e.error in ("auth", "unregistered", "tls")
        ]
        events = []
        for conn, at in enumerate(_poisson(ctx.rng, lo, hi, min(rate, 0.2)), start=1):
            events.append((
                at,
                j(
                    ctx.at(at),
                    "NETWORK",
                    22943,
                    "listener",
                    "Connection accepted",
                    f'{{"remote":"10.244.1.{10 + conn % 200}:{40000 + conn}","connectionId":{conn},'
                    f'"connectionCount":{1 + conn % 7}}}',
                ),
            ))
        for caller, e in failing:
            for at in _poisson(ctx.rng, lo, hi, 0.5):
                remote = f'"remote":"10.244.1.{20 + len(caller)}:{41000 + int(at) % 20000}"'
                if e.error == "unregistered":
                    text = j(
                        ctx.at(at),
                        "ACCESS",
                        20249,
                        f"conn{int(at) % 997}",
                        "Authentication failed",
                        '{"mechanism":"SCRAM-SHA-1","speculative":false,"principalName":"admin",'
                        '"authenticationDatabase":"admin",' + remote + ',"extraInfo":{},'
                        '"error":"UserNotFound: Could not find user \\"admin\\" for db \\"admin\\""}',
                    )
                elif e.error == "auth":
                    text = j(
                        ctx.at(at),
                        "ACCESS",
                        20436,
                        f"conn{int(at) % 997}",
                        "Checking authorization failed",
                        '{"error":{"code":13,"codeName":"Unauthorized","errmsg":"'
                        + e.message.replace('"', '\\"')
                        + '"}}',
                    )
                else:
                    text = j(
                        ctx.at(at),
                        "NETWORK",
                        22988,
                        f"conn{int(at) % 997}",
                        "Error receiving request from client. Ending connection from remote",
                        '{"error":{"code":141,"codeName":"SSLHandshakeFailed","errmsg":"The server is configured '
                        'to only allow SSL connections"},' + remote + "}",
                    )
                events.append((at, text))
        events.sort()
        yield from events


def _otel(lang: str) -> base.Style:
    def line(at: datetime, level: str, msg: str) -> str:
        iso = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if lang in ("javascript", "typescript"):
            lvl = 30 if level == "info" else 50
            return f'{{"level":{lvl},"time":{int(at.timestamp() * 1000)},"pid":1,"hostname":"@pod","msg":"{msg}"}}'
        if lang == "java":
            return f"{at.strftime('%Y-%m-%d %H:%M:%S')} - oteldemo.AdService - {msg}"
        if lang == "dotnet":
            return f"{'info' if level == 'info' else 'fail'}: cart.cartstore.ValkeyCartStore[0]\n      {msg}"
        if lang == "python":
            return f"{at.strftime('%Y-%m-%d %H:%M:%S,%f')[:-3]} {level.upper()} [main] [server.py:47] {msg}"
        if lang == "go":
            return f'{{"message":"{msg}","severity":"{level}","timestamp":"{iso}"}}'
        return f"{iso} {level.upper()} {msg}"

    def info(op: str, rng: random.Random) -> str:
        return f"{op.rsplit('/', 1)[-1]} request received"

    def style(ctx: LogContext) -> Iterator[tuple[float, str]]:
        pod = ctx.pod["metadata"]["name"]
        for t, text in _stream(ctx, [f"{ctx.container} service started"], line, info, 0.2):
            yield t, text.replace("@pod", pod)

    return style


def flagd(ctx: LogContext) -> Iterator[tuple[float, str]]:
    found = _find(ctx)
    flags = {}
    if found:
        flags = found[0].state.flags.get(found[0].model.namespace, {})
    ts = ctx.at(ctx.start).timestamp()
    yield (
        ctx.start + 0.01,
        f'{{"level":"info","ts":{ts:.6f},"caller":"cmd/start.go:118","msg":"flagd version: v0.12.8"}}',
    )
    yield (
        ctx.start + 0.02,
        (
            f'{{"level":"info","ts":{ts:.6f},"caller":"store/flags.go:97","msg":"loaded '
            f'{len(flags)} flags from file:./etc/flagd/demo.flagd.json"}}'
        ),
    )
    on = sorted(k for k, v in flags.items() if v not in (None, False, 0, "off"))
    for name in on:
        yield (
            ctx.start + 0.03,
            (
                f'{{"level":"info","ts":{ts:.6f},"caller":"evaluator/json.go:240","msg":"flag '
                f'{name} default variant is not off"}}'
            ),
        )
    yield (
        ctx.start + 0.05,
        f'{{"level":"info","ts":{ts:.6f},"caller":"flag-sync/sync_service.go:56",'
        '"msg":"starting flag sync service on port 8015"}',
    )


def kafka(ctx: LogContext) -> Iterator[tuple[float, str]]:
    def line(at: datetime, level: str, msg: str) -> str:
        return f"[{at.strftime('%Y-%m-%d %H:%M:%S,%f')[:-3]}] {'INFO' if level == 'info' else 'ERROR'} {msg}"

    yield from _stream(
        ctx, ["[KafkaRaftServer nodeId=1] Kafka Server started (kafka.server.KafkaRaftServer)"], line, None, 0.0
    )


def consul(ctx: LogContext) -> Iterator[tuple[float, str]]:
    for i, msg in enumerate((
        "agent: Consul agent running!",
        "agent.server: New leader elected: payload=consul",
        "agent: Synced node info",
    )):
        t = ctx.start + 0.01 * (i + 1)
        yield t, f"{ctx.at(t).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z [INFO]  {msg}"


def jaeger(ctx: LogContext) -> Iterator[tuple[float, str]]:
    ts = ctx.at(ctx.start).timestamp()
    yield (
        ctx.start + 0.01,
        f'{{"level":"info","ts":{ts:.6f},"caller":"app/server.go:215","msg":"Starting HTTP server","port":16686}}',
    )
    yield (
        ctx.start + 0.02,
        f'{{"level":"info","ts":{ts:.6f},"caller":"healthcheck/handler.go:129",'
        '"msg":"Health Check state change","status":"ready"}',
    )


def register() -> None:
    styles: dict[str, base.Style] = {
        "zerolog": zerolog,
        "thrift": thrift,
        "openresty": openresty,
        "mongod": mongod,
        "flagd": flagd,
        "kafka": kafka,
        "consul": consul,
        "jaeger": jaeger,
    }
    for lang in (
        "envoy",
        "typescript",
        "java",
        "dotnet",
        "go",
        "cpp",
        "ruby",
        "javascript",
        "php",
        "python",
        "rust",
        "nginx",
        "kotlin",
        "locust",
    ):
        styles[f"otel-{lang}"] = _otel(lang)
    base.LOG_STYLES.update(styles)
