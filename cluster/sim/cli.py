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
) -> None:
    """Serve a simulated cluster on 127.0.0.1 until Ctrl-C."""
    config = SimConfig(seed=seed, speed=speed, epoch=wall_epoch(warmup))
    cluster = SimCluster(config)
    if state is not None and state.exists():
        try:
            load_state(cluster, state)
        except StateError as e:
            err.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from e
    else:
        cluster.advance(warmup)
    cluster.go_realtime()
    server = SimServer(cluster, host=host, port=port, kubeconfig=kubeconfig)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it and holds the token "
                  "controls this simulated cluster")

    def ready(srv: SimServer) -> None:
        print(f"aoi sim ready: api={srv.url} kubeconfig={srv.kubeconfig_path} context=aoi-sim", flush=True)
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
def config(seed: int = 0) -> None:
    """Print the default simulator configuration as JSON."""
    print(json.dumps(SimConfig(seed=seed).model_dump(exclude={"token"}), indent=2))
