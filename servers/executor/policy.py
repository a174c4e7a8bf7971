"""The executor's policy: caps, protected namespaces and kinds, the merge-patch kinds and the exec allowlist.

Policy is data (a YAML or JSON file, ``aoi executor --policy``); a missing file means the defaults below. It applies
to every plan whatever key signed it: a key's role can only narrow what the policy allows.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from servers.executor.plan import KINDS, Exec, MergePatch, Plan, Scale
from servers.executor.refusal import Refusal


class ArgPattern(BaseModel):
    """An argv element that must fully match a regular expression."""

    model_config = ConfigDict(extra="forbid")

    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        re.compile(v)
        return v


class ExecRule(BaseModel):
    """An allowed command: argv must have exactly these elements (a string matches itself, a pattern its regex)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    argv: list[str | ArgPattern] = Field(min_length=1)
    namespaces: list[str] = Field(default_factory=lambda: ["*"])
    description: str = ""

    def matches(self, argv: list[str], namespace: str) -> bool:
        if len(argv) != len(self.argv) or not any(fnmatch.fnmatchcase(namespace, p) for p in self.namespaces):
            return False
        for want, got in zip(self.argv, argv, strict=True):
            if isinstance(want, str):
                if want != got:
                    return False
            elif re.fullmatch(want.regex, got, flags=re.DOTALL) is None:
                return False
        return True


_MONGO = ["mongo", "admin", "-u", "root", "-p", "root", "--authenticationDatabase", "admin", "--eval"]
# One user-administration call per exec: a single db.<fn>(...) with no statement separator inside.
_MONGO_EVAL = r"db\.(grantRolesToUser|createUser|getUsers|getUser)\([^;]*\);?"


def default_exec_allowlist() -> list[ExecRule]:
    return [
        ExecRule(name="mongo-user-admin", argv=[*_MONGO, ArgPattern(regex=_MONGO_EVAL)],
                 description="MongoDB user repairs with the root account, e.g. db.grantRolesToUser('admin', "
                             "[{role: 'readWrite', db: 'geo-db'}]) or db.createUser({...})"),
        ExecRule(name="mongo-mitigate-script",
                 argv=["bash", ArgPattern(regex=r"/scripts/(revoke|remove)-mitigate-admin-[a-z0-9-]+-mongo\.sh")],
                 description="The MongoDB pods' own mitigation scripts (AIOpsLab's failure-admin ConfigMaps)"),
    ]


class Policy(BaseModel):
    """What any plan may do on this executor, whoever signed it."""

    model_config = ConfigDict(extra="forbid")

    cluster: str | None = Field(default=None, description="this executor's cluster identity (token audience); "
                                                          "default: the API server URL")
    max_token_lifetime_s: int = Field(default=900, ge=1, le=86400)
    clock_skew_s: int = Field(default=30, ge=0, le=600)
    max_actions: int = Field(default=20, ge=1, le=100)
    max_replicas: int = Field(default=50, ge=0)
    require_observed_state: bool = Field(default=True, description="every target's resourceVersion must be pinned "
                                                                   "in the token")
    protected_namespaces: list[str] = Field(default_factory=lambda: ["kube-system", "kube-public",
                                                                     "kube-node-lease"])
    protected_kinds: list[str] = Field(default_factory=lambda: [
        "Secret", "Namespace", "Node", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"])
    merge_patch_kinds: list[str] = Field(default_factory=lambda: [
        "ConfigMap", "Deployment", "StatefulSet", "DaemonSet", "Service", "PersistentVolumeClaim",
        "PersistentVolume", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
    exec_allowlist: list[ExecRule] = Field(default_factory=default_exec_allowlist)
    exec_timeout_s: int = Field(default=60, ge=1, le=600)

    @field_validator("protected_kinds", "merge_patch_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in KINDS]
        if bad:
            raise ValueError(f"unknown kinds {bad}")
        return v

    @classmethod
    def load(cls, path: str | Path | None) -> Policy:
        if path is None:
            return cls()
        doc = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        return cls.model_validate(doc)

    def is_protected_namespace(self, namespace: str) -> bool:
        return bool(namespace) and any(fnmatch.fnmatchcase(namespace, p) for p in self.protected_namespaces)

    def exec_rule(self, argv: list[str], namespace: str) -> ExecRule | None:
        return next((r for r in self.exec_allowlist if r.matches(argv, namespace)), None)

    def check(self, plan: Plan) -> None:
        """Raise Refusal for the first action this policy forbids (the cluster is not consulted)."""
        if len(plan.actions) > self.max_actions:
            raise Refusal("over_cap", f"{len(plan.actions)} actions; this executor runs at most {self.max_actions} "
                                      "per plan")
        for i, a in enumerate(plan.actions):
            if self.is_protected_namespace(a.namespace):
                raise Refusal("protected_namespace", f"action {i} ({a.type}) targets protected namespace "
                                                     f"{a.namespace!r}", i)
            if a.kind in self.protected_kinds:
                raise Refusal("protected_kind", f"action {i} ({a.type}) targets protected kind {a.kind}", i)
            if isinstance(a, MergePatch) and a.kind not in self.merge_patch_kinds:
                raise Refusal("kind_not_allowed", f"action {i}: merge_patch on {a.kind} is not allowed; allowed: "
                                                  f"{', '.join(self.merge_patch_kinds)}", i)
            if isinstance(a, Scale) and a.replicas > self.max_replicas:
                raise Refusal("over_cap", f"action {i}: {a.replicas} replicas is over the cap of "
                                          f"{self.max_replicas}", i)
            if isinstance(a, Exec) and self.exec_rule(a.command, a.namespace) is None:
                raise Refusal("exec_not_allowlisted", f"action {i}: command {a.command[:3]}... is not in the exec "
                                                      "allowlist (see show_policy)", i)
