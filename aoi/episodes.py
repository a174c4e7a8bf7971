"""``aoi observe`` and ``aoi demo``: the Observer against a cluster, or against the simulator with a problem.

This is command wiring, not agent code. For ``--problem`` it builds the simulator, brings the problem's fault up
(``cluster.sim.faults``), serves it over HTTPS and connects the probe and the executor to it; the policy gets only
the task text AIOpsLab gives an agent (the application, the namespace, the answer format), never the problem id or
the fault. After the episode it grades the submission as AIOpsLab does (the problem's expected answer, or its
mitigation oracle on the cluster's state) and stores the grade with the transcript. The observer package itself
never imports the fault definitions (tests/observer checks it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import typer
from rich.console import Console
from rich.text import Text

from bench.episode import run_problem
from bench.sim import SIM_ALLOW, SimProblem

if TYPE_CHECKING:  # imported when a command runs: `aoi probe` and `aoi executor` children never load the observer
    from observer.loop import EpisodeOutcome, Listener
    from observer.policy import TaskSpec
    from transcripts import TranscriptStore

DEFAULT_DB = Path(".aoi/transcripts.db")  # transcripts.DEFAULT_DB
TASKS = ("detection", "localization", "analysis", "mitigation")

DEMO_PROBLEM = "scale_pod_zero_social_net-mitigation-1"
DEMO_DIR = Path(".aoi/demo")

err = Console(stderr=True)


# ------------------------------------------------------------------------------------------------ commands
def _policy(name: str, model: str | None, guidance: Path | None = None, adapter: Path | None = None) -> Any:
    from observer.policies import PolicyUnavailable, make_policy

    options: dict[str, Any] = {}
    if guidance:
        options["guidance"] = str(guidance)
    if adapter:
        if name not in ("hf", "vllm"):
            err.print(f"[red]error:[/red] --adapter is for the hf and vllm policies, not {name!r}")
            raise typer.Exit(2)
        options["adapter"] = str(adapter)
    try:
        return make_policy(name, model, **options)
    except PolicyUnavailable as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


def _print_transcript(console: Console, db: Path, episode_id: str) -> None:
    console.print(Text.assemble(("transcript: ", "bold"), f"episode {episode_id} in {db}"))
    console.print(Text(f"  aoi transcripts show {episode_id[:8]} --db {db}", style="dim"))
    console.print(Text(f"  aoi transcripts export --db {db} --id {episode_id} --out episode.jsonl", style="dim"))


def _print_grade(console: Console, graded: dict[str, Any]) -> None:
    ok = graded.get("success")
    style = "bold green" if ok else "bold red"
    detail = {k: v for k, v in graded.items() if k not in ("task", "success", "score", "metrics")}
    console.print(Text.assemble(("grade: ", "bold"), ("success" if ok else "failure", style), f"  {detail}"))
    m = graded.get("metrics")
    if m:
        calls = ", ".join(f"{n} {server}" for server, n in sorted(m.get("tool_calls", {}).items())) or "none"
        console.print(Text(f"metrics: {m['steps']} steps, {m['in_tokens']:,} in / {m['out_tokens']:,} out tokens, "
                           f"{m['wall_s']:.2f} s wall, {m.get('sim_s') or 0:g} s simulated; tool calls: "
                           f"{calls}; plans {m['plans']} ({m['plans_refused']} refused), unsafe attempts "
                           f"{m['unsafe_attempts']}", style="dim"))


def observe_command(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="The namespace to investigate (default: "
                                         "the one the overview finds most unhealthy)."),
    task: str = typer.Option("detection", help="detection, localization, analysis or mitigation."),
    problem: str | None = typer.Option(None, help="Run against the simulator with this AIOpsLab problem "
                                       "(`aoi sim problems`); the task comes from the problem."),
    policy: str = typer.Option("baseline", help="baseline, openai, hf or vllm."),
    model: str | None = typer.Option(None, help="The model for openai/hf/vllm policies."),
    guidance: Path | None = typer.Option(None, help="A guidance file (`aoi evolve lessons`): lessons matched by the "
                                         "symptoms the probe shows go into the policy's context."),
    adapter: Path | None = typer.Option(None, help="hf/vllm: a LoRA adapter (`aoi train sft|grpo`) on --model."),
    kubeconfig: Path | None = typer.Option(None, help="Kubeconfig of the cluster (default: the usual rules)."),
    context: str | None = typer.Option(None, help="Kubeconfig context."),
    probe_url: str | None = typer.Option(None, help="Use a running probe (streamable HTTP) instead of starting one."),
    executor_url: str | None = typer.Option(None, help="Use a running executor (streamable HTTP)."),
    token_file: Path | None = typer.Option(None, help="Bearer token for --probe-url/--executor-url."),
    no_executor: bool = typer.Option(False, help="Investigate only: plans are written for a human to approve."),
    key: Path | None = typer.Option(None, help="The observer's signing key (default: .aoi/keys/observer.key if "
                                    "present). It signs only what the executor's keyring lets it sign."),
    keyring: Path | None = typer.Option(None, help="The executor's keyring (default: .aoi/executor/keyring.yaml)."),
    ledger: Path | None = typer.Option(None, help="The executor's ledger (default: .aoi/executor/ledger.sqlite)."),
    audit: Path | None = typer.Option(None, help="The executor's audit log (default: .aoi/executor/audit.jsonl)."),
    executor_policy: Path | None = typer.Option(None, help="The executor's policy file, if any."),
    approval: str = typer.Option("exit", help="When a plan needs a human: exit (print the approve command and "
                                 "stop) or wait (for the token file the command writes)."),
    approval_timeout: float = typer.Option(900.0, help="With --approval wait: seconds to wait."),
    max_steps: int = typer.Option(30, min=2, max=200, help="Step budget."),
    transcripts: Path = typer.Option(DEFAULT_DB, "--transcripts", envvar="AOI_TRANSCRIPTS_DB",
                                     help="The transcript database."),
    seed: int = typer.Option(0, help="--problem: the simulator's seed."),
    stdio: bool = typer.Option(False, help="--problem: run the probe and executor as stdio children (default: "
                               "in-process, faster)."),
    allow: str = typer.Option(SIM_ALLOW, help="--problem: what the observer's generated key may sign "
                              "(verb classes, comma-separated; '*' = all) in the problem's namespace."),
    quiet: bool = typer.Option(False, help="Print only the outcome."),
) -> None:
    """Run the Observer: against any cluster (--namespace, --task), or against the simulator (--problem)."""
    from observer.policy import TaskSpec
    from observer.render import RichListener
    from transcripts import TranscriptStore

    if approval not in ("exit", "wait"):
        raise typer.BadParameter("--approval is exit or wait")
    console = Console()
    listeners: list[Listener] = [] if quiet else [RichListener(console)]
    pol = _policy(policy, model, guidance, adapter)
    store = TranscriptStore(transcripts)
    try:
        if problem is not None:
            workdir = Path(tempfile.mkdtemp(prefix="aoi-observe-"))
            sim = SimProblem(problem, workdir, seed=seed, allow=allow, transport="stdio" if stdio else "inprocess")
            try:
                sim.start()
            except KeyError as e:
                shutil.rmtree(workdir, ignore_errors=True)
                err.print(f"[red]error:[/red] {e.args[0]}")
                raise typer.Exit(2) from None
            try:
                outcome, graded = anyio.run(lambda: run_problem(sim, pol, store, max_steps=max_steps,
                                                                approval=approval, listeners=listeners))
            finally:
                sim.stop()
                shutil.rmtree(workdir, ignore_errors=True)
            _print_grade(console, graded)
            if outcome.stop_reason == "awaiting_approval":
                err.print("note: the simulator stops with this command; run with --approval wait to approve the plan "
                          "from another terminal while it runs")
        else:
            if task not in TASKS:
                raise typer.BadParameter(f"--task is one of {', '.join(TASKS)}")
            outcome = anyio.run(lambda: _observe_cluster(
                pol, TaskSpec.for_namespace(task, namespace), store, listeners, kubeconfig=kubeconfig,
                context=context, probe_url=probe_url, executor_url=executor_url, token_file=token_file,
                no_executor=no_executor, key=key, keyring=keyring, ledger=ledger, audit=audit,
                executor_policy=executor_policy, approval=approval, approval_timeout=approval_timeout,
                max_steps=max_steps))
        _print_transcript(console, transcripts, outcome.episode_id)
        if outcome.status == "failed":
            raise typer.Exit(1)
        if outcome.stop_reason in ("awaiting_approval", "approval_timeout"):
            raise typer.Exit(3)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: the episode is marked interrupted in the transcript store")
        raise typer.Exit(130) from None
    finally:
        store.close()


async def _observe_cluster(pol: Any, task: TaskSpec, store: TranscriptStore, listeners: list[Listener], *,
                           kubeconfig: Path | None, context: str | None, probe_url: str | None,
                           executor_url: str | None, token_file: Path | None, no_executor: bool, key: Path | None,
                           keyring: Path | None, ledger: Path | None, audit: Path | None,
                           executor_policy: Path | None, approval: str, approval_timeout: float,
                           max_steps: int) -> EpisodeOutcome:
    from observer.loop import LoopConfig
    from observer.mcp import ConnectionFailed
    from observer.run import DEFAULT_KEY, cluster_wiring, observe
    from observer.signing import SignerConfig

    bearer = token_file.read_text().strip() if token_file else None
    wiring = cluster_wiring(kubeconfig, context, probe_url, executor_url, bearer, keyring, ledger, audit,
                            executor_policy, executor=not no_executor)
    if wiring.executor is None and not no_executor:
        err.print("note: no executor keyring (.aoi/executor/keyring.yaml or --keyring): investigating only; "
                  "repair plans are written for a human to approve")
    signer = SignerConfig(key=key or (DEFAULT_KEY if DEFAULT_KEY.exists() else None), approval=approval,  # type: ignore[arg-type]
                          approval_timeout_s=approval_timeout,
                          kubeconfig=str(kubeconfig) if kubeconfig else None, context=context,
                          executor_policy=str(executor_policy) if executor_policy else None)
    try:
        return await observe(pol, task, wiring, store, signer=signer, loop=LoopConfig(max_steps=max_steps),
                             listeners=listeners, target=f"namespace/{task.namespace}" if task.namespace
                             else "cluster", meta={"kubeconfig": str(kubeconfig) if kubeconfig else None,
                                                   "context": context})
    except ConnectionFailed as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


def demo_command(
    problem: str = typer.Option(DEMO_PROBLEM, help="The mitigation problem to repair."),
    seed: int = typer.Option(0, help="The simulator's seed."),
    transcripts: Path = typer.Option(DEFAULT_DB, "--transcripts", envvar="AOI_TRANSCRIPTS_DB",
                                     help="The transcript database."),
    allow: str = typer.Option("restart,scale,rollback,patch", help="What the demo's observer key may sign."),
    stdio: bool = typer.Option(False, help="Run the probe and the executor as stdio children."),
) -> None:
    """Break a simulated cluster, let the Observer (baseline policy) find and repair it with a signed plan."""
    from observer.baseline import BaselinePolicy
    from observer.render import RichListener
    from transcripts import TranscriptStore

    console = Console()
    workdir = DEMO_DIR
    shutil.rmtree(workdir, ignore_errors=True)
    console.rule("[bold]AOI demo[/bold]")
    console.print(f"bringing up the simulator with the fault of [bold]{problem}[/bold] …")
    sim = SimProblem(problem, workdir, seed=seed, allow=allow, transport="stdio" if stdio else "inprocess")
    try:
        sim.start()
    except KeyError as e:
        err.print(f"[red]error:[/red] {e.args[0]}")
        raise typer.Exit(2) from None
    store = TranscriptStore(transcripts)
    try:
        before = _health(sim)
        console.print(Text.assemble(("simulated cluster ", "dim"), sim.server.url, ("  kubeconfig ", "dim"),
                                    str(sim.kubeconfig)))
        console.print(Text.assemble(("observer key ", "dim"), str(sim.key), ("  may sign ", "dim"), allow,
                                    (f" in namespace {sim.problem.namespace}", "dim")))
        console.print(Text.assemble(("before: ", "bold"), before))
        outcome, graded = anyio.run(lambda: run_problem(sim, BaselinePolicy(), store,
                                                        listeners=[RichListener(console)],
                                                        meta={"demo": True}))
        console.print(Text.assemble(("after:  ", "bold"), _health(sim)))
        _print_grade(console, graded)
        _print_transcript(console, transcripts, outcome.episode_id)
        console.print(Text(f"executor audit log: {workdir / 'audit.jsonl'} (aoi audit verify --audit "
                           f"{workdir / 'audit.jsonl'} --ledger {workdir / 'ledger.sqlite'})", style="dim"))
        if not graded.get("success"):
            raise typer.Exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    finally:
        store.close()
        sim.stop()


def _health(sim: SimProblem) -> str:
    """A one-line state of the problem's namespace, read from the simulator (for the demo's before/after)."""
    from cluster.sim.faults.oracles import pod_health

    c = sim.cluster
    ns = sim.problem.namespace
    with c.lock:
        problems = pod_health(c, ns)
        deps = c.store.list("deployments.apps", ns)
        down = [d["metadata"]["name"] for d in deps
                if (d.get("status") or {}).get("availableReplicas", 0) < max(1, d["spec"].get("replicas", 1))]
    parts = [f"{len(deps)} deployments, {len(down)} not fully available" + (f" ({', '.join(down[:4])})"
                                                                            if down else "")]
    parts.append(f"{len(problems)} pod problems" + (f": {problems[0]}" if problems else ""))
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    app.command("observe")(observe_command)
    app.command("demo")(demo_command)
