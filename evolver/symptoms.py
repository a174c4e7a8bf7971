"""The symptom vocabulary: what an abnormal record in a probe result looks like, as data.

Lessons are keyed by these (``evolver.lessons``) and evidence is checked against them (``evolver.evidence``). Each
symptom is a case-insensitive regular expression over one record of a tool result (a line plus the untrusted block
that follows it, ``observer.guidance.split_records``), with how specific it is: 3 names a cause-like fact (a
Service whose targetPort no container listens on), 2 a failure of a component (crash loops, refused connections),
1 a generic sign (a failing trace path, an error rate). Patterns describe what the probe prints, never a fault
injected by the benchmark: the surface scan of a healthy namespace shows no symptom above specificity 1
(tests/evolver checks the three applications without a fault; a latency blip may still count as a sign).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from observer.guidance import mentions, split_records


@dataclass(frozen=True)
class Symptom:
    id: str
    description: str
    pattern: str
    specificity: int

    @property
    def rx(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _CACHE:
        _CACHE[pattern] = re.compile(pattern, re.I)
    return _CACHE[pattern]


SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("target-port-mismatch", "a Service's targetPort matches no container port",
            r"targetPort \S+ matches no|matches no TCP container port", 3),
    Symptom("selector-matches-nothing", "a Service's selector matches no pods", r"selector matches no pods", 3),
    Symptom("scaled-to-zero", "a workload scaled to 0 replicas", r"scaled to 0 replicas", 3),
    Symptom("unschedulable", "pods cannot be scheduled (node affinity/selector)",
            r"didn't match Pod's node affinity|FailedScheduling|node\(s\) didn't match", 3),
    Symptom("unbound-claim", "pods wait for unbound PersistentVolumeClaims",
            r"unbound immediate PersistentVolumeClaims|\bReleased\b.*claim|claim.*\bPending\b", 3),
    Symptom("image-pull", "an image cannot be pulled", r"ImagePullBackOff|ErrImagePull", 3),
    Symptom("oom-killed", "containers killed for memory", r"OOMKilled", 3),
    Symptom("auth-denied", "a database refuses an operation (not authorized)",
            r"not authorized on|\bUnauthorized\b|permission denied", 3),
    Symptom("auth-failed", "a database rejects a user's login",
            r"Authentication failed|AuthenticationFailed|UserNotFound|could not find user|auth(?:entication)? error",
            3),
    Symptom("tls-required", "a server accepts only TLS connections",
            r"only allow SSL|SSLHandshakeFailed|requires? TLS", 3),
    Symptom("no-such-host", "a host name does not resolve", r"no such host|could not resolve|Name or service not known",
            3),
    Symptom("chaos-experiment", "a Chaos Mesh experiment is present",
            r"^\d+ (?:podchaos|networkchaos|stresschaos)\b|kind: (?:PodChaos|NetworkChaos|StressChaos)", 3),
    Symptom("crash-loop", "pods crash-looping (CrashLoopBackOff)", r"CrashLoopBackOff|crash-?looping", 2),
    Symptom("pending-pods", "pods stuck Pending", r"\bPending\b", 2),
    Symptom("no-ready-endpoints", "a Service has no ready endpoints", r"no ready endpoints", 2),
    Symptom("connection-refused", "connections refused", r"connection refused", 2),
    Symptom("unreachable", "a dependency is unreachable",
            r"no reachable servers|code = Unavailable|No suitable servers found", 2),
    Symptom("deadline-exceeded", "calls time out (deadline exceeded)",
            r"DeadlineExceeded|deadline exceeded|timed out", 2),
    Symptom("latency-lost", "latency lost between caller and callee", r"\d(?:\.\d+)?m?s \(callee [\d.]+m?s\)", 2),
    Symptom("latency-spike", "a service's p95 latency jumped",
            r"p95 latency: (?:spike to|up to|last \S+ is [\d.]+σ above)", 1),
    Symptom("cpu-jump", "a container's CPU use jumped", r"cpu (?:up to|last \S+ is [\d.]+σ above)", 1),
    Symptom("failed-start", "containers exit with an error", r"last exit [1-9]\d* \(", 1),
    Symptom("error-rate", "a service's requests fail", r"[1-9]\d*% of requests fail", 1),
    Symptom("trace-errors", "failing trace paths", r"✗", 1),
)
BY_ID: dict[str, Symptom] = {s.id: s for s in SYMPTOMS}


def symptoms_in(record: str) -> list[Symptom]:
    return [s for s in SYMPTOMS if s.rx.search(record)]


def symptoms_of(text: str, subject: str | None = None) -> list[Symptom]:
    """The symptoms in a result, or only in its records that name ``subject``, most specific first."""
    found: dict[str, Symptom] = {}
    for rec in split_records(text):
        if subject is not None and not mentions(rec, subject):
            continue
        for s in symptoms_in(rec):
            found.setdefault(s.id, s)
    return sorted(found.values(), key=lambda s: (-s.specificity, SYMPTOMS.index(s)))
