"""The AIOpsLab problems on the simulator: ids as AIOpsLab names them, task type, application, fault, the
task text the agent sees, and the expected answer. The 86 of AOI's evaluation set are ``in_aoi86``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from cluster.sim.apps import APPS
from cluster.sim.faults.families import ASTRONOMY, FAMILIES, FLAG_FAULTS, HOTEL, SOCIAL, Fault

TaskType = Literal["detection", "localization", "analysis", "mitigation"]
SYSTEM_LEVELS = ("Hardware", "Operating System", "Virtualization", "Application")
FAULT_TYPES = (
    "Misconfiguration",
    "Code Defect",
    "Authentication Issue",
    "Network/Storage Issue",
    "Operation Error",
    "Dependency Problem",
)


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    task: TaskType
    app: str
    family: str
    target: str
    params: dict = {}
    in_aoi86: bool = True

    @property
    def namespace(self) -> str:
        return APPS[self.app].namespace

    @property
    def fault(self) -> Fault:
        return Fault(self.family, self.app, self.target, dict(self.params))

    @property
    def expected(self) -> object:
        """The answer AIOpsLab grades against (for mitigation: the oracle's name)."""
        spec = FAMILIES[self.family]
        if self.task == "detection":
            return "No" if self.family == "noop" else "Yes"
        if self.task == "localization":
            return [self.target]
        if self.task == "analysis":
            return {"system_level": spec.system_level, "fault_type": spec.fault_type}
        return spec.oracle

    @property
    def accepted_localizations(self) -> list[list[str]]:
        """revoke_auth and user_unregistered also accept the service name without ``mongodb-``."""
        out = [[self.target]]
        if self.family in ("revoke_auth_mongodb", "user_unregistered_mongodb"):
            out.append([self.target.removeprefix("mongodb-")])
        return out

    def task_text(self) -> str:
        app = APPS[self.app]
        head = {
            "detection": "You are an expert DevOps engineer assigned to detect anomalies in a deployed service.",
            "localization": "You are an expert DevOps engineer assigned to localize faults in a deployed service.",
            "analysis": "You are an expert DevOps engineer assigned to do root cause analysis in a deployed service.",
            "mitigation": "You are an expert DevOps engineer assigned to mitigate anomalies in a deployed service.",
        }[self.task]
        submit = {
            "detection": '1. str: "Yes" or "No" to indicate whether there are anomalies detected',
            "localization": "1. list[str]: list of faulty components (i.e., service names)",
            "analysis": (
                '1. dict: {"system_level": str, "fault_type": str} where system_level is one of '
                f"{', '.join(SYSTEM_LEVELS)} and fault_type is one of {', '.join(FAULT_TYPES)}"
            ),
            "mitigation": "1. None (submit with no arguments once the service is healthy again)",
        }[self.task]
        return (
            f"{head}\n\nService Details:\nService Name: {app.title}\nNamespace: {app.namespace}\n"
            f"Description: {app.description}\n\nYou will begin by analyzing the service's state and telemetry, "
            f"and then submit your solution:\n{submit}\n"
        )


ALL4: tuple[TaskType, ...] = ("detection", "localization", "analysis", "mitigation")
DL: tuple[TaskType, ...] = ("detection", "localization")


def _p(pid: str, task: TaskType, app: str, family: str, target: str, **kw: object) -> Problem:
    return Problem(id=pid, task=task, app=app, family=family, target=target, **kw)  # type: ignore[arg-type]


def _build() -> list[Problem]:
    out: list[Problem] = []
    for i, target in enumerate(("user-service", "text-service", "post-storage-service"), start=1):
        out += [_p(f"k8s_target_port-misconfig-{t}-{i}", t, SOCIAL, "k8s_target_port-misconfig", target) for t in ALL4]
    out += [_p(f"auth_miss_mongodb-{t}-1", t, SOCIAL, "auth_miss_mongodb", "url-shorten-mongodb") for t in ALL4]
    for fam in ("revoke_auth_mongodb", "user_unregistered_mongodb"):
        for i, target in enumerate(("mongodb-geo", "mongodb-rate"), start=1):
            out += [_p(f"{fam}-{t}-{i}", t, HOTEL, fam, target) for t in ALL4]
    out += [_p(f"misconfig_app_hotel_res-{t}-1", t, HOTEL, "misconfig_app_hotel_res", "geo") for t in ALL4]
    out += [
        _p(f"scale_pod_zero_social_net-{t}-1", t, SOCIAL, "scale_pod_zero_social_net", "user-service") for t in ALL4
    ]
    out += [
        _p(
            f"assign_to_non_existent_node_social_net-{t}-1",
            t,
            SOCIAL,
            "assign_to_non_existent_node_social_net",
            "user-service",
        )
        for t in ALL4
    ]
    out += [_p(f"container_kill-{t}", t, HOTEL, "container_kill", "geo") for t in DL]
    for fam in ("pod_failure_hotel_res", "pod_kill_hotel_res", "network_loss_hotel_res", "network_delay_hotel_res"):
        out += [_p(f"{fam}-{t}-1", t, HOTEL, fam, "user") for t in DL]
    out.append(_p("noop_detection_hotel_reservation-1", "detection", HOTEL, "noop", ""))
    out.append(_p("noop_detection_social_network-1", "detection", SOCIAL, "noop", ""))
    out.append(_p("noop_detection_astronomy_shop-1", "detection", ASTRONOMY, "noop", ""))
    for fam, (flag, variant, target) in FLAG_FAULTS.items():
        for t in DL:
            out.append(_p(f"{fam}-{t}-1", t, ASTRONOMY, fam, target, params={"flag": flag, "variant": variant}))
        if fam.endswith("kafka_queue_problems"):
            out.append(
                _p(
                    f"{fam}-mitigation-1",
                    "mitigation",
                    ASTRONOMY,
                    fam,
                    target,
                    params={"flag": flag, "variant": variant},
                    in_aoi86=False,
                )
            )
    out += [
        _p(f"redeploy_without_PV-{t}-1", t, HOTEL, "redeploy_without_PV", "test-hotel-reservation")
        for t in ("detection", "analysis", "mitigation")
    ]
    out += [_p(f"wrong_bin_usage-{t}-1", t, HOTEL, "wrong_bin_usage", "profile") for t in ALL4]
    return out


PROBLEMS: dict[str, Problem] = {p.id: p for p in _build()}
AOI86: tuple[str, ...] = tuple(pid for pid, p in PROBLEMS.items() if p.in_aoi86)


def get_problem(pid: str) -> Problem:
    try:
        return PROBLEMS[pid]
    except KeyError:
        close = [p for p in PROBLEMS if pid.split("-")[0] in p][:5]
        hint = f"; did you mean one of: {', '.join(close)}" if close else "; `aoi sim problems` lists them"
        raise KeyError(f"unknown problem {pid!r}{hint}") from None
