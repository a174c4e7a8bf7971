"""Job controller: run pods to the requested completions, retry failures up to backoffLimit."""

from __future__ import annotations

from cluster.sim.controllers.base import Controller, owned, pod_from_template, set_condition
from cluster.sim.store import clone


class JobController(Controller):
    name = "job"
    watches = ("jobs.batch", "pods")
    primary = "jobs.batch"
    owner_kind = "Job"

    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        job = c.store.get("jobs.batch", namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec = job["spec"]
        status = dict(job.get("status") or {})
        if _finished(status):
            return
        pods = owned(c, job, "pods")
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        succeeded = phases.count("Succeeded")
        failed = phases.count("Failed")
        if spec["template"]["spec"].get("restartPolicy") == "OnFailure":
            failed += sum(cs.get("restartCount", 0) for p in pods
                          for cs in (p.get("status") or {}).get("containerStatuses") or [])
        active = [p for p in pods if phases[pods.index(p)] not in ("Succeeded", "Failed")
                  and not p["metadata"].get("deletionTimestamp")]
        now = c.clock.rfc3339()
        completions = spec.get("completions", 1)
        conds = list(status.get("conditions") or [])
        if failed > spec.get("backoffLimit", 6):
            for p in active:
                c.api.system_delete("pods", namespace, p["metadata"]["name"])
            conds = set_condition(conds, "FailureTarget", "True", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit", now)
            conds = set_condition(conds, "Failed", "True", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit", now)
            c.record(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                     "job-controller")
            active = []
        elif completions is not None and succeeded >= completions:
            conds = set_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods", now)
            conds = set_condition(conds, "Complete", "True", "CompletionsReached",
                                  "Reached expected number of succeeded pods", now)
            status["completionTime"] = now
            c.record(job, "Normal", "Completed", "Job completed", "job-controller")
        elif not spec.get("suspend"):
            want = min(spec.get("parallelism", 1), (completions or 1) - succeeded) - len(active)
            for _ in range(max(want, 0)):
                pod = pod_from_template(job, spec["template"], f"{name}-{c.ids.suffix()}")
                c.api.system_create("pods", pod)
                c.record(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                         "job-controller")
            active = [p for p in owned(c, job, "pods") if (p.get("status") or {}).get("phase") not in (
                "Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]
        status.update({"active": len(active), "succeeded": succeeded, "failed": failed,
                       "ready": sum(1 for p in active if any(
                           x.get("type") == "Ready" and x.get("status") == "True"
                           for x in (p.get("status") or {}).get("conditions") or [])),
                       "terminating": 0, "uncountedTerminatedPods": {}})
        status.setdefault("startTime", now)
        if conds:
            status["conditions"] = conds
        status = {k: v for k, v in status.items() if v or k in ("ready", "terminating", "uncountedTerminatedPods")}
        if status != job.get("status"):
            new = clone(job)
            new["status"] = status
            c.api.system_update("jobs.batch", new)


def _finished(status: dict) -> bool:
    return any(x.get("type") in ("Complete", "Failed") and x.get("status") == "True"
               for x in status.get("conditions") or [])
