"""``aoi sim``: run a simulated cluster."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import typer
from rich.console import Console

from cluster.sim.cluster import SimCluster
from cluster.sim.config import SimConfig, wall_epoch
from cluster.sim.server import SimServer
from cluster.sim.state import StateError, load_state, save_state

app = typer.Typer(help="A simulated Kubernetes cluster that kubectl and the official clients can talk to.",
                  no_args_is_help=True)
err = Console(stderr=True)

DEFAULT_KUBECONFIG = Path(".aoi/sim/kubeconfig")


@app.command()
def up(
    port: int = typer.Option(0, help="Port to listen on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind. Keep the loopback default unless you mean it."),
    kubeconfig: Path = typer.Option(DEFAULT_KUBECONFIG, help="Kubeconfig to write (merged if it exists); "
                                    "context 'aoi-sim'."),
    seed: int = typer.Option(0, help="Seed: the same seed gives the same cluster."),
    speed: float = typer.Option(1.0, help="Simulated seconds per wall-clock second."),
    warmup: float = typer.Option(60.0, help="Simulated seconds to run before serving, so system pods are up."),
    state: Path | None = typer.Option(None, help="Restore the cluster from this file if it exists; save it on "
                                      "exit."),
    problem: str | None = typer.Option(None, help="Bring the cluster up with this AIOpsLab problem's application "
                                       "and fault (see `aoi sim problems`)."),
    application: str | None = typer.Option(None, "--app", help="Deploy this application, healthy: "
                                           "hotel-reservation, social-network or astronomy-shop."),
) -> None:
    """Serve a simulated cluster on 127.0.0.1 until Ctrl-C."""
    from cluster.sim.apps import APPS
    from cluster.sim.faults.problems import get_problem
    from cluster.sim.faults.setup import SYMPTOM_SECONDS, WARMUP_SECONDS, bring_up

    chosen = None
    if problem is not None:
        try:
            chosen = get_problem(problem)
        except KeyError as e:
            err.print(f"[red]error:[/red] {e.args[0]}")
            raise typer.Exit(2) from e
    if application is not None and application not in APPS:
        err.print(f"[red]error:[/red] unknown application {application!r}; choose one of: {', '.join(APPS)}")
        raise typer.Exit(2)
    total = warmup + (WARMUP_SECONDS + SYMPTOM_SECONDS if chosen else 0) + (WARMUP_SECONDS if application else 0)
    cluster = SimCluster(SimConfig(seed=seed, speed=speed, epoch=wall_epoch(total)))
    if state is not None and state.exists():
        try:
            load_state(cluster, state)
        except StateError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from e
    else:
        cluster.advance(warmup)
        if application:
            from cluster.sim.apps.deploy import deploy

            deploy(cluster, APPS[application])
            cluster.advance(WARMUP_SECONDS)
        if chosen is not None:
            bring_up(cluster, chosen)
    cluster.go_realtime()
    server = SimServer(cluster, host=host, port=port, kubeconfig=kubeconfig, telemetry=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it and holds the token "
                  "controls this simulated cluster")

    def ready(srv: SimServer) -> None:
        t = srv.telemetry_urls()
        print(f"aoi sim ready: api={srv.url} prometheus={t.prometheus} jaeger={t.jaeger} "
              f"kubeconfig={srv.kubeconfig_path} context=aoi-sim", flush=True)
        if chosen is not None:
            err.print(f"  problem {chosen.id} ({chosen.task}) in namespace {chosen.namespace}:")
            err.print("  " + chosen.task_text().replace("\n", "\n  "))
        err.print(f"  try: KUBECONFIG={srv.kubeconfig_path} kubectl get pods -A   (Ctrl-C to stop)")

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever(on_ready=ready)
    except OSError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e
    except KeyboardInterrupt:
        pass
    finally:
        if state is not None:
            save_state(cluster, state)
            err.print(f"state saved to {state}")
    err.print("aoi sim stopped")


@app.command()
def tour(speed: float = typer.Option(1.0, help="Simulated seconds per wall-clock second.")) -> None:
    """Bring a simulator up, walk through it with kubectl (get, describe, logs, scale, rollout), shut it down."""
    from cluster.sim.tour import run_tour

    raise typer.Exit(run_tour(speed=speed))


@app.command()
def problems(
    app_name: str | None = typer.Option(None, "--app", help="Only this application's problems."),
    task: str | None = typer.Option(None, help="Only this task type: detection, localization, analysis, mitigation."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
    all_problems: bool = typer.Option(False, "--all", help="Include problems outside AOI's 86."),
) -> None:
    """List the AIOpsLab problems the simulator reproduces (ids as AIOpsLab names them)."""
    from rich.table import Table

    from cluster.sim.faults.problems import PROBLEMS

    rows = [p for p in PROBLEMS.values() if (all_problems or p.in_aoi86) and (app_name in (None, p.app))
            and (task in (None, p.task))]
    if as_json:
        for p in rows:
            print(json.dumps({"id": p.id, "task": p.task, "app": p.app, "namespace": p.namespace,
                              "family": p.family}))
        return
    table = Table(title=f"{len(rows)} problems")
    for col in ("id", "task", "application", "namespace"):
        table.add_column(col)
    for p in rows:
        table.add_row(p.id, p.task, p.app, p.namespace)
    Console().print(table)


@app.command()
def config(seed: int = 0) -> None:
    """Print the default simulator configuration as JSON."""
    print(json.dumps(SimConfig(seed=seed).model_dump(exclude={"token"}), indent=2))
