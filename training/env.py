"""``ClusterEnv``: the simulator as a TRL ``environment_factory`` for multi-turn GRPO rollouts.

TRL makes one instance per concurrent rollout and reuses it: ``reset(**row)`` gets the episode-level dataset row
(``problem_id``, ``seed``, ``prompt``, ...), closes the previous problem and brings this one up on a fresh seeded
simulator; every public method is a tool the model may call (its Google-style docstring is the schema TRL renders);
``get_reward()`` is the benchmark's grade of the episode, which TRL adds as the reward column ``ClusterEnv``.

Each tool call is a decision carried out by the Observer's own loop (``training.sim_session``): the probe's reads
over MCP in-process, a plan checked by ``propose_plan``, signed with the simulator's observer key and run by the
executor, a wait on the simulated clock, a submission. The text returned is what the Observer's chat policies show
a model for that step (the result compressed to the context budget, the loop's note, the next-step hint), and the
rollout is recorded as a transcript like any benchmark episode. Helpers are private (a leading underscore) because
TRL would offer any public method as a tool.
"""

from __future__ import annotations

import functools
import itertools
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from observer.llm.prompting import normalize_answer
from observer.policy import OBSERVER, Decision, ToolCall
from training.sim_session import EPOCH, SimSession
from transcripts import TranscriptStore


class EnvConfig(BaseModel):
    """How ``ClusterEnv`` runs its episodes. ``problems`` are used in turn by ``reset()`` calls whose row names no
    problem (TRL without a dataset); they must come from families the split lets training learn from."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(30, ge=1, description="the loop's step budget per episode")
    epoch: datetime | None = Field(EPOCH, description="simulated epoch (None: the wall clock)")
    problems: list[str] = Field(default_factory=list, description="problem ids for rows without one")
    problem_files: list[Path] = Field(default_factory=list)
    split: Path | None = Field(None, description="family split checked for `problems` (default: the built-in)")
    transcripts: Path | None = Field(None, description="store rollouts here (default: scratch, discarded)")
    seed: int = 0


class EnvError(RuntimeError):
    """The environment cannot start an episode (no problem given, a held-out family, ...)."""


class ClusterEnv:
    """A Kubernetes incident on a simulated cluster, investigated through the AOI probe's read-only tools and
    repaired through signed plans. Start with cluster_overview, then describe, events, logs, metrics and traces
    of what it names; submit the answer the task asks for."""

    def __init__(self, config: EnvConfig | None = None):
        self._config = config or EnvConfig()
        self._session: SimSession | None = None
        self._finalizer: weakref.finalize | None = None
        self._store: TranscriptStore | None = None
        self._problems_cycle: itertools.cycle[str] | None = None
        self.last_grade: dict[str, Any] | None = None

    @classmethod
    def factory(cls, config: EnvConfig) -> Callable[[], ClusterEnv]:
        """An ``environment_factory`` that builds environments with this configuration."""
        return functools.partial(cls, config)

    # ------------------------------------------------------------------------------------------------ TRL hooks
    def reset(self, **kwargs: Any) -> str | None:
        """Start the row's problem (``problem_id``, ``seed``) on a fresh simulator. Returns the task text when the
        row's prompt does not already carry it (TRL appends it to the last user message), else None."""
        self._close()
        problems = self._problem_set()
        pid = kwargs.get("problem_id") or self._next_problem(problems)
        seed = kwargs.get("seed")
        seed = int(seed) if seed is not None else self._config.seed
        if self._config.transcripts is not None and self._store is None:
            self._store = TranscriptStore(self._config.transcripts)
        session = SimSession(pid, seed=seed, epoch=self._config.epoch, max_steps=self._config.max_steps,
                             store=self._store, policy="grpo", meta={"rollout": "ClusterEnv"}, problems=problems)
        self._session = session.start()
        self._finalizer = weakref.finalize(self, session.close)
        self.last_grade = None
        text = session.task.text.strip()
        prompt = kwargs.get("prompt") or []
        shown = prompt if isinstance(prompt, str) else " ".join(
            str(m.get("content") or "") for m in prompt if isinstance(m, dict))
        return None if text[:200] in shown else text

    def get_reward(self) -> float:
        """The benchmark's grade of the episode (1.0 solved, 0.0 not); ends it if the model never submitted."""
        if self._session is None:
            return 0.0
        self.last_grade = self._session.grade()
        return float(self.last_grade.get("score") or 0.0)

    # ------------------------------------------------------------------------------------------------ tools
    def cluster_overview(self, namespace: str | None = None) -> str:
        """Start here. The state of the cluster or of one namespace, unhealthy things first: node health, pods that
        are not ready, crash-looping, pending or failed (with reasons and exit codes), workloads with unavailable
        replicas or scaled to zero, and the newest warning events.

        Args:
            namespace: Namespace to review; omit for the whole cluster.
        """
        return self._call("probe", "cluster_overview", namespace=namespace)

    def list_resources(self, kind: str, namespace: str | None = None, label_selector: str | None = None,
                       field_selector: str | None = None) -> str:
        """List objects of one kind as a compact table (name, status, age; unhealthy pods first).

        Args:
            kind: Resource kind: plural, singular or short name (pods, deploy, svc, events, nodes, configmaps, ...).
            namespace: Namespace; omit for all namespaces.
            label_selector: Label selector, e.g. app=web,tier!=db.
            field_selector: Field selector, e.g. status.phase=Running.
        """
        return self._call("probe", "list_resources", kind=kind, namespace=namespace, label_selector=label_selector,
                          field_selector=field_selector)

    def get_resource(self, kind: str, name: str, namespace: str | None = None) -> str:
        """One object as cleaned YAML (no managed fields; Secret data never included).

        Args:
            kind: Resource kind, e.g. deployment, service, configmap, pod.
            name: Object name.
            namespace: Namespace of the object.
        """
        return self._call("probe", "get_resource", kind=kind, name=name, namespace=namespace)

    def describe(self, kind: str, name: str, namespace: str | None = None) -> str:
        """Describe one object compactly: key spec facts, conditions, owners and related events. Pods: container
        states, restarts, last termination reason and exit code. Services: endpoints and whether each targetPort
        matches a container port. Deployments: replica sets and rollout status.

        Args:
            kind: Resource kind: pod, deployment, service, node, statefulset, replicaset, configmap, pvc, ...
            name: Object name.
            namespace: Namespace of the object.
        """
        return self._call("probe", "describe", kind=kind, name=name, namespace=namespace)

    def events(self, namespace: str | None = None, object_kind: str | None = None, object_name: str | None = None,
               type: str | None = None, since: str | None = None, reason: str | None = None) -> str:
        """Kubernetes events, de-duplicated with counts, newest first.

        Args:
            namespace: Namespace; omit for all namespaces.
            object_kind: Kind of the object the events are about, e.g. Pod, Deployment, Service.
            object_name: Name of the object the events are about.
            type: Only Normal or only Warning events.
            since: Only events seen within this long, e.g. '10m', '1h'.
            reason: Only this reason, e.g. BackOff, FailedScheduling, Unhealthy.
        """
        return self._call("probe", "events", namespace=namespace, object_kind=object_kind, object_name=object_name,
                          type=type, since=since, reason=reason)

    def topology(self, namespace: str) -> str:
        """How traffic flows in one namespace: each Service, its endpoints, the pods behind them and their owners,
        flagging services with no ready endpoints, selectors that match no pods and targetPorts that match no
        container port; then the service call graph from traces.

        Args:
            namespace: The namespace whose services to map.
        """
        return self._call("probe", "topology", namespace=namespace)

    def logs(self, namespace: str, pod: str | None = None, workload: str | None = None, container: str | None = None,
             tail: int = 200, since: str | None = None, previous: bool = False, pattern: str | None = None,
             errors_only: bool = False) -> str:
        """Container logs of one pod or of every pod of a workload, newest lines last.

        Args:
            namespace: Namespace of the pod or workload.
            pod: One pod's name.
            workload: All pods of a workload: 'deployment/geo', 'statefulset/db', or a Service name.
            container: Container name; omit for every container.
            tail: Lines per container.
            since: Only lines newer than this, e.g. '10m'.
            previous: Read the previous (crashed) run of the container.
            pattern: Keep only lines matching this regular expression.
            errors_only: Keep only error lines, grouped with counts: the quickest way to see why a service fails.
        """
        return self._call("probe", "logs", namespace=namespace, pod=pod, workload=workload, container=container,
                          tail=tail, since=since, previous=previous or None, pattern=pattern,
                          errors_only=errors_only or None)

    def metrics(self, query: str, start: str | None = None, end: str | None = None, step: str | None = None) -> str:
        """Run a PromQL query against Prometheus; a range query (start='-30m') summarises each series with its
        trend and anomalies.

        Args:
            query: PromQL, e.g. rate(container_cpu_usage_seconds_total{namespace="shop"}[5m]).
            start: Range start, e.g. '-15m'; giving it makes a range query.
            end: Range end (default now).
            step: Range resolution, e.g. '30s'.
        """
        return self._call("probe", "metrics", query=query, start=start, end=end, step=step)

    def metrics_overview(self, namespace: str, window: str = "15m") -> str:
        """Health of one namespace from Prometheus: per-container CPU and memory, restarts, unavailable deployments,
        and per-service request rate, error rate and p95 latency; what stands out first.

        Args:
            namespace: Namespace to review.
            window: How far back to look, e.g. '15m', '1h'.
        """
        return self._call("probe", "metrics_overview", namespace=namespace, window=window)

    def traces(self, namespace: str | None = None, service: str | None = None, operation: str | None = None,
               lookback: str = "15m", errors_only: bool = False, limit: int = 20, trace_id: str | None = None) -> str:
        """Summarise Jaeger traces: per service and call edge the call count, error rate and latency, the failing
        paths down to the span where the error originated, and the slowest paths.

        Args:
            namespace: Application namespace.
            service: Only traces through this service.
            operation: Only this operation of the service.
            lookback: How far back to search, e.g. '15m'.
            errors_only: Only traces with an error span.
            limit: Traces fetched per service.
            trace_id: Show this one trace as a tree.
        """
        return self._call("probe", "traces", namespace=namespace, service=service, operation=operation,
                          lookback=lookback, errors_only=errors_only or None, limit=limit, trace_id=trace_id)

    def kubectl(self, command: str) -> str:
        """Read-only kubectl: get, describe, logs, top, events, api-resources with the usual flags. Verbs that
        change something are refused: repairs go through plan.

        Args:
            command: A kubectl command line without shell syntax, e.g. 'get pods -n shop -o wide'.
        """
        return self._call("probe", "kubectl", command=command)

    def propose_plan(self, plan: dict) -> str:
        """Check a repair plan without running it: validates it, reads every target and returns its canonical form.

        Args:
            plan: The plan: {id, goal, rationale, cluster, actions: [{type, namespace, name, ...}]}.
        """
        return self._call("probe", "propose_plan", plan=plan)

    def show_policy(self) -> str:
        """What the executor accepts: its cluster identity, which keys may sign which action classes where, and
        the catalogue of action types."""
        return self._call("executor", "show_policy")

    def plan(self, goal: str, actions: list[dict], rationale: str = "") -> str:
        """Repair: propose a plan, which is checked, signed if the observer's key may sign it, and run by the
        executor. Then wait, verify with the read tools, and submit.

        Args:
            goal: What the plan achieves, in one sentence.
            actions: Actions in the executor's format, e.g.
                [{"type": "scale", "namespace": "ns", "name": "web", "replicas": 1}].
            rationale: The evidence behind it.
        """
        return self._decide("plan", {"goal": goal, "actions": actions, "rationale": rationale})

    def wait(self, seconds: float) -> str:
        """Wait this many seconds (at most 300) for a repair to take effect before verifying it.

        Args:
            seconds: Seconds to wait.
        """
        return self._decide("wait", {"seconds": seconds})

    def submit(self, answer: str | list[str] | dict | None = None) -> str:
        """Submit the final answer and end the episode. Detection: "Yes" or "No". Localization: a list of the
        faulty service names. Analysis: {"system_level": ..., "fault_type": ...}. Mitigation: no answer, once the
        service is healthy again.

        Args:
            answer: The answer in the task's format.
        """
        session = self._require()
        try:
            value = normalize_answer(session.task.task, {"answer": answer})
        except ValueError as e:
            return f"Error: invalid answer: {e}. Nothing was submitted."
        return self._decide("submit", {"answer": value})

    # ------------------------------------------------------------------------------------------------ helpers
    def _require(self) -> SimSession:
        if self._session is None:
            raise RuntimeError("reset() must start an episode before tools are called")
        return self._session

    def _call(self, server: str, tool: str, **arguments: Any) -> str:
        args = {k: v for k, v in arguments.items() if v is not None}
        return self._act(Decision(call=ToolCall(server=server, tool=tool, arguments=args), phase=self._phase()))

    def _decide(self, tool: str, arguments: dict[str, Any]) -> str:
        session = self._require()
        phase = {"submit": "ready_to_submit", "plan": "ready_to_fix", "wait": "verification"}[tool]
        try:
            d = Decision.from_tool_call(OBSERVER, tool, arguments, task=session.task.task, phase=phase)
        except ValueError as e:
            return f"Error: {e}. Nothing was done."
        return self._act(d)

    def _phase(self) -> str:
        return "surface_scan" if self._require().steps == 0 else "point_investigation"

    def _act(self, decision: Decision) -> str:
        session = self._require()
        if session.done:
            return "The episode is over: no more actions are taken."
        return session.act(decision).shown

    def _problem_set(self) -> Any:
        from bench.problems import ProblemSet

        problems = ProblemSet.builtin()
        for f in self._config.problem_files:
            problems.load_file(Path(f))
        return problems

    def _next_problem(self, problems: Any) -> str:
        if not self._config.problems:
            raise EnvError("the dataset row has no problem_id and EnvConfig.problems is empty: give episode-level "
                           "rows (`aoi train data`) or a list of problems")
        if self._problems_cycle is None:
            from bench.split import load_split

            split = load_split(self._config.split)
            for pid in self._config.problems:
                family = problems.get(pid).family
                if not split.may_learn_from(family):
                    raise EnvError(f"{pid}: fault family {family} is not one training may learn from "
                                   f"(split {split.name})")
            self._problems_cycle = itertools.cycle(self._config.problems)
        return next(self._problems_cycle)

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # closes the session once; later calls are no-ops
            self._finalizer = None
        self._session = None

    def __del__(self) -> None:
        if getattr(self, "_store", None) is not None:
            self._store.close()  # type: ignore[union-attr]
