"""Distil guidance from verified corrections: short lessons keyed by what the probe shows.

For each verified correction of a fault family the split lets us learn from (``FamilySplit.may_learn_from``):

- every point read the correction made and its failed parent did not (a read of one component or kind, not the
  surface scan), whose result showed a symptom, becomes a lesson: *when* the most specific symptom that the
  results before it showed on that component (or anywhere, for a read of a whole kind), *do* that read, with the
  component's name replaced by ``{subject}`` and the namespace by ``{namespace}``;
- an executed repair becomes a mitigation lesson: the symptom on its target, the action types that fixed it, and
  how many steps the repair took from the plan to the answer.

Lessons with the same symptom and the same read are merged: their supporting corrections are listed and
``helped`` counts the distinct failed episodes they corrected. Nothing of the problem reaches a lesson: symptoms
come from the vocabulary (``evolver.symptoms``), advice from templates, arguments from the calls with names
replaced; :func:`leaks` checks the written text for problem ids and fault-family names, and ``aoi evolve lessons``
refuses to write a file that has any.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.problems import ProblemSet
from bench.split import FamilySplit
from evolver.evidence import executed, plan_targets
from evolver.symptoms import BY_ID, Symptom, symptoms_of
from evolver.view import SURFACE_TOOLS, Call, calls, final_call, submission
from observer.guidance import Guidance, Lesson, SuggestedAction, Trigger
from transcripts import TranscriptStore
from transcripts.models import Episode

NAME_ARGS = {"describe": "name", "get_resource": "name", "events": "object_name", "logs": "workload",
             "traces": "service"}
KEEP_ARGS = {"describe": ("kind",), "get_resource": ("kind",), "events": ("object_kind", "type", "reason"),
             "logs": ("errors_only", "tail", "previous"), "traces": ("errors_only",), "list_resources": ("kind",),
             "show_policy": ()}
REPAIRS = {
    "scale": "scale it back to its earlier replica count",
    "patch_service": "point the Service's targetPort at the container's port",
    "rollout_undo": "roll it back to its previous revision",
    "rollout_restart": "restart what still crash-loops",
    "exec": "run the database's own repair script through the executor's exec allowlist",
    "patch_container": "restore the container's command",
    "patch_scheduling": "drop the nodeSelector no node satisfies",
    "delete_chaos": "delete the Chaos Mesh experiment",
    "merge_patch": "patch the object (for a Released volume: clear its claimRef)",
    "set_image": "set the image back",
}


def subject_of(c: Call) -> str | None:
    key = NAME_ARGS.get(c.tool)
    value = c.arguments.get(key) if key else None
    if not isinstance(value, str) or not value:
        return None
    return value.split("/", 1)[1] if c.tool == "logs" and "/" in value else value


def template(c: Call, subject: str | None, namespace: str | None) -> dict[str, Any] | None:
    """The call's arguments with the subject and namespace as placeholders; None when the call cannot be made
    general (a pod-specific read, a query, a read with names that are not its subject)."""
    if c.tool not in KEEP_ARGS or (c.tool == "logs" and "pod" in c.arguments):
        return None
    out: dict[str, Any] = {}
    if "namespace" in c.arguments:
        out["namespace"] = "{namespace}" if c.arguments["namespace"] == namespace else None
        if out["namespace"] is None:
            return None
    name_key = NAME_ARGS.get(c.tool)
    if name_key and name_key in c.arguments:
        if not subject:
            return None
        value = str(c.arguments[name_key])
        out[name_key] = value.replace(subject, "{subject}") if "/" in value else "{subject}"
    for k in KEEP_ARGS[c.tool]:
        if k in c.arguments:
            out[k] = c.arguments[k]
    return out


def _phrase(tool: str, args: dict[str, Any], subject: bool) -> str:
    it = "that component" if subject else ""
    if tool == "logs":
        return f"read the {'errors in ' if args.get('errors_only') else ''}logs of {it or 'the workload'}"
    if tool == "describe":
        return f"describe {it} ({args.get('kind', 'object')}: spec, replica sets, pods, events)"
    if tool == "get_resource":
        return f"read the {args.get('kind', 'object')} object"
    if tool == "events":
        return f"read the events of {it or 'the namespace'}"
    if tool == "list_resources":
        return f"list the {args.get('kind', 'objects')}"
    if tool == "traces":
        return f"read the traces of {it}"
    if tool == "show_policy":
        return "read the executor's policy (which repairs, and which exec commands, it allows)"
    return f"call {tool}"


def _trigger(sym: Symptom) -> Trigger:
    return Trigger(symptom=sym.description, pattern=sym.pattern)


@dataclass
class Draft:
    trigger: Symptom
    tool: str
    arguments: dict[str, Any]
    subject: bool
    repair: tuple[str, ...] = ()
    repair_steps: int = 0
    tasks: set[str] = field(default_factory=set)
    support: set[str] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)
    revealed: Counter[str] = field(default_factory=Counter)
    answers: dict[str, str] = field(default_factory=dict)  # correction id -> its analysis answer

    def lesson(self, lesson_id: str) -> Lesson:
        trig = f"the probe shows {self.trigger.description}" + (" on a component" if self.subject else "")
        if self.repair:
            what = "; ".join(REPAIRS.get(t, t) for t in self.repair)
            advice = (f"When {trig}: the repair that verified was to {what}, then wait and check through the probe "
                      f"(about {self.repair_steps} steps from the plan to the answer).")
            actions: list[SuggestedAction] = []
        else:
            shown = [BY_ID[s].description for s, _ in self.revealed.most_common(2)]
            advice = (f"When {trig}: {_phrase(self.tool, self.arguments, self.subject)}." +
                      (f" In verified corrections it showed {' and '.join(shown)}." if shown else ""))
            server = "executor" if self.tool == "show_policy" else "probe"
            actions = [SuggestedAction(tool=self.tool, server=server, arguments=self.arguments)]
        return Lesson(id=lesson_id, when=[_trigger(self.trigger)], advice=advice, actions=actions,
                      tasks=sorted(self.tasks) if self.repair else [], repair=list(self.repair),
                      repair_steps=self.repair_steps or None, answers=dict(Counter(self.answers.values())),
                      support=sorted(self.support), helped=len(self.parents))


def _most_specific(texts: list[str], subject: str | None) -> Symptom | None:
    best: Symptom | None = None
    for t in texts:
        for s in symptoms_of(t, subject):
            if best is None or s.specificity > best.specificity:
                best = s
    return best


def _answer(ep: Episode) -> str | None:
    a = submission(ep)
    if ep.task == "analysis" and isinstance(a, dict):
        return f"{a.get('system_level')} / {a.get('fault_type')}"
    return None


def drafts_of(correction: Episode, parent: Episode | None) -> list[Draft]:
    """The lessons one correction supports (before merging)."""
    cs = calls(correction)
    last = final_call(cs)
    if last is None:
        return []
    done_before = {c.key() for c in calls(parent)} if parent is not None else set()
    ns = correction.namespace
    out: list[Draft] = []
    answer = _answer(correction)
    for c in cs:
        if c.n >= last.n:
            break
        earlier = [x.result for x in cs if x.n < c.n and x.is_read and not x.is_error]
        if executed(c):
            names = plan_targets(c)
            trig = _most_specific(earlier, names[0] if names else None) or _most_specific(earlier, None)
            if trig is None:
                continue
            types = tuple(sorted({str(a.get("type")) for a in c.arguments.get("actions") or [] if isinstance(a, dict)}))
            out.append(Draft(trig, "plan", {}, bool(names), repair=types, repair_steps=last.n - c.n + 1))
            continue
        if not c.is_read or c.is_error or c.key() in done_before:
            continue
        subject = subject_of(c)
        if c.tool in SURFACE_TOOLS and not subject:
            continue
        revealed = symptoms_of(c.result)
        if not revealed:
            continue  # a read that showed nothing abnormal taught nothing
        trig = _most_specific(earlier, subject) if subject else _most_specific(earlier, None)
        args = template(c, subject, ns)
        if trig is None or args is None:
            continue
        d = Draft(trig, c.tool, args, subject is not None)
        d.revealed.update(s.id for s in revealed if s.id != trig.id)
        out.append(d)
    for d in out:
        d.tasks.add(str(correction.task))
        d.support.add(correction.id)
        d.parents.add(str((correction.meta.get("evolver") or {}).get("parent") or correction.id))
        if answer and d.tool != "plan":
            d.answers[correction.id] = answer
    return out


@dataclass
class Distilled:
    guidance: Guidance
    corrections: int = 0
    used: int = 0
    excluded: Counter[str] = field(default_factory=Counter)


def distil(store: TranscriptStore, split: FamilySplit, problems: ProblemSet | None = None,
           min_helped: int = 1) -> Distilled:
    problems = problems or ProblemSet.builtin()
    merged: dict[tuple[str, str, str, tuple[str, ...]], Draft] = {}
    result = Distilled(Guidance())
    for s in store.episodes(source="evolver", limit=None):
        result.corrections += 1
        if not s.problem_id or s.problem_id not in problems:
            result.excluded["unknown problem"] += 1
            continue
        family = problems.get(s.problem_id).family
        if not split.may_learn_from(family):
            result.excluded["held-out family" if split.is_held_out(family) else "family not in the split"] += 1
            continue
        ep = store.episode(s.id)
        lineage = ep.meta.get("evolver") or {}
        if s.success is not True or not (lineage.get("evidence") or {}).get("ok"):
            result.excluded["not verified"] += 1
            continue
        parent = None
        with contextlib.suppress(KeyError):
            parent = store.episode(str(lineage.get("parent")))
        result.used += 1
        for d in drafts_of(ep, parent):
            key = (d.trigger.id, d.tool, json.dumps(d.arguments, sort_keys=True), d.repair)
            m = merged.setdefault(key, Draft(d.trigger, d.tool, d.arguments, d.subject, d.repair, d.repair_steps))
            m.repair_steps = max(m.repair_steps, d.repair_steps)
            m.tasks |= d.tasks
            m.support |= d.support
            m.parents |= d.parents
            m.revealed.update(d.revealed)
            m.answers.update(d.answers)
    lessons: list[Lesson] = []
    ids: Counter[str] = Counter()
    for d in sorted(merged.values(), key=lambda d: (-len(d.parents), -d.trigger.specificity, d.trigger.id, d.tool)):
        if len(d.parents) < min_helped:
            continue
        base = f"{d.trigger.id}.{'repair' if d.repair else d.tool}"
        ids[base] += 1
        lessons.append(d.lesson(base if ids[base] == 1 else f"{base}-{ids[base]}"))
    result.guidance = Guidance(lessons=lessons, source={
        "made_by": "aoi evolve lessons", "split": split.name, "corrections_used": result.used,
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return result


def leaks(text: str, problems: ProblemSet | None = None, split: FamilySplit | None = None) -> list[str]:
    """Problem ids and fault-family names that appear in ``text`` (guidance must have none)."""
    problems = problems or ProblemSet.builtin()
    families = {p.family for p in problems} | set(split.evolving + split.held_out if split else ())
    found = [f"problem id {p.id}" for p in problems if p.id in text]
    found += [f"fault family {f}" for f in sorted(families) if f in text]
    return found
