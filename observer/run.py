"""Running one episode end to end: connect to the servers, run the loop, close everything; and the defaults
``aoi observe`` uses against a real cluster (stdio children, the usual key and keyring locations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observer.loop import EpisodeOutcome, Listener, LoopConfig, run_episode
from observer.mcp import Connections, Endpoint
from observer.policy import Policy, TaskSpec
from observer.signing import Signer, SignerConfig
from transcripts import TranscriptStore

DEFAULT_KEY = Path(".aoi/keys/observer.key")
DEFAULT_KEYRING = Path(".aoi/executor/keyring.yaml")
DEFAULT_LEDGER = Path(".aoi/executor/ledger.sqlite")
DEFAULT_AUDIT = Path(".aoi/executor/audit.jsonl")


@dataclass
class Wiring:
    """Where the servers are. ``executor=None``: investigate only (plans go to a human)."""

    probe: Endpoint
    executor: Endpoint | None = None

    def endpoints(self) -> list[Endpoint]:
        return [self.probe] + ([self.executor] if self.executor else [])


def cluster_wiring(kubeconfig: Path | None = None, context: str | None = None, probe_url: str | None = None,
                   executor_url: str | None = None, bearer: str | None = None, keyring: Path | None = None,
                   ledger: Path | None = None, audit: Path | None = None, executor_policy: Path | None = None,
                   executor: bool = True) -> Wiring:
    """Stdio children by default; a URL where given. The executor is started only when its keyring exists."""
    probe = Endpoint.from_url("probe", probe_url, bearer) if probe_url else Endpoint.probe_stdio(kubeconfig, context)
    ex: Endpoint | None = None
    if executor:
        if executor_url:
            ex = Endpoint.from_url("executor", executor_url, bearer)
        else:
            ring = keyring or DEFAULT_KEYRING
            if ring.exists():
                ex = Endpoint.executor_stdio(kubeconfig, ring, ledger or DEFAULT_LEDGER, audit or DEFAULT_AUDIT,
                                             executor_policy, context)
    return Wiring(probe, ex)


async def observe(policy: Policy, task: TaskSpec, wiring: Wiring | Sequence[Endpoint], store: TranscriptStore, *,
                  signer: SignerConfig | None = None, loop: LoopConfig | None = None,
                  listeners: Sequence[Listener] = (), **episode: Any) -> EpisodeOutcome:
    """Connect, run one episode, disconnect. ``episode``: target, problem_id, seed, meta for the transcript."""
    endpoints = wiring.endpoints() if isinstance(wiring, Wiring) else list(wiring)
    try:
        async with Connections(endpoints) as conns:
            return await run_episode(policy, task, conns, store, signer=Signer(signer or SignerConfig()),
                                     config=loop, listeners=listeners, **episode)
    except BaseExceptionGroup as group:  # the MCP clients' task groups wrap what ends the episode (Ctrl-C, ...)
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out += _leaves(e) if isinstance(e, BaseExceptionGroup) else [e]
    return out
