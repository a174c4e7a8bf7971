"""Guidance: lessons from replay-verified corrections (``aoi evolve lessons``), used by every policy via ``--guidance``.

A guidance file is YAML a person can read, edit and review::

    version: 1
    lessons:
      - id: crash-loop.logs
        when:                                   # every trigger must have matched a tool result seen so far
          - symptom: pods crash-looping
            pattern: CrashLoopBackOff|crash-?loop
        advice: "A workload's pods crash-loop: read that workload's logs ..."
        actions:                                # reads to make next; {subject} is the component the symptom named
          - {tool: logs, arguments: {namespace: "{namespace}", workload: "deployment/{subject}", tail: 40}}
        tasks: [localization, analysis]         # empty: every task type
        repair: []                              # plan action types that fixed it (mitigation lessons)
        repair_steps: null                      # steps the verified repairs took from the plan to the end
        support: [<correction episode ids>]
        helped: 2                               # failed episodes whose verified correction took this step

Lessons are keyed only by what the probe shows (symptom patterns over tool results), never by a problem id or a
fault name: nothing here knows which fault a cluster has. Retrieval is per episode: a :class:`GuidanceTracker`
reads each tool result the policy receives, splits it into records (a line with the untrusted block that follows
it), and remembers which records each trigger matched. A lesson applies once all its triggers matched; its subject
is a component named in the records of its first trigger. Chat policies get the matched lessons' advice in the
step message within a token budget; the rule-based baseline turns their actions into the next reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from observer.policy import OBSERVER, TaskSpec, TaskType, ToolCall, ToolResult

GUIDANCE_VERSION = 1
MAX_HITS = 24  # records kept per trigger (the first ones: the earliest evidence)
REF = re.compile(r"\b(?:deployment|statefulset|daemonset|replicaset|svc|service|pod)/"
                 r"([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)")
POD_SUFFIX = re.compile(r"^(?P<base>.+?)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
FENCE_OPEN = re.compile(r"^\s*<<untrusted[^>]*>>\s*$")
FENCE_CLOSE = "<<end untrusted>>"


class GuidanceError(ValueError):
    """A guidance file that cannot be used; the message says which file, which lesson and what to fix."""


class Trigger(BaseModel):
    """One symptom: a regular expression over tool results (case-insensitive), optionally only some tools'."""

    model_config = ConfigDict(extra="forbid")

    symptom: str = Field(description="What the pattern means, in words.")
    pattern: str
    tools: list[str] = Field(default_factory=list, description="Only results of these tools (empty: any).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v, re.I)
        except re.error as e:
            raise ValueError(f"pattern {v!r} is not a regular expression: {e}") from None
        return v


class SuggestedAction(BaseModel):
    """A read to make next. ``{subject}`` and ``{namespace}`` in string arguments are filled in when it applies."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    server: str = "probe"
    arguments: dict[str, Any] = Field(default_factory=dict)

    @property
    def needs_subject(self) -> bool:
        return "{subject}" in json.dumps(self.arguments)

    def render(self, subject: str | None, namespace: str | None) -> ToolCall | None:
        """The concrete call, or None when it needs a subject (or namespace) that is not known."""
        if self.needs_subject and not subject:
            return None

        def fill(v: Any) -> Any:
            if isinstance(v, str):
                if "{namespace}" in v and not namespace:
                    raise KeyError("namespace")
                return v.replace("{subject}", subject or "").replace("{namespace}", namespace or "")
            if isinstance(v, dict):
                return {k: fill(x) for k, x in v.items()}
            if isinstance(v, list):
                return [fill(x) for x in v]
            return v

        try:
            return ToolCall(server=self.server, tool=self.tool, arguments=fill(self.arguments))
        except KeyError:
            return None


class Lesson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=120)
    when: list[Trigger] = Field(min_length=1)
    advice: str = Field(min_length=1, max_length=1200)
    actions: list[SuggestedAction] = Field(default_factory=list)
    tasks: list[TaskType] = Field(default_factory=list)
    repair: list[str] = Field(default_factory=list)
    repair_steps: int | None = Field(default=None, ge=1, le=50)
    answers: dict[str, int] = Field(default_factory=dict, description="Answers the supporting corrections gave.")
    support: list[str] = Field(default_factory=list)
    helped: int = Field(default=0, ge=0)

    def applies_to(self, task: str) -> bool:
        return not self.tasks or task in self.tasks

    @property
    def score(self) -> float:
        return self.helped + 0.1 * len(self.support)


class Guidance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = GUIDANCE_VERSION
    source: dict[str, Any] = Field(default_factory=dict, description="How the file was made (free form).")
    lessons: list[Lesson] = Field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> Guidance:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as e:
            raise GuidanceError(f"cannot read guidance file {path}: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise GuidanceError(f"{path} is not valid YAML: {e}") from None
        if data is None:
            data = {}
        if isinstance(data, list):
            data = {"lessons": data}
        if not isinstance(data, dict):
            raise GuidanceError(f"{path}: expected a mapping with a `lessons:` list (see `aoi evolve lessons`)")
        try:
            g = cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err.get("loc") or ())
            raise GuidanceError(f"{path}: {loc}: {err.get('msg')} ({len(e.errors())} problem(s) in all)") from None
        if g.version > GUIDANCE_VERSION:
            raise GuidanceError(f"{path} is guidance version {g.version}; this AOI reads up to {GUIDANCE_VERSION}")
        ids = [lesson.id for lesson in g.lessons]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise GuidanceError(f"{path}: lesson ids must be unique; repeated: {', '.join(dup)}")
        return g

    def dump(self, path: str | Path, header: str = "") -> None:
        """Write the file (empty fields left out, so it reads like the example above)."""
        text = yaml.safe_dump(_compact(self.model_dump(mode="json")), sort_keys=False, allow_unicode=True,
                              width=110)
        Path(path).write_text((header.rstrip() + "\n" if header else "") + text)

    def repair_reserve(self, task: str) -> int | None:
        """How many steps the verified repairs took from the plan to the end (the most any lesson records)."""
        steps = [lesson.repair_steps for lesson in self.lessons if lesson.repair_steps and lesson.applies_to(task)]
        return max(steps) if steps else None


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def load_guidance(guidance: str | Path | Guidance | None) -> Guidance | None:
    if guidance is None or isinstance(guidance, Guidance):
        return guidance
    return Guidance.load(guidance)


# ---------------------------------------------------------------------------------------------------- records
def split_records(text: str) -> list[str]:
    """A result as records: each line, with the untrusted block (log lines, span messages) that follows it."""
    out: list[str] = []
    inside = False
    for line in (text or "").splitlines():
        if inside:
            if out:
                out[-1] += "\n" + line
            if line.strip() == FENCE_CLOSE:
                inside = False
            continue
        if FENCE_OPEN.match(line):
            inside = True
            if out:
                out[-1] += "\n" + line
            else:
                out.append(line)
            continue
        if line.strip():
            out.append(line)
    return out


def mentions(record: str, name: str) -> bool:
    """Whether the record names ``name`` as a whole word (``geo`` is not in ``mongodb-geo`` or ``geo-db``)."""
    return bool(name) and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", record) is not None


def named_objects(record: str) -> list[str]:
    """Object names a record spells out as ``kind/name`` (pods reduced to their workload's name), in order."""
    out = []
    for m in REF.finditer(record):
        name = m.group(1)
        pm = POD_SUFFIX.match(name)
        out.append(pm.group("base") if pm else name)
    return list(dict.fromkeys(out))


@dataclass
class Match:
    lesson: Lesson
    records: list[str]  # the records the first trigger matched

    def subjects(self, known: Iterable[str] | None = None) -> list[str]:
        """Components the matched records name: the ``known`` names they mention (in order of appearance), else
        the names they spell out as kind/name."""
        found: dict[str, int] = {}
        names = sorted(set(known or ()), key=len, reverse=True)
        for i, rec in enumerate(self.records):
            for name in names:
                if name not in found and mentions(rec, name):
                    found[name] = i * 10_000 + rec.find(name)
            if not names:
                for j, name in enumerate(named_objects(rec)):
                    found.setdefault(name, i * 10_000 + j)
        return sorted(found, key=lambda n: found[n])


@dataclass
class GuidanceTracker:
    """One episode's view of the guidance: the symptoms seen so far and the lessons they make applicable."""

    guidance: Guidance
    task: TaskSpec
    hits: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    suggested: set[str] = field(default_factory=set)
    results: int = 0

    def __post_init__(self) -> None:
        self._compiled = [[re.compile(t.pattern, re.I) for t in lesson.when] for lesson in self.guidance.lessons]

    def observe(self, result: ToolResult | None) -> None:
        """Read one tool result (the loop's own plan/wait/submit answers are not cluster evidence)."""
        if result is None or result.server == OBSERVER or not result.text:
            return
        self.results += 1
        recs = split_records(result.text)
        for li, lesson in enumerate(self.guidance.lessons):
            if not lesson.applies_to(self.task.task):
                continue
            for ti, (trigger, rx) in enumerate(zip(lesson.when, self._compiled[li], strict=True)):
                if trigger.tools and result.tool not in trigger.tools:
                    continue
                got = self.hits.setdefault((li, ti), [])
                for rec in recs:
                    if len(got) >= MAX_HITS:
                        break
                    if rx.search(rec):
                        got.append(rec)

    def matches(self) -> list[Match]:
        """The applicable lessons, best supported first."""
        out = []
        for li, lesson in enumerate(self.guidance.lessons):
            if lesson.applies_to(self.task.task) and all(self.hits.get((li, ti)) for ti in range(len(lesson.when))):
                out.append(Match(lesson, list(self.hits[(li, 0)])))
        out.sort(key=lambda m: (-m.lesson.score, m.lesson.id))
        return out

    def suggestions(self, known: Iterable[str] | None = None, rank: Callable[[str], float] | None = None,
                    per_lesson: int = 2) -> list[tuple[Lesson, ToolCall, str | None]]:
        """New reads the applicable lessons suggest (each at most once per episode): (lesson, call, subject).
        ``known``: component names the policy knows; ``rank``: which subjects to prefer (higher first)."""
        known = list(known or ())
        out: list[tuple[Lesson, ToolCall, str | None]] = []
        for m in self.matches():
            subjects = m.subjects(known)
            if rank is not None:
                subjects = sorted(subjects, key=lambda s: -rank(s))
            for action in m.lesson.actions:
                if action.server == OBSERVER:
                    continue
                for subject in (subjects[:per_lesson] if action.needs_subject else [None]):
                    call = action.render(subject, self.task.namespace)
                    if call is None or call.key() in self.suggested:
                        continue
                    self.suggested.add(call.key())
                    out.append((m.lesson, call, subject))
        return out

    def render(self, budget_tokens: int, count: Callable[[str], int] | None = None) -> str:
        """The applicable lessons as text for a model's context, best first, within ``budget_tokens``."""
        count = count or (lambda s: (len(s) + 2) // 3)
        lines: list[str] = []
        head = "Guidance from verified past repairs (it matches symptoms you have seen; check before relying on it):"
        used = count(head)
        for m in self.matches():
            subjects = m.subjects()
            line = f"- {m.lesson.advice}" + (f" (seen on: {', '.join(subjects[:3])})" if subjects else "")
            if self.task.task == "analysis" and m.lesson.answers:
                best = max(m.lesson.answers.items(), key=lambda kv: kv[1])[0]
                line += f" Corrections with this symptom answered: {best}."
            n = count(line)
            if used + n > budget_tokens:
                break
            lines.append(line)
            used += n
        return "\n".join([head, *lines]) if lines else ""
