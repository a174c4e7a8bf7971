"""The problem registry: each problem is data (id, task type, application, fault, grader, task text).

Built-in problems mirror AIOpsLab's (``cluster.sim.faults.problems``: its ids, applications, targets); a problem
file (YAML or JSON) adds more without touching the runner::

    problems:
      - id: my-port-problem-localization-1
        task: localization            # detection | localization | analysis | mitigation
        app: social-network
        fault: {family: k8s_target_port-misconfig, target: text-service}
        # optional: grader (default: the task type), expected (default: from the fault family),
        #           task_text (default: AIOpsLab's text for the task type), in_aoi86 (default: false)
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cluster.sim.apps import APPS
from cluster.sim.faults.families import FAMILIES
from cluster.sim.faults.problems import PROBLEMS as SIM_PROBLEMS
from cluster.sim.faults.problems import Problem as SimFaultProblem
from cluster.sim.faults.problems import TaskType

TASK_TYPES: tuple[str, ...] = ("detection", "localization", "analysis", "mitigation")


class ProblemFileError(ValueError):
    """A problem file that cannot be used; the message names the file, the entry and what to fix."""


class FaultRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    family: str
    target: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class BenchProblem(BaseModel):
    """One benchmark problem. ``expected`` overrides the answer derived from the fault family."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    task: TaskType
    app: str
    fault: FaultRef
    grader: str | None = None
    expected: Any = None
    task_text_override: str | None = Field(default=None, alias="task_text")
    in_aoi86: bool = False
    source: str = "builtin"

    @model_validator(mode="after")
    def _known(self) -> BenchProblem:
        if self.app not in APPS:
            raise ValueError(f"unknown app {self.app!r}; known: {', '.join(sorted(APPS))}")
        if self.fault.family not in FAMILIES:
            raise ValueError(f"unknown fault family {self.fault.family!r}; `aoi bench families` lists them")
        from bench.graders import GRADERS

        if self.grader_name not in GRADERS:
            raise ValueError(f"unknown grader {self.grader_name!r}; known: {', '.join(GRADERS)}")
        return self

    @property
    def family(self) -> str:
        return self.fault.family

    @property
    def target(self) -> str:
        return self.fault.target

    @property
    def grader_name(self) -> str:
        return self.grader or self.task

    @property
    def sim(self) -> SimFaultProblem:
        """The simulator's view: what to deploy and inject."""
        return SimFaultProblem(id=self.id, task=self.task, app=self.app, family=self.fault.family,
                               target=self.fault.target, params=dict(self.fault.params), in_aoi86=self.in_aoi86)

    @property
    def namespace(self) -> str:
        return APPS[self.app].namespace

    @property
    def answer(self) -> Any:
        """The answer AIOpsLab grades against (mitigation: the oracle's name)."""
        return self.expected if self.expected is not None else self.sim.expected

    @property
    def accepted_localizations(self) -> list[list[str]]:
        if self.expected is not None and self.task == "localization":
            return [list(self.expected)] if isinstance(self.expected, list) else [[str(self.expected)]]
        return self.sim.accepted_localizations

    @property
    def system_level(self) -> str | None:
        return FAMILIES[self.family].system_level

    @property
    def fault_type(self) -> str | None:
        return FAMILIES[self.family].fault_type

    def task_text(self) -> str:
        """What the agent reads: AIOpsLab's task description and submit format. Never the fault."""
        return self.task_text_override or self.sim.task_text()


def _builtin() -> dict[str, BenchProblem]:
    return {p.id: BenchProblem(id=p.id, task=p.task, app=p.app, in_aoi86=p.in_aoi86,
                               fault=FaultRef(family=p.family, target=p.target, params=dict(p.params)))
            for p in SIM_PROBLEMS.values()}


class ProblemSet:
    """An ordered, id-unique set of problems: the built-ins plus any loaded files."""

    def __init__(self, problems: Iterable[BenchProblem] = ()):
        self._by_id: dict[str, BenchProblem] = {}
        for p in problems:
            self.add(p)

    @classmethod
    def builtin(cls) -> ProblemSet:
        return cls(_builtin().values())

    def add(self, problem: BenchProblem) -> None:
        if problem.id in self._by_id:
            raise ProblemFileError(f"problem id {problem.id!r} is defined twice ({problem.source} and "
                                   f"{self._by_id[problem.id].source}); ids must be unique")
        self._by_id[problem.id] = problem

    def load_file(self, path: Path) -> list[BenchProblem]:
        """Add the problems of a YAML or JSON file; returns them."""
        added = load_problem_file(path)
        for p in added:
            self.add(p)
        return added

    def __iter__(self) -> Iterator[BenchProblem]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_id

    def get(self, pid: str) -> BenchProblem:
        try:
            return self._by_id[pid]
        except KeyError:
            close = [p for p in self._by_id if pid.split("-")[0] in p][:5]
            hint = f"; did you mean one of: {', '.join(close)}" if close else "; `aoi bench list` shows them"
            raise KeyError(f"unknown problem {pid!r}{hint}") from None

    def select(self, pattern: str = "aoi86", *, tasks: Iterable[str] | None = None,
               families: Iterable[str] | None = None) -> list[BenchProblem]:
        """Comma-separated terms: ``aoi86`` (AOI's 86), ``all``, ``file`` (the loaded files' problems), an id, or
        a glob over ids (``*-mitigation-*``). ``tasks`` and ``families`` filter further."""
        chosen: dict[str, BenchProblem] = {}
        for term in (t.strip() for t in pattern.split(",") if t.strip()):
            if term == "all":
                hits = list(self)
            elif term == "aoi86":
                hits = [p for p in self if p.in_aoi86]
            elif term == "file":
                hits = [p for p in self if p.source != "builtin"]
            elif any(ch in term for ch in "*?["):
                hits = [p for p in self if fnmatch.fnmatchcase(p.id, term)]
                if not hits:
                    raise KeyError(f"no problem id matches {term!r}; `aoi bench list` shows them")
            else:
                hits = [self.get(term)]
            chosen.update((p.id, p) for p in hits)
        out = list(chosen.values())
        if tasks is not None:
            wanted = set(tasks)
            out = [p for p in out if p.task in wanted]
        if families is not None:
            fams = set(families)
            out = [p for p in out if p.family in fams]
        return out


def load_problem_file(path: Path) -> list[BenchProblem]:
    """Problems from a YAML/JSON file: a list, or a mapping with a ``problems`` list."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ProblemFileError(f"cannot read problem file {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ProblemFileError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    entries = data.get("problems") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ProblemFileError(f"{path}: expected a list of problems (or a mapping with `problems:`)")
    out: list[BenchProblem] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ProblemFileError(f"{path}: problem #{i + 1} is not a mapping")
        try:
            out.append(BenchProblem.model_validate({"source": str(path), **entry}))
        except ValidationError as e:
            what = entry.get("id", f"#{i + 1}")
            msgs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'entry'}: {err['msg']}" for err in e.errors())
            raise ProblemFileError(f"{path}: problem {what}: {msgs}") from None
    return out
