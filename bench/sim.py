"""A seeded simulator serving one benchmark problem: the cluster over HTTPS, the fault brought up, an observer key
and a keyring the executor trusts, and MCP endpoints for the probe and the executor (in-process or stdio).

The policy only ever gets ``task()``: AIOpsLab's task text, the task type and the namespace. The problem id and the
fault stay here (tests/observer checks that no ground truth reaches an episode).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from bench.graders import GradeContext, grade
from bench.problems import BenchProblem, ProblemSet

if TYPE_CHECKING:
    from observer.loop import EpisodeOutcome
    from observer.mcp import Endpoint
    from observer.policy import TaskSpec
    from observer.signing import SignerConfig

SIM_ALLOW = "*"  # a throw-away simulator: the observer's key may sign every action class in the problem's namespace


@dataclass
class SimProblem:
    """A simulated cluster serving one problem, with keys, a keyring and endpoints for the probe and executor.

    ``problem``: a ``BenchProblem`` or a built-in problem id."""

    problem: BenchProblem | str
    workdir: Path
    seed: int = 0
    allow: str = SIM_ALLOW
    transport: str = "inprocess"  # inprocess | stdio
    epoch: datetime | None = None  # default: the wall clock (to the minute) once the problem is up
    server: Any = None
    incident: Any = None
    key: Path | None = None
    keyring: Path | None = None
    _executors: list[Any] = field(default_factory=list)
    _probes: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.problem, str):
            self.problem = ProblemSet.builtin().get(self.problem)

    @property
    def spec(self) -> BenchProblem:
        assert isinstance(self.problem, BenchProblem)
        return self.problem

    @property
    def problem_id(self) -> str:
        return self.spec.id

    def start(self) -> SimProblem:
        from cluster.sim import SimCluster, SimConfig
        from cluster.sim.config import wall_epoch
        from cluster.sim.faults.setup import SYMPTOM_SECONDS, WARMUP_SECONDS, bring_up
        from cluster.sim.server import SimServer

        self.workdir.mkdir(parents=True, exist_ok=True)
        # Simulated "now" lands on the wall clock (to the minute) once the problem is up, so the ages the probe
        # computes with the local clock read true. A fixed epoch (tests) makes episodes repeat exactly.
        epoch = self.epoch
        if epoch is None:
            epoch = wall_epoch(WARMUP_SECONDS + SYMPTOM_SECONDS)
            epoch -= timedelta(seconds=epoch.timestamp() % 60)
        cluster = SimCluster(SimConfig(seed=self.seed, epoch=epoch))
        self.server = SimServer(cluster, kubeconfig=self.workdir / "kubeconfig", telemetry=True).start()
        try:
            self.incident = bring_up(cluster, self.spec.sim)
            self.key, self.keyring = make_keys(self.workdir / "keys", self.spec.namespace, self.allow)
        except BaseException:
            self.server.stop()
            raise
        return self

    @property
    def cluster(self) -> Any:
        return self.server.cluster

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def sim_now(self) -> float:
        """Simulated seconds since the cluster started."""
        return float(self.cluster.clock.now)

    def task(self) -> TaskSpec:
        """What the agent is told: AIOpsLab's task text, the task type and the namespace. Nothing else."""
        from observer.policy import TaskSpec

        return TaskSpec(task=self.spec.task, namespace=self.spec.namespace, text=self.spec.task_text())

    async def wait(self, seconds: float) -> str:
        """Time passes on the simulated clock (the simulator runs its controllers to that instant)."""
        await anyio.to_thread.run_sync(self.cluster.advance, seconds)
        return f"waited {seconds:g} s (simulated clock)"

    def endpoints(self) -> list[Endpoint]:
        from observer.mcp import Endpoint

        assert self.keyring is not None
        ledger, audit = self.workdir / "ledger.sqlite", self.workdir / "audit.jsonl"
        if self.transport == "stdio":
            return [Endpoint.probe_stdio(self.kubeconfig),
                    Endpoint.executor_stdio(self.kubeconfig, self.keyring, ledger, audit)]
        from servers.executor.server import build_server as build_executor
        from servers.executor.server import open_executor
        from servers.probe.context import ProbeContext
        from servers.probe.server import build_server as build_probe
        from servers.probe.settings import ProbeSettings

        settings = ProbeSettings(kubeconfig=str(self.kubeconfig))
        ctx = ProbeContext.build(settings)
        ex = open_executor(self.kubeconfig, None, self.keyring, None, ledger, audit)
        self._probes.append(ctx)
        self._executors.append(ex)
        return [Endpoint.in_process("probe", build_probe(settings, ctx)),
                Endpoint.in_process("executor", build_executor(ex))]

    def signer(self, approval: str = "exit", plans_dir: Path | None = None) -> SignerConfig:
        from observer.signing import SignerConfig

        return SignerConfig(key=self.key, kid="observer", approval=approval,  # type: ignore[arg-type]
                            plans_dir=plans_dir or self.workdir / "plans", kubeconfig=str(self.kubeconfig))

    def grade(self, outcome: EpisodeOutcome) -> dict[str, Any]:
        return grade(self.spec, outcome.submission, outcome.submitted,
                     GradeContext(cluster=self.cluster, fault=self.incident.fault))

    def stop(self) -> None:
        # Close kept-alive client connections first, so the server's graceful shutdown does not wait for them.
        for ex in self._executors:
            if ex.kube is not None:
                ex.kube.close()
        for ctx in self._probes:
            with contextlib.suppress(Exception):
                ctx.target.api.rest_client.pool_manager.clear()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> SimProblem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_keys(directory: Path, namespace: str, allow: str) -> tuple[Path, Path]:
    """An observer key pair and a keyring that trusts it for ``allow`` in ``namespace``."""
    from servers.executor.keys import KeyEntry, Keyring, generate_key_pair

    priv, pub = generate_key_pair(directory, "observer", force=True)
    entry = KeyEntry(kid="observer", public_key=pub.read_text().strip(),
                     allow=[a.strip() for a in allow.split(",") if a.strip()], namespaces=[namespace],
                     cluster_scoped="*" in allow or "patch" in allow or "merge_patch" in allow,
                     description="the observer's own key (simulator)")
    ring = directory / "keyring.yaml"
    Keyring(keys=[entry]).save(ring)
    return priv, ring
