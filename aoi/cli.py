"""The ``aoi`` command: one CLI that mounts each package's own commands."""

from __future__ import annotations

import typer

from aoi import __version__
from aoi.episodes import register as register_episodes
from bench.cli import bench_app
from cluster.sim.cli import app as sim_app
from evolver.cli import app as evolve_app
from servers.executor.cli import register as register_executor
from servers.probe.cli import probe
from training.cli import app as train_app
from transcripts.cli import app as transcripts_app

app = typer.Typer(help="AOI: safe, trainable AI site-reliability agents for Kubernetes.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
app.add_typer(sim_app, name="sim")
register_executor(app)  # aoi executor, aoi keys, aoi plan, aoi audit
app.command("probe")(probe)
app.add_typer(transcripts_app, name="transcripts")
register_episodes(app)  # aoi observe, aoi demo
app.add_typer(bench_app, name="bench")  # aoi bench [list|families]
app.add_typer(train_app, name="train")  # aoi train data|tiny|sft|grpo|eval|demo
app.add_typer(evolve_app, name="evolve")  # aoi evolve [lessons]


@app.command()
def version() -> None:
    """Print the AOI version."""
    print(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
