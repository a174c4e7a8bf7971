"""Tests for cluster.sim.api.protobuf: the Kubernetes protobuf request bodies kubectl's typed clients send.

Bodies are built by a small encoder here that walks the same SCHEMA the decoder reads (and, like Go,
writes every non-pointer field), so decode(encode(obj)) == obj checks the reader and the table's shape.
The field numbers themselves are checked against the real thing: kubectl creates each kind against an
in-process server, and what the server decoded must equal what ``--dry-run=client -o json`` prints; and
``kubectl create job --from=cronjob/...`` makes Go marshal a whole rich pod template for us to decode.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes.client.models as k8s_models
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.sim import SimCluster, SimConfig
from cluster.sim.api import protobuf
from cluster.sim.api.protobuf import (
    BOOL,
    BYTES,
    FIELDS_V1,
    INLINE,
    INT,
    INT_OR_STRING,
    KEEP,
    MAGIC,
    MAP,
    MSG,
    QUANTITY,
    REP,
    SCHEMA,
    SPECIAL,
    STR,
    TIME,
    TYPES,
    Field,
    ProtobufError,
    decode_message,
    decode_object,
)
from cluster.sim.server import SimServer

KUBECTL = shutil.which("kubectl")


# ------------------------------------------------------------------------------------------ encoder
def _uvarint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints go as 64-bit two's complement, as Go writes them
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _tag(num: int, wire_type: int) -> bytes:
    return _uvarint(num << 3 | wire_type)


def _len(num: int, data: bytes) -> bytes:
    return _tag(num, 2) + _uvarint(len(data)) + data


def _varint(num: int, n: int) -> bytes:
    return _tag(num, 0) + _uvarint(n)


def _seconds(rfc3339: str) -> int:
    return int(dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def _special(name: str, value: Any) -> bytes:
    if name == TIME:
        return b"" if value is None else _varint(1, _seconds(value)) + _varint(2, 0)
    if name == QUANTITY:
        return _len(1, value.encode())
    if name == INT_OR_STRING:
        if isinstance(value, int):
            return _varint(1, 0) + _varint(2, value) + _len(3, b"")
        return _varint(1, 1) + _varint(2, 0) + _len(3, value.encode())
    assert name == FIELDS_V1
    return _len(1, orjson.dumps(value)) if value else b""


def _field(num: int, f: Field, value: Any, go_zeros: bool, packed: bool = False) -> bytes:
    if f.kind == STR:
        return _len(num, value.encode())
    if f.kind == BYTES:
        return _len(num, base64.b64decode(value))
    if f.kind in (INT, BOOL):
        return _varint(num, int(value))
    assert f.msg is not None
    if f.msg in SPECIAL:
        return _len(num, _special(f.msg, value))
    return _len(num, encode_message(value, f.msg, go_zeros=go_zeros, packed=packed))


def _zero(f: Field) -> Any:
    return {STR: "", BYTES: "", INT: 0, BOOL: False}[f.kind]


def encode_message(obj: dict[str, Any], name: str, *, go_zeros: bool = False, packed: bool = False) -> bytes:
    """obj (JSON form) as message `name`. go_zeros: also write absent non-pointer scalars as zeros, as Go's
    marshaller does; packed: repeated numbers as one packed field."""
    out = bytearray()
    for num in sorted(SCHEMA[name]):
        f = SCHEMA[name][num]
        if f.flags & INLINE:
            assert f.msg is not None
            inner = {k: obj[k] for k in _json_names(f.msg) if k in obj}
            out += _len(num, encode_message(inner, f.msg, go_zeros=go_zeros, packed=packed))
            continue
        if f.json not in obj:
            if go_zeros and f.kind != MSG and not f.flags & (KEEP | REP | MAP):
                out += _field(num, f, _zero(f), go_zeros)
            continue
        value = obj[f.json]
        if f.flags & MAP:
            item = Field(f.json, f.kind, f.msg)
            for k, v in value.items():
                out += _len(num, _len(1, k.encode()) + _field(2, item, v, go_zeros, packed))
        elif f.flags & REP and packed and f.kind in (INT, BOOL):
            out += _len(num, b"".join(_uvarint(int(v)) for v in value))
        elif f.flags & REP:
            for v in value:
                out += _field(num, f, v, go_zeros, packed)
        else:
            out += _field(num, f, value, go_zeros, packed)
    return bytes(out)


def envelope(api_version: str, kind: str, raw: bytes, encoding: str = "") -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, encoding.encode()) + _len(4, b"")


def encode_object(obj: dict[str, Any], **kw: bool) -> bytes:
    name = TYPES[obj["apiVersion"], obj["kind"]]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return envelope(obj["apiVersion"], obj["kind"], encode_message(body, name, **kw))


@functools.cache
def _json_names(name: str) -> frozenset[str]:
    """The JSON keys message `name` contributes to its object, embedded structs' keys included."""
    names: set[str] = set()
    for f in SCHEMA[name].values():
        if f.flags & INLINE:
            assert f.msg is not None
            names |= _json_names(f.msg)
        else:
            names.add(f.json)
    return frozenset(names)


def roundtrip(obj: dict[str, Any], **kw: bool) -> dict[str, Any]:
    return decode_object(encode_object(obj, **kw))


# --------------------------------------------------------------------------------- sample objects
POD_SPEC: dict[str, Any] = {
    "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
    "containers": [{
        "name": "web", "image": "nginx:1.25", "args": ["-g", "daemon off;"], "workingDir": "/srv",
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}, {"containerPort": 0}],
        "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": False}}},
            {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"prefix": "S_", "secretRef": {"name": "db"}}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True, "subPath": "x"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                                      "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                          "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {"tcpSocket": {"port": "http"}, "timeoutSeconds": 2, "successThreshold": 1},
        "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "terminationGracePeriodSeconds": 0},
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "stdin": True, "tty": True,
    }],
    "volumes": [
        {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.txt", "mode": 420}],
                                      "defaultMode": 0}},
        {"name": "sec", "secret": {"secretName": "db", "optional": True}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "empty", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "proj", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}},
    ],
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 0, "activeDeadlineSeconds": 600,
    "dnsPolicy": "ClusterFirst", "nodeSelector": {"disktype": "ssd", "zone": ""},
    "serviceAccountName": "runner", "automountServiceAccountToken": False,
    "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [1, 2, 3],
                        "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
    "imagePullSecrets": [{"name": "regcred"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}}]},
    },
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                    {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}],
    "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
    "priorityClassName": "high", "priority": 0, "enableServiceLinks": False,
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                   "labelSelector": {"matchExpressions": [
                                       {"key": "app", "operator": "NotIn", "values": ["x", "y"]}]}}],
}

TEMPLATE = {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}}, "spec": POD_SPEC}
META = {"name": "web", "namespace": "prod", "creationTimestamp": None, "labels": {"app": "web"},
        "annotations": {"note": "", "team": "payments"}, "finalizers": ["example.com/keep"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u-1",
                             "controller": True, "blockOwnerDeletion": False}]}

OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": META, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE, "minReadySeconds": 5,
        "revisionHistoryLimit": 3, "paused": True, "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}}},
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {
        "replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": TEMPLATE,
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}}}],
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "podManagementPolicy": "Parallel"}},
    {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": TEMPLATE,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}}},
    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "creationTimestamp": None},
     "spec": {"parallelism": 1, "completions": 0, "backoffLimit": 0, "ttlSecondsAfterFinished": 100,
              "completionMode": "Indexed", "suspend": False, "template": {"metadata": {"creationTimestamp": None},
                                                                          "spec": POD_SPEC},
              "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                  "operator": "In", "values": [42, -1]}}]}}},
    {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {
        "schedule": "0 3 * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "suspend": False,
        "startingDeadlineSeconds": 0, "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 1,
        "jobTemplate": {"metadata": {"name": "nightly", "creationTimestamp": None}, "spec": {
            "template": {"metadata": {"creationTimestamp": None}, "spec": {
                "containers": [{"name": "c", "image": "busybox", "command": ["date"], "resources": {}}],
                "restartPolicy": "OnFailure"}}}}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": "2024-05-01T10:00:00Z",
                                                     "deletionGracePeriodSeconds": 0}, "spec": POD_SPEC},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque", "immutable": False,
     "data": {"password": base64.b64encode(b"\x00\xffs3cr3t").decode(), "empty": ""},
     "stringData": {"user": "admin"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": ""},
     "binaryData": {"bin": base64.b64encode(bytes(range(256))).decode()}, "immutable": True},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {
        "type": "NodePort", "selector": {"app": "web"}, "clusterIP": "None", "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}, "externalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
                  {"name": "grpc", "port": 9090, "targetPort": "grpc", "appProtocol": "h2c"}],
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "clusterIPs": ["None"]}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}},
     "spec": {"finalizers": ["kubernetes"]}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"},
     "automountServiceAccountToken": False, "imagePullSecrets": [{"name": "regcred"}],
     "secrets": [{"name": "runner-token"}]},
    {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {
        "hard": {"cpu": "2", "memory": "1Gi", "pods": "10"}, "scopes": ["NotTerminating"],
        "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                                "values": ["high"]}]}}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "standard", "volumeMode": "Filesystem"}},
    {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"}, "spec": {
        "minAvailable": "50%", "maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "zero"}, "value": 0,
     "globalDefault": True, "description": "d", "preemptionPolicy": "Never"},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"},
     "rules": [{"verbs": ["get"], "nonResourceURLs": ["/logs"]}],
     "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "true"}}]}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
     "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "prod"},
                  {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
     "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"}]},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing"}, "spec": {
        "ingressClassName": "nginx", "defaultBackend": {"service": {"name": "def", "port": {"name": "http"}}},
        "tls": [{"hosts": ["foo.com"], "secretName": "cert"}],
        "rules": [{"host": "foo.com", "http": {"paths": [
            {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}},
            {"path": "/static", "pathType": "Exact", "backend": {"resource": {
                "apiGroup": "k8s.example.com", "kind": "Bucket", "name": "static"}}}]}},
                  {"http": {"paths": [{"path": "/", "pathType": "ImplementationSpecific",
                                       "backend": {"service": {"name": "def", "port": {"number": 8080}}}}]}}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"}, "spec": {
        "controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "Params",
                                                             "name": "p", "scope": "Namespace",
                                                             "namespace": "ingress"}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"}, "spec": {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"protocol": "TCP", "port": 443, "endPort": 8443}, {"port": "dns"}]}],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]}},
    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": "runner"},
     "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600,
              "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u-2"}}},
    {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 0}},
    {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "prod"},
     "deleteOptions": {"gracePeriodSeconds": 0, "propagationPolicy": "Background", "dryRun": ["All"],
                       "preconditions": {"uid": "u-3"}}},
]


def _sample(kind: str) -> dict[str, Any]:
    return next(o for o in OBJECTS if o["kind"] == kind)


def test_samples_cover_every_top_level_kind() -> None:
    assert {(o["apiVersion"], o["kind"]) for o in OBJECTS} == set(TYPES)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["kind"])
def test_roundtrip(obj: dict[str, Any]) -> None:
    assert roundtrip(obj) == obj


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["kind"])
def test_go_style_zero_fields_are_dropped_like_omitempty(obj: dict[str, Any]) -> None:
    # Go writes every non-pointer field, zero or not; those zeros must not show up as "" / 0 / false.
    zeros = encode_object(obj, go_zeros=True)
    assert len(zeros) > len(encode_object(obj))
    assert decode_object(zeros) == obj


def test_pointer_and_required_zeros_survive() -> None:
    dep = roundtrip(_sample("Deployment"))
    assert dep["spec"]["replicas"] == 0  # --replicas=0 must not become the default of 1
    spec = dep["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 0 and spec["automountServiceAccountToken"] is False
    assert spec["containers"][0]["securityContext"]["runAsUser"] == 0
    assert spec["containers"][0]["ports"][1] == {"containerPort": 0}
    assert spec["volumes"][5]["hostPath"] == {"path": "/var/log", "type": ""}
    assert roundtrip(_sample("PriorityClass"))["value"] == 0  # kubectl create priorityclass --value=0


def test_packed_repeated_numbers() -> None:
    # proto2 repeated ints are written unpacked by Go; packed is legal too and must read the same.
    for obj in (_sample("Deployment"), _sample("Job")):
        packed, plain = encode_object(obj, packed=True), encode_object(obj)
        assert packed != plain and decode_object(packed) == decode_object(plain) == obj


def test_special_types() -> None:
    meta = {"name": "x", "creationTimestamp": "2024-05-01T10:00:00Z", "deletionTimestamp": None,
            "managedFields": [{"manager": "kubectl", "operation": "Update", "time": "1969-12-31T23:59:59Z",
                               "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]}
    assert decode_message(encode_message(meta, "meta.ObjectMeta"), "meta.ObjectMeta") == meta
    # Go marshals a zero Time as an empty message and metav1.Time ignores nanos.
    raw = _len(8, b"") + _len(9, _varint(1, 1714557600) + _varint(2, 999))
    assert decode_message(raw, "meta.ObjectMeta") == {"creationTimestamp": None,
                                                      "deletionTimestamp": "2024-05-01T10:00:00Z"}
    # An empty Quantity is "0"; IntOrString picks its value by type.
    assert decode_message(_len(1, _len(1, b"cpu")), "core.ResourceRequirements") == {
        "limits": {"cpu": "0"}}
    assert decode_message(_len(1, _varint(1, 1) + _len(3, b"25%")), "apps.RollingUpdateDeployment") == {
        "maxUnavailable": "25%"}
    assert decode_message(_len(1, _varint(2, -5)), "apps.RollingUpdateDeployment") == {"maxUnavailable": -5}


def test_map_entries_may_omit_key_or_value() -> None:
    raw = _len(11, _len(1, b"k")) + _len(12, _len(2, b"v"))
    assert decode_message(raw, "meta.ObjectMeta") == {"labels": {"k": ""}, "annotations": {"": "v"}}


def test_negative_and_large_numbers() -> None:
    spec = {"securityContext": {"runAsUser": -1, "runAsGroup": 2**63 - 1, "fsGroup": -(2**63)}}
    assert decode_message(encode_message(spec, "core.PodSpec"), "core.PodSpec") == spec


def test_repeated_message_fields_merge_and_scalars_take_the_last_value() -> None:
    raw = _len(1, b"a") + _len(2, b"b") + _len(1, b"z") + _len(3, b"")
    assert decode_message(raw, "core.EnvVar") == {"name": "z", "value": "b", "valueFrom": {}}
    raw = _len(3, _len(1, _len(2, b"f1"))) + _len(3, _len(2, _len(2, b"f2")))
    assert decode_message(raw, "core.EnvVar") == {
        "valueFrom": {"fieldRef": {"fieldPath": "f1"}, "resourceFieldRef": {"resource": "f2"}}}


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (_varint(900, 5) + _tag(901, 1) + bytes(8) + _len(902, b"\x01\x02") + _tag(903, 5) + bytes(4))
    base = encode_message({"name": "web", "image": "nginx"}, "core.Container")
    assert decode_message(unknown + base + unknown, "core.Container") == {"name": "web", "image": "nginx"}
    # An unknown field inside a nested message and in the envelope are skipped as well.
    spec = _len(2, _len(50, b"future") + base)
    body = MAGIC + _varint(99, 1) + envelope("v1", "Pod", _len(2, spec))[len(MAGIC):]
    assert decode_object(body) == {"apiVersion": "v1", "kind": "Pod",
                                   "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def test_delete_options_decode_under_any_group_version() -> None:
    raw = encode_message({"propagationPolicy": "Foreground", "gracePeriodSeconds": 0}, "meta.DeleteOptions")
    assert decode_object(envelope("apps/v1", "DeleteOptions", raw)) == {
        "apiVersion": "apps/v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0}


def test_empty_raw_is_an_empty_object() -> None:
    assert decode_object(envelope("v1", "Namespace", b"")) == {"apiVersion": "v1", "kind": "Namespace"}


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("body", "message"), [
    (b"", "magic"),
    (b'{"kind": "Pod"}', "magic"),
    (envelope("example.com/v1", "Widget", b""), "Widget (example.com/v1)"),
    (envelope("apps/v1", "Pod", b""), "Pod (apps/v1)"),
    (envelope("", "", b""), "names no kind"),
    (envelope("v1", "Secret", b"", encoding="gzip"), "gzip"),
    (MAGIC + b"\x0a\x05abc", "runs past the end"),
    (MAGIC + b"\x08", "truncated varint"),
    (MAGIC + b"\x08" + b"\xff" * 11, "overlong varint"),
    (MAGIC + b"\x00", "field number 0"),
    (MAGIC + _tag(1, 3), "groups"),
    (MAGIC + _tag(1, 6), "invalid wire type 6"),
    (MAGIC + _tag(5, 1) + b"\x00", "truncated 64-bit"),
    (MAGIC + _tag(5, 5) + b"\x00", "truncated 32-bit"),
    (envelope("v1", "ConfigMap", _len(1, _len(1, b"\xff\xfe"))), "meta.ObjectMeta.name: string is not valid UTF-8"),
    (envelope("v1", "ConfigMap", _len(1, _varint(1, 3))), "meta.ObjectMeta.name: wire type 0"),
    (envelope("apps/v1", "Deployment", _len(2, _len(1, b"3"))), "apps.DeploymentSpec.replicas: wire type 2"),
    (envelope("apps/v1", "Deployment", _varint(2, 1)), "apps.Deployment.spec: wire type 0"),
    (envelope("v1", "ConfigMap", _varint(2, 1)), "ConfigMap.data: map entry"),
    (envelope("v1", "ConfigMap", _len(2, _varint(1, 1))), "ConfigMap.data: map key"),
    (envelope("v1", "Pod", _len(1, _len(8, _varint(1, 10**15)))), "out of range"),
    (envelope("v1", "Pod", _len(1, _len(17, _len(7, _len(1, b"{nope"))))), "not JSON"),
])
def test_malformed_bodies_raise_a_clear_protobuf_error(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_object(body)


def test_protobuf_error_is_a_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)


def test_every_truncation_fails_cleanly() -> None:
    body = encode_object(_sample("Deployment"))
    for n in range(len(body)):
        with contextlib.suppress(ProtobufError):
            decode_object(body[:n])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(sorted(TYPES)))
def test_arbitrary_bytes_decode_or_raise_protobuf_error(raw: bytes, type_: tuple[str, str]) -> None:
    with contextlib.suppress(ProtobufError):
        decode_object(envelope(*type_, raw))


# ------------------------------------------------------------------------- the table, by property
@functools.cache
def _objects(name: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Random JSON-form objects of message `name`, from the schema (zeros only where they survive)."""
    if depth > 4:
        return st.just({})
    fields = [f for f in SCHEMA[name].values() if not f.flags & INLINE]
    base = st.fixed_dictionaries({}, optional={f.json: _values(f, depth) for f in fields})
    for f in SCHEMA[name].values():
        if f.flags & INLINE:
            assert f.msg is not None
            base = st.builds(lambda a, b: {**a, **b}, base, _objects(f.msg, depth))
    return base


def _one(f: Field, depth: int, in_map: bool = False) -> st.SearchStrategy[Any]:
    keep = bool(f.flags & KEEP) or in_map
    if f.kind == STR:
        return st.text(max_size=6, min_size=0 if keep else 1)
    if f.kind == BYTES:
        return st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())
    if f.kind == BOOL:
        return st.booleans() if keep else st.just(True)
    if f.kind == INT:
        ints = st.integers(-(2**63), 2**63 - 1)
        return ints if keep else ints.filter(bool)
    assert f.msg is not None
    if f.msg == TIME:
        return st.none() | st.integers(-(10**10), 10**10).map(
            lambda s: (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=s)).isoformat()
            .replace("+00:00", "Z"))
    if f.msg == QUANTITY:
        return st.sampled_from(["0", "1", "500m", "1.5Gi", "2e3", "-1"])
    if f.msg == INT_OR_STRING:
        return st.integers(-(2**31), 2**31 - 1) | st.text(max_size=5)
    if f.msg == FIELDS_V1:
        return st.dictionaries(st.text(max_size=5), st.integers(0, 9) | st.just({}), max_size=3)
    return _objects(f.msg, depth + 1)


def _values(f: Field, depth: int) -> st.SearchStrategy[Any]:
    if f.flags & MAP:
        return st.dictionaries(st.text(max_size=6), _one(f, depth, in_map=True), min_size=1, max_size=3)
    if f.flags & REP:
        return st.lists(_one(f, depth), min_size=1, max_size=3)
    return _one(f, depth)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_objects_of_every_kind_roundtrip(data: st.DataObject) -> None:
    for (api_version, kind), name in sorted(TYPES.items()):
        body = data.draw(_objects(name), label=kind)
        obj = {"apiVersion": api_version, "kind": kind, **body}
        assert roundtrip(obj) == obj
        assert roundtrip(obj, go_zeros=True, packed=True) == obj


def _reachable() -> set[str]:
    seen: set[str] = set()
    todo = [*TYPES.values(), "meta.DeleteOptions"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [f.msg for f in SCHEMA[name].values() if f.msg and f.msg not in SPECIAL]
    return seen


def test_schema_is_consistent() -> None:
    assert _reachable() == set(SCHEMA), "every message is used, every reference resolves"
    for name, fields in SCHEMA.items():
        for num, f in fields.items():
            assert 0 < num < 2**29, (name, num)
            assert (f.kind == MSG) == (f.msg is not None), (name, f)
            assert f.msg is None or f.msg in SCHEMA or f.msg in SPECIAL, (name, f)
            assert not (f.flags & INLINE and (f.flags & ~INLINE or f.msg in SPECIAL)), (name, f)
            assert not (f.flags & REP and f.flags & MAP), (name, f)
        names = [n for f in fields.values()
                 for n in (_json_names(f.msg) if f.flags & INLINE and f.msg else {f.json})]
        assert len(names) == len(set(names)), f"{name}: two fields share a JSON name"
    for name in TYPES.values():
        assert SCHEMA[name][1] == Field("metadata", MSG, "meta.ObjectMeta"), name


# The kubernetes Python client (a dependency) carries the JSON names and types of every API object: an
# independent check that the transcribed table names and nests its fields as the JSON API does.
_PY_TYPES = {STR: "str", INT: "int", BOOL: "bool", BYTES: "str", TIME: "datetime", QUANTITY: "str",
             INT_OR_STRING: "object", FIELDS_V1: "object"}


def _model(name: str) -> Any:
    group, _, short = name.partition(".")
    for candidate in (f"V1{short}", f"{group.capitalize()}V1{short}"):
        if hasattr(k8s_models, candidate):
            return getattr(k8s_models, candidate)
    return None


def _py_type(f: Field) -> str:
    inner = _model(f.msg).__name__ if f.msg in SCHEMA else _PY_TYPES[f.msg or f.kind]
    if f.flags & MAP:
        return f"Dict[str, {inner}]"
    return f"List[{inner}]" if f.flags & REP else inner


def test_schema_matches_the_kubernetes_python_client() -> None:
    # Embedded structs have no model of their own; their fields are checked in their parents'.
    assert {n for n in SCHEMA if _model(n) is None} == {"core.ProbeHandler", "core.VolumeSource",
                                                       "networking.IngressRuleValue"}
    for name, fields in SCHEMA.items():
        model = _model(name)
        if model is None:
            continue
        json_to_py = {j: p for p, j in model.attribute_map.items()}
        for f in fields.values():
            subfields = SCHEMA[f.msg].values() if f.flags & INLINE and f.msg else [f]
            for g in subfields:
                assert g.json in json_to_py, f"{name}.{g.json} is not a field of {model.__name__}"
                # (the client types []byte maps both ways: Secret.data as str, ConfigMap.binaryData as bytes)
                expected = model.openapi_types[json_to_py[g.json]].replace("bytes", "str")
                got = _py_type(g)
                assert got == expected, f"{name}.{g.json}: the table says {got}, the client says {expected}"


# ------------------------------------------------------------------------ real kubectl, end to end
@dataclass
class Live:
    server: SimServer
    decoded: list[dict[str, Any]] = field(default_factory=list)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None and self.server.kubeconfig_path is not None
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig_path),
               "HOME": str(self.server.kubeconfig_path.parent)}
        proc = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, input=input, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (the end-to-end protobuf tests drive the real kubectl binary)")
    decoded: list[dict[str, Any]] = []
    real = protobuf.decode_object

    def recording(raw: bytes) -> dict[str, Any]:
        obj = real(raw)
        decoded.append(obj)
        return obj

    # Recording what the server decoded proves kubectl really sent protobuf, and lets us compare it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(protobuf, "decode_object", recording)
        server = SimServer(SimCluster(SimConfig(seed=1)),
                           kubeconfig=tmp_path_factory.mktemp("protobuf") / "kubeconfig").start()
        try:
            yield Live(server, decoded)
        finally:
            server.stop()


def _at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


# (kubectl create arguments, the object to get, {path in the stored object: expected value})
Check = dict[str, Any]
CASES: list[tuple[list[str], list[str], Check]] = [
    (["deployment", "web", "--image=nginx:1.25", "--replicas=3", "--port=80"], ["deployment", "web"],
     {"spec.replicas": 3, "metadata.labels": {"app": "web"}, "spec.selector.matchLabels": {"app": "web"},
      "spec.template.spec.containers.0.image": "nginx:1.25",
      "spec.template.spec.containers.0.ports.0.containerPort": 80}),
    (["deployment", "idle", "--image=busybox", "--replicas=0", "--", "sleep", "3600"], ["deployment", "idle"],
     {"spec.replicas": 0, "spec.template.spec.containers.0.command": ["sleep", "3600"]}),
    (["job", "hello", "--image=busybox", "--", "echo", "hi"], ["job", "hello"],
     {"spec.template.spec.containers.0.image": "busybox", "spec.template.spec.restartPolicy": "Never",
      "spec.template.spec.containers.0.command": ["echo", "hi"]}),
    (["cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure", "--", "date"],
     ["cronjob", "tick"],
     {"spec.schedule": "*/5 * * * *", "spec.jobTemplate.spec.template.spec.containers.0.command": ["date"],
      "spec.jobTemplate.spec.template.spec.restartPolicy": "OnFailure"}),
    (["secret", "generic", "db", "--from-literal=user=admin", "--from-literal=password=s3cr3t"], ["secret", "db"],
     {"data.user": base64.b64encode(b"admin").decode(), "data.password": base64.b64encode(b"s3cr3t").decode(),
      "type": "Opaque"}),
    (["secret", "docker-registry", "reg", "--docker-server=r.example.com", "--docker-username=u",
      "--docker-password=p"], ["secret", "reg"], {"type": "kubernetes.io/dockerconfigjson"}),
    (["configmap", "cfg", "--from-literal=level=debug", "--from-literal=empty="], ["configmap", "cfg"],
     {"data": {"level": "debug", "empty": ""}}),
    (["service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https"], ["service", "web"],
     {"spec.type": "ClusterIP", "spec.selector": {"app": "web"}, "spec.ports.0.port": 80,
      "spec.ports.0.targetPort": 8080, "spec.ports.1.targetPort": "https"}),
    (["service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"], ["service", "np"],
     {"spec.type": "NodePort", "spec.ports.0.nodePort": 30080}),
    (["service", "externalname", "ext", "--external-name=example.com"], ["service", "ext"],
     {"spec.type": "ExternalName", "spec.externalName": "example.com"}),
    (["namespace", "team-a"], ["namespace", "team-a"], {"metadata.name": "team-a"}),
    (["serviceaccount", "runner"], ["serviceaccount", "runner"], {"metadata.name": "runner"}),
    (["quota", "q", "--hard=cpu=2,memory=1Gi,pods=10", "--scopes=NotTerminating"], ["quota", "q"],
     {"spec.hard": {"cpu": "2", "memory": "1Gi", "pods": "10"}, "spec.scopes": ["NotTerminating"]}),
    (["pdb", "web-pdb", "--selector=app=web", "--min-available=50%"], ["pdb", "web-pdb"],
     {"spec.minAvailable": "50%", "spec.selector.matchLabels": {"app": "web"}}),
    (["pdb", "web-pdb2", "--selector=app=web", "--max-unavailable=0"], ["pdb", "web-pdb2"],
     {"spec.maxUnavailable": 0}),
    (["priorityclass", "high", "--value=1000", "--description=important", "--preemption-policy=Never"],
     ["priorityclass", "high"], {"value": 1000, "description": "important", "preemptionPolicy": "Never"}),
    (["priorityclass", "nothing", "--value=0"], ["priorityclass", "nothing"], {"value": 0}),
    (["role", "reader", "--verb=get,list", "--resource=pods,deployments.apps"], ["role", "reader"],
     {"rules.0.verbs": ["get", "list"], "rules.0.resources": ["pods"], "rules.1.apiGroups": ["apps"]}),
    (["rolebinding", "read", "--role=reader", "--serviceaccount=default:runner", "--user=bob"],
     ["rolebinding", "read"],
     {"roleRef.name": "reader", "roleRef.kind": "Role", "subjects.0.name": "bob", "subjects.1.name": "runner"}),
    (["clusterrole", "node-reader", "--verb=get", "--resource=nodes", "--non-resource-url=/logs"],
     ["clusterrole", "node-reader"], {"rules.0.resources": ["nodes"], "rules.1.nonResourceURLs": ["/logs"]}),
    (["clusterrole", "aggregated", "--aggregation-rule=example.com/agg=true"], ["clusterrole", "aggregated"],
     {"aggregationRule.clusterRoleSelectors.0.matchLabels": {"example.com/agg": "true"}}),
    (["clusterrolebinding", "read-nodes", "--clusterrole=node-reader", "--group=devs"],
     ["clusterrolebinding", "read-nodes"], {"roleRef.kind": "ClusterRole", "subjects.0.kind": "Group"}),
    (["ingress", "web", "--class=nginx", "--rule=foo.com/api*=web:80,tls=cert", "--default-backend=web:http"],
     ["ingress", "web"],
     {"spec.ingressClassName": "nginx", "spec.rules.0.host": "foo.com", "spec.rules.0.http.paths.0.path": "/api",
      "spec.rules.0.http.paths.0.pathType": "Prefix",
      "spec.rules.0.http.paths.0.backend.service.port.number": 80, "spec.tls.0.secretName": "cert",
      "spec.defaultBackend.service.port.name": "http"}),
]


@pytest.mark.kubectl
@pytest.mark.parametrize(("args", "target", "checks"), CASES, ids=["-".join(c[1]) for c in CASES])
def test_kubectl_create_sends_protobuf_that_decodes_like_json(live: Live, args: list[str], target: list[str],
                                                              checks: Check) -> None:
    split = args.index("--") if "--" in args else len(args)
    dry = live.kubectl("create", *args[:split], "--dry-run=client", "-o", "json", *args[split:])
    as_json = json.loads(dry.stdout)
    as_json.pop("status", None)  # server-owned; the decoder leaves status messages out
    as_json = {k: v for k, v in as_json.items() if v is not None}  # e.g. a ClusterRole's "rules": null

    before = len(live.decoded)
    live.kubectl("create", *args)
    assert len(live.decoded) == before + 1, "kubectl did not send a protobuf body"
    assert live.decoded[-1] == as_json

    stored = live.get(*target)
    for path, want in checks.items():
        assert _at(stored, path) == want, path


def _pruned(value: Any) -> Any:
    """value without nulls and empty objects: Go's JSON adds some ("resources": {}) that a manifest lacks."""
    if isinstance(value, dict):
        items = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None and v != {}}
    return [_pruned(v) for v in value] if isinstance(value, list) else value


@pytest.mark.kubectl
def test_kubectl_create_job_from_cronjob_sends_a_rich_pod_template(live: Live) -> None:
    # kubectl create job --from=cronjob/x reads the CronJob (JSON) and posts its whole pod template as
    # protobuf, marshalled by Go: every field number the sample pod spec uses is checked against upstream.
    spec = json.loads(json.dumps(POD_SPEC))
    spec["restartPolicy"] = "OnFailure"
    spec["containers"][0]["ports"][1]["containerPort"] = 8081  # a Job's pods must have valid ports
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "rich"}, "spec": {
        "schedule": "0 0 * * *", "jobTemplate": {"metadata": {"labels": {"tier": "batch"}}, "spec": {
            "backoffLimit": 0, "template": {"metadata": {"labels": {"app": "rich"}}, "spec": spec}}}}}
    live.kubectl("create", "-f", "-", input=json.dumps(cronjob))
    stored = live.get("cronjob", "rich")["spec"]["jobTemplate"]

    before = len(live.decoded)
    live.kubectl("create", "job", "rich-now", "--from=cronjob/rich")
    assert len(live.decoded) == before + 1, "kubectl did not send a protobuf body"
    job = live.decoded[-1]
    assert _pruned(job["spec"]) == _pruned(stored["spec"])
    assert job["metadata"]["labels"] == {"tier": "batch"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    assert live.get("job", "rich-now")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"][
        "httpGet"]["httpHeaders"] == [{"name": "X-Probe", "value": "1"}]


@pytest.mark.kubectl
def test_kubectl_created_deployment_runs(live: Live) -> None:
    live.kubectl("create", "deployment", "runs", "--image=nginx:1.27", "--replicas=2")
    live.server.cluster.advance(60)
    pods = live.get("pods", "-l", "app=runs")["items"]
    assert len(pods) == 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.27"}
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert live.get("deployment", "runs")["status"]["readyReplicas"] == 2


@pytest.mark.kubectl
def test_kubectl_create_token_reaches_the_server(live: Live) -> None:
    # TokenRequest decodes; the simulator answers it like any unsupported subresource, not with a 415.
    live.kubectl("create", "serviceaccount", "tokens")
    proc = live.kubectl("create", "token", "tokens", check=False)
    assert live.decoded[-1]["kind"] == "TokenRequest"
    assert "protobuf" not in proc.stderr
