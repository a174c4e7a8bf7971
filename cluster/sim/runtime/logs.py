"""Container logs, computed on demand from a container's runs, the clock and the seed.

Nothing is stored: a log is a pure function of (seed, pod uid, container, run, time window), so the same
seed gives byte-identical logs and a 10,000-pod cluster costs no memory for them. Each image declares a
log style; a style is a generator of (offset seconds, line) over a run. Layers above register styles for
their applications (``LOG_STYLES``) and resolvers whose behaviours carry the error lines a fault causes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cluster.sim.errors import ApiError
from cluster.sim.runtime.containers import ContainerState, Run

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster


@dataclass(frozen=True)
class LogContext:
    pod: dict
    container: str
    run_index: int
    run: Run
    start: float  # simulated seconds
    end: float  # the run's end, or now
    epoch: datetime
    rng: random.Random
    cluster: SimCluster | None = None

    def at(self, t: float) -> datetime:
        return self.epoch + timedelta(seconds=t)


Style = Callable[[LogContext], Iterator[tuple[float, str]]]


def _periodic(ctx: LogContext, mean: float, line: Callable[[float], str], first: float = 1.0
              ) -> Iterator[tuple[float, str]]:
    t = ctx.start + first
    while t < ctx.end:
        yield t, line(t)
        t += ctx.rng.expovariate(1.0 / mean)


def _ts(ctx: LogContext, t: float, fmt: str = "%Y/%m/%d %H:%M:%S") -> str:
    return ctx.at(t).strftime(fmt)


def generic(ctx: LogContext) -> Iterator[tuple[float, str]]:
    yield ctx.start + 0.01, f"{_ts(ctx, ctx.start)} starting {ctx.container}"
    yield ctx.start + 0.05, f"{_ts(ctx, ctx.start)} {ctx.container} is ready"


def nginx(ctx: LogContext) -> Iterator[tuple[float, str]]:
    s = ctx.start
    for i, text in enumerate((
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
    )):
        yield s + 0.001 * i, text
    for i, text in enumerate(("using the \"epoll\" event method", "nginx/1.27.3",
                              "start worker processes", "start worker process 29")):
        yield s + 0.01 + 0.001 * i, f"{_ts(ctx, s)} [notice] 1#1: {text}"
    ip = f"10.244.{ctx.rng.randrange(0, 3)}.{ctx.rng.randrange(2, 250)}"
    paths = ("/", "/index.html", "/healthz", "/favicon.ico")

    def access(t: float) -> str:
        path = ctx.rng.choice(paths)
        code = 404 if path == "/favicon.ico" else 200
        return (f'{ip} - - [{ctx.at(t).strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET {path} HTTP/1.1" {code} '
                f'{615 if code == 200 else 153} "-" "kube-probe/1.32" "-"')

    yield from _periodic(ctx, 20.0, access, first=5.0)


def klog(ctx: LogContext) -> Iterator[tuple[float, str]]:
    pid = 1 + ctx.rng.randrange(1, 60)

    def line(t: float, msg: str, level: str = "I") -> str:
        return f"{level}{ctx.at(t).strftime('%m%d %H:%M:%S.%f')}       {pid} {ctx.container}.go:{100 + pid}] {msg}"

    yield ctx.start + 0.01, line(ctx.start, f'"Starting {ctx.container}" version="v1.32.2"')
    yield ctx.start + 0.2, line(ctx.start + 0.2, '"Caches are synced"')
    yield from _periodic(ctx, 300.0, lambda t: line(t, '"Successfully renewed lease"'), first=60.0)


def coredns(ctx: LogContext) -> Iterator[tuple[float, str]]:
    yield ctx.start + 0.01, ".:53"
    yield ctx.start + 0.02, "[INFO] plugin/reload: Running configuration SHA512 = 591cf328cccc12bc490481273e738df5"
    yield ctx.start + 0.03, "CoreDNS-1.11.3"
    yield ctx.start + 0.04, "linux/amd64, go1.21.11, a6338e9"


def redis(ctx: LogContext) -> Iterator[tuple[float, str]]:
    def line(t: float, msg: str, mark: str = "*") -> str:
        return f"1:M {ctx.at(t).strftime('%d %b %Y %H:%M:%S.%f')[:-3]} {mark} {msg}"

    yield ctx.start + 0.01, line(ctx.start, "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo", "#")
    yield ctx.start + 0.02, line(ctx.start, "Server initialized")
    yield ctx.start + 0.03, line(ctx.start, "Ready to accept connections tcp")


def mongod(ctx: LogContext) -> Iterator[tuple[float, str]]:
    def line(t: float, msg: str, ctx_name: str = "initandlisten", comp: str = "CONTROL", id_: int = 23403) -> str:
        stamp = ctx.at(t).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
        return (f'{{"t":{{"$date":"{stamp}"}},"s":"I",  "c":"{comp}", "id":{id_},   "ctx":"{ctx_name}",'
                f'"msg":"{msg}"}}')

    yield ctx.start + 0.01, line(ctx.start, "Build Info")
    yield ctx.start + 0.05, line(ctx.start + 0.05, "Waiting for connections", comp="NETWORK", id_=23016)


def memcached(ctx: LogContext) -> Iterator[tuple[float, str]]:
    return iter(())


def render(text: str, at: datetime) -> str:
    """Fill the time placeholders of a process's own output lines: ``@ts `` (zerolog console), ``@iso``
    (RFC3339) and ``@thrift <level> `` (DeathStarBench's C++ logger)."""
    if text.startswith("@ts "):
        return at.strftime("%Y-%m-%dT%H:%M:%SZ") + text[3:]
    if text.startswith("@thrift "):
        level, _, msg = text[8:].partition(" ")
        return f"[{at.strftime('%Y-%b-%d %H:%M:%S.%f')}] <{level}>: {msg}"
    return text.replace("@iso", at.strftime("%Y-%m-%dT%H:%M:%SZ"))


def none(ctx: LogContext) -> Iterator[tuple[float, str]]:
    return iter(())


LOG_STYLES: dict[str, Style] = {"none": none, "generic": generic, "nginx": nginx, "klog": klog, "coredns": coredns,
                                "redis": redis, "mongod": mongod, "memcached": memcached,
                                "silent": lambda ctx: iter(())}


def _rng(seed: int, pod_uid: str, container: str, run: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{pod_uid}/{container}/{run}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def run_lines(c: SimCluster, pod: dict, cs: ContainerState, index: int, until: float) -> list[tuple[float, str]]:
    run = cs.runs[index]
    end = run.finished if run.finished is not None else until
    end = min(end, until)
    behavior = run.behavior
    ctx = LogContext(pod=pod, container=cs.name, run_index=index, run=run, start=run.started, end=end,
                     epoch=c.clock.epoch, rng=_rng(c.config.seed, pod["metadata"]["uid"], cs.name, index), cluster=c)
    lines: list[tuple[float, str]] = []
    if behavior is not None and behavior.start_error:
        return lines
    if behavior is not None and behavior.output:
        lines += [(run.started + off, render(text, c.clock.datetime(run.started + off)))
                  for off, text in behavior.output if run.started + off <= end]
    if behavior is None or not behavior.output or behavior.run_seconds is None:
        style = LOG_STYLES.get(behavior.log_style if behavior else "generic", generic)
        lines += [(t, text) for t, text in style(ctx) if t <= end]
    lines.sort(key=lambda x: x[0])
    return lines


def pod_logs(c: SimCluster, namespace: str, name: str, container: str | None = None, previous: bool = False,
             since_seconds: int | None = None, since_time: str | None = None, tail_lines: int | None = None,
             timestamps: bool = False, limit_bytes: int | None = None) -> str:
    pod = c.store.get("pods", namespace, name)
    if pod is None:
        raise ApiError(404, f'pods "{name}" not found', details={"name": name, "kind": "pods"})
    names = [x["name"] for x in pod["spec"].get("initContainers") or []] + \
        [x["name"] for x in pod["spec"]["containers"]]
    if container is None:
        if len(pod["spec"]["containers"]) > 1:
            choices = " ".join(x["name"] for x in pod["spec"]["containers"])
            raise ApiError(400, f"a container name must be specified for pod {name}, choose one of: [{choices}]")
        container = pod["spec"]["containers"][0]["name"]
    if container not in names:
        raise ApiError(400, f"container {container} is not valid for pod {name}")
    rt = c.runtime.pods.get(pod["metadata"]["uid"])
    cs = rt.containers.get(container) if rt else None
    if cs is None or not cs.runs:
        reason = "ContainerCreating" if cs is None else cs.waiting_reason
        raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    if previous:
        # The last run is "current" even when it has exited (kubectl logs shows a crashed container's last
        # attempt); "previous" is the one before it.
        idx = len(cs.runs) - 2
        if idx < 0:
            raise ApiError(400, f'previous terminated container "{container}" in pod "{name}" not found')
    else:
        idx = len(cs.runs) - 1
    now = c.clock.now
    lines = run_lines(c, pod, cs, idx, now)
    if since_seconds is not None:
        lines = [ln for ln in lines if ln[0] >= now - since_seconds]
    if since_time:
        try:
            cutoff = c.clock.parse(since_time)
        except ValueError as e:
            raise ApiError(400, f"sinceTime: {since_time!r} is not an RFC3339 time") from e
        lines = [ln for ln in lines if ln[0] >= cutoff]
    if tail_lines is not None and tail_lines >= 0:
        lines = lines[-tail_lines:] if tail_lines else []
    if timestamps:
        out = "".join(f"{(c.clock.epoch + timedelta(seconds=t)).astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}"
                      f"000Z {text}\n" for t, text in lines)
    else:
        out = "".join(f"{text}\n" for _, text in lines)
    if limit_bytes is not None and limit_bytes >= 0:
        out = out.encode()[:limit_bytes].decode(errors="ignore")
    return out
