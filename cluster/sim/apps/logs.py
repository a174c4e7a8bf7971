"""Log styles of the simulated applications (registered into ``cluster.sim.runtime.logs.LOG_STYLES``)."""

from __future__ import annotations


def register_log_styles() -> None:
    from cluster.sim.apps import applogs

    applogs.register()
