"""The kubelets of every node: pull images, start containers, crash and back off, probe, stop.

State transitions are computed at simulated instants and each one schedules the next, so a pod reaches
CrashLoopBackOff after the same number of restarts and seconds as on a real node (back-off 10s doubling
to 5m; the first restart is immediate), and the same events are recorded, with the kubelet's messages.
"""

from __future__ import annotations

from cluster.sim.controllers.base import Controller, condition
from cluster.sim.runtime.behavior import Behavior, ContainerContext
from cluster.sim.runtime.containers import ContainerState, PodRuntime, Run
from cluster.sim.runtime.images import image_id, normalize
from cluster.sim.store import WatchEvent, clone

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
SANDBOX_SECONDS = 0.3  # pod sandbox and network set-up before the first image pull


def backoff(n: int) -> float:
    return min(BACKOFF_START * 2 ** max(n - 1, 0), BACKOFF_MAX)


def _exit_reason(code: int) -> str:
    return "Completed" if code == 0 else "Error"


class KubeletController(Controller):
    name = "kubelet"
    watches = ("pods",)

    def keys_for(self, event: WatchEvent):
        pod = event.obj
        if event.type == "DELETED":
            self.c.runtime.forget(pod["metadata"]["uid"])
            return ()
        if pod["spec"].get("nodeName"):
            return (self.key(pod["metadata"]["namespace"], pod["metadata"]["name"]),)
        return ()

    # ------------------------------------------------------------------------------------------ reconcile
    def reconcile(self, namespace: str, name: str) -> None:
        c = self.c
        pod = c.store.get("pods", namespace, name)
        if pod is None or not pod["spec"].get("nodeName"):
            return
        rt = c.runtime.pods.get(pod["metadata"]["uid"])
        if rt is None:
            rt = self._admit(pod)
            if rt is None:
                return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not pod["metadata"].get(
                "deletionTimestamp"):
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod, rt)
            return
        now = c.clock.now
        if now < rt.started + SANDBOX_SECONDS:
            c.after(rt.started + SANDBOX_SECONDS - now, self.key(namespace, name))
            self._write_status(pod, rt)
            return
        wake: list[float] = []
        inits = [rt.containers[x["name"]] for x in pod["spec"].get("initContainers") or []]
        init_done = True
        for cs in inits:
            self._step(pod, rt, cs, wake)
            run = cs.current
            if not (cs.phase == "exited" and run and run.exit_code == 0):
                init_done = False
                break
        if init_done:
            for x in pod["spec"]["containers"]:
                self._step(pod, rt, rt.containers[x["name"]], wake)
        future = [w for w in wake if w > now]
        if future:
            c.after(min(future) - now, self.key(namespace, name))
        self._write_status(pod, rt)

    def _admit(self, pod: dict) -> PodRuntime | None:
        c = self.c
        node = c.store.get("nodes", "", pod["spec"]["nodeName"])
        if node is None:
            return None
        host_network = pod["spec"].get("hostNetwork")
        ip = _node_ip(node) if host_network else c.pod_ip_pool(node).allocate()
        rt = PodRuntime(uid=pod["metadata"]["uid"], namespace=pod["metadata"]["namespace"],
                        name=pod["metadata"]["name"], node=node["metadata"]["name"], ip=ip, started=c.clock.now)
        for x in pod["spec"].get("initContainers") or []:
            rt.containers[x["name"]] = ContainerState(name=x["name"], image=x.get("image", ""), init=True)
        for x in pod["spec"]["containers"]:
            rt.containers[x["name"]] = ContainerState(name=x["name"], image=x.get("image", ""))
        c.runtime.pods[rt.uid] = rt
        return rt

    # ------------------------------------------------------------------------------------------ containers
    def _spec(self, pod: dict, cs: ContainerState) -> dict:
        key = "initContainers" if cs.init else "containers"
        return next(x for x in pod["spec"].get(key) or [] if x["name"] == cs.name)

    def _event(self, pod: dict, rt: PodRuntime, cs: ContainerState, type_: str, reason: str, message: str) -> None:
        kind = "initContainers" if cs.init else "containers"
        self.c.record(pod, type_, reason, message, "kubelet", host=rt.node,
                      field_path=f"spec.{kind}{{{cs.name}}}")

    def _step(self, pod: dict, rt: PodRuntime, cs: ContainerState, wake: list[float]) -> None:
        c = self.c
        now = c.clock.now
        spec = self._spec(pod, cs)
        image = spec.get("image", "")
        if image != cs.image and cs.phase in ("running", "exited", "backoff", "pull_backoff", "new", "pulling"):
            # The image changed (kubectl set image on a pod): the kubelet kills and restarts the container.
            if cs.phase == "running":
                self._event(pod, rt, cs, "Normal", "Killing",
                            f"Container {cs.name} definition changed, will be restarted")
                self._finish(cs, now, 137, "Error")
            cs.image = image
            cs.phase = "new"
        for _ in range(64):  # a bounded number of transitions per instant
            before = (cs.phase, cs.due)
            self._transition(pod, rt, cs, spec, now)
            if (cs.phase, cs.due) == before:
                break
        if cs.phase in ("pulling", "pull_backoff", "creating", "backoff") or (
                cs.phase == "running" and cs.due > now):
            wake.append(cs.due)
        if cs.phase == "pull_backoff" and cs.waiting_reason == "ErrImagePull" and cs.next_probe:
            wake.append(cs.next_probe)
        if cs.phase == "running":
            self._probe(pod, rt, cs, spec, now, wake)

    def _transition(self, pod: dict, rt: PodRuntime, cs: ContainerState, spec: dict, now: float) -> None:
        c = self.c
        image = spec.get("image", "")
        if cs.phase == "new":
            behavior = self._behavior(pod, cs, spec)
            policy = spec.get("imagePullPolicy", "IfNotPresent")
            present = normalize(image) in c.runtime.node_images.get(rt.node, set())
            if present and policy != "Always" and not behavior.pull_error:
                self._event(pod, rt, cs, "Normal", "Pulled", f'Container image "{image}" already present on machine')
                cs.phase, cs.due = "creating", now
            else:
                self._event(pod, rt, cs, "Normal", "Pulling", f'Pulling image "{image}"')
                cs.phase, cs.due = "pulling", now + behavior.pull_seconds * (0.2 if present else 1.0)
                cs.waiting_reason, cs.waiting_message = "ContainerCreating", ""
        elif cs.phase == "pulling" and now >= cs.due:
            behavior = self._behavior(pod, cs, spec)
            if behavior.pull_error:
                cs.pull_failures += 1
                self._event(pod, rt, cs, "Warning", "Failed", f'Failed to pull image "{image}": {behavior.pull_error}')
                self._event(pod, rt, cs, "Warning", "Failed", "Error: ErrImagePull")
                cs.phase, cs.due = "pull_backoff", now + backoff(cs.pull_failures)
                cs.waiting_reason = "ErrImagePull"
                cs.waiting_message = f'failed to pull and unpack image "{image}": {behavior.pull_error}'
                cs.next_probe = now + 1.0  # when ErrImagePull turns into ImagePullBackOff
            else:
                secs = behavior.pull_seconds
                self._event(pod, rt, cs, "Normal", "Pulled",
                            f'Successfully pulled image "{image}" in {secs:.3f}s ({secs:.3f}s including waiting). '
                            f"Image size: {behavior.image_size} bytes.")
                c.runtime.node_images.setdefault(rt.node, set()).add(normalize(image))
                cs.phase, cs.due = "creating", now
        elif cs.phase == "pull_backoff":
            if cs.waiting_reason == "ErrImagePull" and cs.next_probe is not None and now >= cs.next_probe:
                cs.waiting_reason = "ImagePullBackOff"
                cs.waiting_message = f'Back-off pulling image "{image}"'
                self._event(pod, rt, cs, "Normal", "BackOff", f'Back-off pulling image "{image}"')
                self._event(pod, rt, cs, "Warning", "Failed", "Error: ImagePullBackOff")
            if now >= cs.due:
                self._event(pod, rt, cs, "Normal", "Pulling", f'Pulling image "{image}"')
                cs.phase, cs.due = "pulling", now + self._behavior(pod, cs, spec).pull_seconds
        elif cs.phase == "creating" and now >= cs.due:
            behavior = self._behavior(pod, cs, spec)
            run = Run(started=now, behavior=behavior)
            cs.runs.append(run)
            cs.ready, cs.probe_failures = False, 0
            if behavior.start_error:
                self._event(pod, rt, cs, "Warning", "Failed", f"Error: {behavior.start_error}")
                self._finish(cs, now, 128, "StartError", behavior.start_error)
                self._exited(pod, rt, cs, now)
                return
            self._event(pod, rt, cs, "Normal", "Created", f"Created container {cs.name}")
            self._event(pod, rt, cs, "Normal", "Started", f"Started container {cs.name}")
            cs.phase = "running"
            cs.due = now + behavior.run_seconds if behavior.run_seconds is not None else now
            probe = spec.get("readinessProbe")
            delay = (probe or {}).get("initialDelaySeconds", 0) if probe else 0
            cs.ready_at = now + delay if behavior.ready else None
            cs.next_probe = now + delay + (probe or {}).get("periodSeconds", 10) if probe else None
            live = spec.get("livenessProbe")
            if live and not behavior.live:
                period = live.get("periodSeconds", 10)
                fail_at = now + live.get("initialDelaySeconds", 0) + period * live.get("failureThreshold", 3)
                run_end = now + behavior.run_seconds if behavior.run_seconds is not None else None
                if run_end is None or fail_at < run_end:
                    cs.due = fail_at
                    run.reason = "__liveness__"
        elif cs.phase == "running":
            run = cs.current
            behavior = run.behavior if run and run.behavior else Behavior()
            if run and run.reason == "__liveness__" and now >= cs.due:
                live = spec.get("livenessProbe") or {}
                for _ in range(live.get("failureThreshold", 3)):
                    self._event(pod, rt, cs, "Warning", "Unhealthy", f"Liveness probe failed: {behavior.live_failure}")
                self._event(pod, rt, cs, "Normal", "Killing",
                            f"Container {cs.name} failed liveness probe, will be restarted")
                run.reason = None
                self._finish(cs, now, 137, "Error")
                self._exited(pod, rt, cs, now)
            elif behavior.run_seconds is not None and now >= run.started + behavior.run_seconds:
                code = behavior.exit_code
                self._finish(cs, run.started + behavior.run_seconds, code, behavior.reason or _exit_reason(code),
                             behavior.message)
                self._exited(pod, rt, cs, now)
        elif cs.phase == "backoff" and now >= cs.due:
            cs.phase, cs.due = "creating", now

    def _finish(self, cs: ContainerState, at: float, code: int, reason: str, message: str = "") -> None:
        run = cs.current
        if run is None or run.finished is not None:
            return
        run.finished, run.exit_code, run.reason, run.message = at, code, reason, message
        cs.ready = False
        cs.phase = "exited"

    def _exited(self, pod: dict, rt: PodRuntime, cs: ContainerState, now: float) -> None:
        """Restart per the pod's restartPolicy, with the kubelet's crash back-off."""
        run = cs.current
        policy = pod["spec"].get("restartPolicy", "Always")
        code = run.exit_code if run else 0
        if cs.init and code == 0:
            return
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            return
        if run and run.started is not None and (run.finished or now) - run.started > 600:
            cs.crash_backoffs = 0  # a container that ran 10 minutes starts its back-off afresh
        cs.crash_backoffs += 1
        if cs.crash_backoffs == 1:
            cs.phase, cs.due = "creating", now
            return
        delay = backoff(cs.crash_backoffs - 1)
        cs.phase, cs.due = "backoff", now + delay
        cs.waiting_reason = "CrashLoopBackOff"
        cs.waiting_message = (f"back-off {int(delay)}s restarting failed container={cs.name} "
                              f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})")
        self._event(pod, rt, cs, "Warning", "BackOff",
                    f"Back-off restarting failed container {cs.name} in pod "
                    f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})")

    def _probe(self, pod: dict, rt: PodRuntime, cs: ContainerState, spec: dict, now: float,
               wake: list[float]) -> None:
        run = cs.current
        behavior = run.behavior if run and run.behavior else Behavior()
        if cs.ready_at is not None and now >= cs.ready_at:
            cs.ready = True
        elif cs.ready_at is not None:
            wake.append(cs.ready_at)
        probe = spec.get("readinessProbe")
        if probe and not behavior.ready and cs.next_probe is not None:
            period = probe.get("periodSeconds", 10)
            if now >= cs.next_probe:
                cs.probe_failures += 1
                self._event(pod, rt, cs, "Warning", "Unhealthy", f"Readiness probe failed: {behavior.ready_failure}")
                while cs.next_probe <= now:
                    cs.next_probe += period
            wake.append(cs.next_probe)

    def _behavior(self, pod: dict, cs: ContainerState, spec: dict) -> Behavior:
        ctx = ContainerContext(pod=pod, container=spec, restart_count=cs.restart_count, init=cs.init)
        return self.c.behaviors.resolve(self.c, ctx)

    def kill_container(self, pod: dict, name: str, exit_code: int = 137, reason: str = "Error") -> bool:
        """The container's process dies now (a runtime kill, e.g. Chaos Mesh's container-kill): end the current
        run and apply the restart policy. False when the container is not running."""
        rt = self.c.runtime.pods.get(pod["metadata"]["uid"])
        cs = rt.containers.get(name) if rt else None
        if rt is None or cs is None or cs.phase != "running":
            return False
        now = self.c.clock.now
        self._finish(cs, now, exit_code, reason)
        self._exited(pod, rt, cs, now)
        self.c.enqueue(self.key(rt.namespace, rt.name))
        return True

    # ------------------------------------------------------------------------------------------ stopping
    def _terminate(self, pod: dict, rt: PodRuntime) -> None:
        c = self.c
        now = c.clock.now
        if rt.killing_since is None:
            rt.killing_since = now
            grace = pod["metadata"].get("deletionGracePeriodSeconds", 30)
            stop = 0.0
            for cs in rt.containers.values():
                if cs.phase == "running":
                    self._event(pod, rt, cs, "Normal", "Killing", f"Stopping container {cs.name}")
                    b = cs.current.behavior if cs.current and cs.current.behavior else Behavior()
                    stop = max(stop, b.stop_seconds)
            rt.kill_done = now + min(stop, grace)
        if now < (rt.kill_done or now):
            c.after((rt.kill_done or now) - now, self.key(rt.namespace, rt.name))
            return
        for cs in rt.containers.values():
            if cs.phase == "running":
                self._finish(cs, now, 0, "Completed")
        self._release(rt)
        c.api.finalize("pods", rt.namespace, rt.name)

    def _release(self, rt: PodRuntime) -> None:
        pool = self.c.pod_ips.get(rt.node)
        if pool:
            pool.release(rt.ip)

    # ------------------------------------------------------------------------------------------ status
    def _write_status(self, pod: dict, rt: PodRuntime) -> None:
        c = self.c
        now = c.clock.rfc3339()
        old = pod.get("status") or {}
        spec = pod["spec"]
        node = c.store.get("nodes", "", rt.node)
        host_ip = _node_ip(node) if node else ""
        init_statuses = [self._container_status(rt, rt.containers[x["name"]], x)
                         for x in spec.get("initContainers") or []]
        statuses = [self._container_status(rt, rt.containers[x["name"]], x) for x in spec["containers"]]
        inits = [rt.containers[x["name"]] for x in spec.get("initContainers") or []]
        init_done = all(cs.phase == "exited" and cs.current and cs.current.exit_code == 0 for cs in inits)
        apps = [rt.containers[x["name"]] for x in spec["containers"]]
        phase = self._phase(pod, inits, apps, init_done)
        containers_ready = init_done and all(cs.ready for cs in apps) and phase == "Running"
        sandbox = c.clock.now >= rt.started + SANDBOX_SECONDS
        conds_old = {x["type"]: x for x in old.get("conditions") or []}

        def cond(type_: str, ok: bool, reason: str = "", message: str = "") -> dict:
            status = "True" if ok else "False"
            prev = conds_old.get(type_)
            out = {"type": type_, "status": status, "lastProbeTime": None,
                   "lastTransitionTime": prev["lastTransitionTime"] if prev and prev["status"] == status else now}
            if not ok and reason:
                out["reason"] = reason
                if message:
                    out["message"] = message
            return out

        not_ready = [cs.name for cs in apps if not cs.ready]
        msg = f"containers with unready status: [{' '.join(not_ready)}]"
        finished = phase in ("Succeeded", "Failed")
        conditions = [
            cond("PodReadyToStartContainers", sandbox and not finished),
            cond("Initialized", init_done, "ContainersNotInitialized",
                 f"containers with incomplete status: [{' '.join(cs.name for cs in inits if not cs.runs)}]"),
            cond("Ready", containers_ready, "PodCompleted" if finished else "ContainersNotReady",
                 "" if finished else msg),
            cond("ContainersReady", containers_ready, "PodCompleted" if finished else "ContainersNotReady",
                 "" if finished else msg),
            cond("PodScheduled", True),
        ]
        status = {
            "phase": phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": rt.ip, "podIPs": [{"ip": rt.ip}], "startTime": c.clock.rfc3339(rt.started),
            "containerStatuses": statuses, "qosClass": old.get("qosClass", "BestEffort"),
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        # Keep timestamps stable when nothing else changed, so that no-op writes are skipped.
        if _without_times(status) == _without_times(old):
            return
        new = clone(pod)
        new["status"] = status
        c.api.system_update("pods", new)

    def _phase(self, pod: dict, inits: list[ContainerState], apps: list[ContainerState], init_done: bool) -> str:
        policy = pod["spec"].get("restartPolicy", "Always")
        if any(cs.init and cs.phase == "exited" and cs.current and cs.current.exit_code != 0 for cs in inits) \
                and policy == "Never":
            return "Failed"
        if not init_done or not all(cs.runs for cs in apps):
            return "Pending"
        if all(cs.phase == "exited" for cs in apps) and policy != "Always":
            codes = [cs.current.exit_code for cs in apps if cs.current]
            if all(code == 0 for code in codes):
                return "Succeeded"
            if policy == "Never":
                return "Failed"
        return "Running"

    def _container_status(self, rt: PodRuntime, cs: ContainerState, spec: dict) -> dict:
        c = self.c
        run = cs.current
        out: dict = {"name": cs.name, "image": spec.get("image", ""), "imageID": "", "ready": cs.ready,
                     "restartCount": cs.restart_count, "started": cs.phase == "running"}
        if run is not None:
            out["imageID"] = image_id(cs.image)
            out["containerID"] = c.runtime.container_id(rt.uid, cs.name, len(cs.runs) - 1)
        if cs.phase == "running" and run:
            out["state"] = {"running": {"startedAt": c.clock.rfc3339(run.started)}}
        elif cs.phase == "exited" and run:
            out["state"] = {"terminated": _terminated(c, run, out.get("containerID", ""))}
        elif cs.phase in ("backoff", "pull_backoff"):
            out["state"] = {"waiting": {"reason": cs.waiting_reason, "message": cs.waiting_message}}
        elif cs.phase == "creating" and cs.runs:
            out["state"] = {"waiting": {"reason": "ContainerCreating"}}
        else:
            reason = "PodInitializing" if not cs.init and cs.phase == "new" and _has_inits(rt) else \
                "ContainerCreating"
            out["state"] = {"waiting": {"reason": reason}}
        prev = cs.runs[-2] if len(cs.runs) >= 2 else None
        if cs.phase != "exited" and run is not None and run.finished is not None:
            prev = run
        out["lastState"] = {"terminated": _terminated(c, prev, c.runtime.container_id(
            rt.uid, cs.name, cs.runs.index(prev)))} if prev else {}
        return out


def _has_inits(rt: PodRuntime) -> bool:
    return any(cs.init for cs in rt.containers.values())


def _terminated(c, run: Run, container_id: str) -> dict:
    out = {"exitCode": run.exit_code if run.exit_code is not None else 0, "reason": run.reason or "Completed",
           "startedAt": c.clock.rfc3339(run.started),
           "finishedAt": c.clock.rfc3339(run.finished if run.finished is not None else run.started),
           "containerID": container_id}
    if run.message:
        out["message"] = run.message
    return out


def _without_times(status: dict) -> dict:
    s = dict(status)
    s["conditions"] = [{k: v for k, v in x.items() if k != "lastTransitionTime"} for x in s.get("conditions") or []]
    return s


def _node_ip(node: dict) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return addr["address"]
    return ""


__all__ = ["KubeletController", "backoff", "condition"]
