"""Decode the Kubernetes protobuf wire format into the JSON-shaped dicts the rest of the API works with.

kubectl's typed clients (``kubectl create deployment/job/secret/...``) send request bodies as
``application/vnd.kubernetes.protobuf``: the 4 magic bytes ``k8s\\x00`` and then a ``runtime.Unknown``
envelope whose ``typeMeta`` names the object's apiVersion and kind and whose ``raw`` holds the object's own
message (``k8s.io.api.apps.v1.Deployment``, ...). We read it with a small hand-written wire-format reader
driven by ``SCHEMA``, a declarative table transcribed from the upstream ``generated.proto`` files
(k8s.io/api, k8s.io/apimachinery): message -> {field number: Field(json name, kind, message type, flags)}.

The result is what kubectl would have sent as JSON: camelCase keys, ``apiVersion``/``kind`` set, IntOrString
as int or str, Quantity as its string, Time as an RFC 3339 string (a zero Time as None, like JSON's null),
``[]byte`` as base64, maps as dicts, embedded Go structs (``json:",inline"``) flattened into their parent.
Go's protobuf marshalling writes every non-pointer field, zero or not, so zero scalars are dropped (as
``omitempty`` does for JSON) unless the field is flagged KEEP (pointers and required numbers: a
``replicas: 0`` must stay 0, not fall back to the default). Unknown field numbers are skipped, so newer
kubectl versions still decode; anything malformed raises ProtobufError.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

__all__ = ["MAGIC", "SCHEMA", "TYPES", "Field", "ProtobufError", "decode_message", "decode_object"]

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf object this server can decode."""


# Field kinds. MSG names its message in Field.msg; these message names have their own JSON forms.
STR, INT, BOOL, BYTES, MSG = "string", "int", "bool", "bytes", "message"
TIME, QUANTITY, INT_OR_STRING, FIELDS_V1 = "Time", "Quantity", "IntOrString", "FieldsV1"
SPECIAL = frozenset({TIME, QUANTITY, INT_OR_STRING, FIELDS_V1})

# Field flags.
REP = 1      # repeated
MAP = 2      # map<string, kind>: repeated entry messages {1: key, 2: value}
KEEP = 4     # keep zero values: a Go pointer (nil is absent from the wire) or a required number
INLINE = 8   # an embedded Go struct (json:",inline"): its fields join the parent's


class Field(NamedTuple):
    json: str
    kind: str
    msg: str | None = None
    flags: int = 0


F = Field

# Transcribed from k8s.io/apimachinery and k8s.io/api generated.proto (field numbers never change; fields
# added upstream later are simply unknown here and skipped). Status messages are left out: clients do not
# send them on create, and the server owns them.
SCHEMA: dict[str, dict[int, Field]] = {
    # ------------------------------------------------------------------ k8s.io/apimachinery meta/v1
    "meta.ObjectMeta": {
        1: F("name", STR), 2: F("generateName", STR), 3: F("namespace", STR), 4: F("selfLink", STR),
        5: F("uid", STR), 6: F("resourceVersion", STR), 7: F("generation", INT),
        8: F("creationTimestamp", MSG, TIME), 9: F("deletionTimestamp", MSG, TIME),
        10: F("deletionGracePeriodSeconds", INT, None, KEEP), 11: F("labels", STR, None, MAP),
        12: F("annotations", STR, None, MAP), 13: F("ownerReferences", MSG, "meta.OwnerReference", REP),
        14: F("finalizers", STR, None, REP), 17: F("managedFields", MSG, "meta.ManagedFieldsEntry", REP),
    },
    "meta.OwnerReference": {
        1: F("kind", STR), 3: F("name", STR), 4: F("uid", STR), 5: F("apiVersion", STR),
        6: F("controller", BOOL, None, KEEP), 7: F("blockOwnerDeletion", BOOL, None, KEEP),
    },
    "meta.LabelSelector": {
        1: F("matchLabels", STR, None, MAP),
        2: F("matchExpressions", MSG, "meta.LabelSelectorRequirement", REP),
    },
    "meta.LabelSelectorRequirement": {
        1: F("key", STR), 2: F("operator", STR), 3: F("values", STR, None, REP),
    },
    "meta.ManagedFieldsEntry": {
        1: F("manager", STR), 2: F("operation", STR), 3: F("apiVersion", STR), 4: F("time", MSG, TIME),
        6: F("fieldsType", STR), 7: F("fieldsV1", MSG, FIELDS_V1), 8: F("subresource", STR),
    },
    "meta.DeleteOptions": {
        1: F("gracePeriodSeconds", INT, None, KEEP), 2: F("preconditions", MSG, "meta.Preconditions"),
        3: F("orphanDependents", BOOL, None, KEEP), 4: F("propagationPolicy", STR, None, KEEP),
        5: F("dryRun", STR, None, REP),
    },
    "meta.Preconditions": {
        1: F("uid", STR, None, KEEP), 2: F("resourceVersion", STR, None, KEEP),
    },
    # ------------------------------------------------------------------------------- core/v1: pods
    "core.Pod": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.PodSpec"),
    },
    "core.PodTemplateSpec": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.PodSpec"),
    },
    "core.PodSpec": {
        1: F("volumes", MSG, "core.Volume", REP), 2: F("containers", MSG, "core.Container", REP),
        3: F("restartPolicy", STR), 4: F("terminationGracePeriodSeconds", INT, None, KEEP),
        5: F("activeDeadlineSeconds", INT, None, KEEP), 6: F("dnsPolicy", STR),
        7: F("nodeSelector", STR, None, MAP), 8: F("serviceAccountName", STR), 9: F("serviceAccount", STR),
        10: F("nodeName", STR), 11: F("hostNetwork", BOOL), 12: F("hostPID", BOOL), 13: F("hostIPC", BOOL),
        14: F("securityContext", MSG, "core.PodSecurityContext"),
        15: F("imagePullSecrets", MSG, "core.LocalObjectReference", REP), 16: F("hostname", STR),
        17: F("subdomain", STR), 18: F("affinity", MSG, "core.Affinity"), 19: F("schedulerName", STR),
        20: F("initContainers", MSG, "core.Container", REP),
        21: F("automountServiceAccountToken", BOOL, None, KEEP),
        22: F("tolerations", MSG, "core.Toleration", REP), 23: F("hostAliases", MSG, "core.HostAlias", REP),
        24: F("priorityClassName", STR), 25: F("priority", INT, None, KEEP),
        26: F("dnsConfig", MSG, "core.PodDNSConfig"), 27: F("shareProcessNamespace", BOOL, None, KEEP),
        28: F("readinessGates", MSG, "core.PodReadinessGate", REP),
        29: F("runtimeClassName", STR, None, KEEP), 30: F("enableServiceLinks", BOOL, None, KEEP),
        31: F("preemptionPolicy", STR, None, KEEP), 32: F("overhead", MSG, QUANTITY, MAP),
        33: F("topologySpreadConstraints", MSG, "core.TopologySpreadConstraint", REP),
        35: F("setHostnameAsFQDN", BOOL, None, KEEP), 36: F("os", MSG, "core.PodOS"),
        37: F("hostUsers", BOOL, None, KEEP), 38: F("schedulingGates", MSG, "core.PodSchedulingGate", REP),
        40: F("resources", MSG, "core.ResourceRequirements"),
    },
    "core.PodSecurityContext": {
        1: F("seLinuxOptions", MSG, "core.SELinuxOptions"), 2: F("runAsUser", INT, None, KEEP),
        3: F("runAsNonRoot", BOOL, None, KEEP), 4: F("supplementalGroups", INT, None, REP),
        5: F("fsGroup", INT, None, KEEP), 6: F("runAsGroup", INT, None, KEEP),
        7: F("sysctls", MSG, "core.Sysctl", REP),
        8: F("windowsOptions", MSG, "core.WindowsSecurityContextOptions"),
        9: F("fsGroupChangePolicy", STR, None, KEEP), 10: F("seccompProfile", MSG, "core.SeccompProfile"),
        11: F("appArmorProfile", MSG, "core.AppArmorProfile"),
        12: F("supplementalGroupsPolicy", STR, None, KEEP), 13: F("seLinuxChangePolicy", STR, None, KEEP),
    },
    "core.SecurityContext": {
        1: F("capabilities", MSG, "core.Capabilities"), 2: F("privileged", BOOL, None, KEEP),
        3: F("seLinuxOptions", MSG, "core.SELinuxOptions"), 4: F("runAsUser", INT, None, KEEP),
        5: F("runAsNonRoot", BOOL, None, KEEP), 6: F("readOnlyRootFilesystem", BOOL, None, KEEP),
        7: F("allowPrivilegeEscalation", BOOL, None, KEEP), 8: F("runAsGroup", INT, None, KEEP),
        9: F("procMount", STR, None, KEEP), 10: F("windowsOptions", MSG, "core.WindowsSecurityContextOptions"),
        11: F("seccompProfile", MSG, "core.SeccompProfile"), 12: F("appArmorProfile", MSG, "core.AppArmorProfile"),
    },
    "core.Capabilities": {
        1: F("add", STR, None, REP), 2: F("drop", STR, None, REP),
    },
    "core.SELinuxOptions": {
        1: F("user", STR), 2: F("role", STR), 3: F("type", STR), 4: F("level", STR),
    },
    "core.WindowsSecurityContextOptions": {
        1: F("gmsaCredentialSpecName", STR, None, KEEP), 2: F("gmsaCredentialSpec", STR, None, KEEP),
        3: F("runAsUserName", STR, None, KEEP), 4: F("hostProcess", BOOL, None, KEEP),
    },
    "core.SeccompProfile": {
        1: F("type", STR), 2: F("localhostProfile", STR, None, KEEP),
    },
    "core.AppArmorProfile": {
        1: F("type", STR), 2: F("localhostProfile", STR, None, KEEP),
    },
    "core.Sysctl": {
        1: F("name", STR), 2: F("value", STR),
    },
    "core.Container": {
        1: F("name", STR), 2: F("image", STR), 3: F("command", STR, None, REP), 4: F("args", STR, None, REP),
        5: F("workingDir", STR), 6: F("ports", MSG, "core.ContainerPort", REP),
        7: F("env", MSG, "core.EnvVar", REP), 8: F("resources", MSG, "core.ResourceRequirements"),
        9: F("volumeMounts", MSG, "core.VolumeMount", REP), 10: F("livenessProbe", MSG, "core.Probe"),
        11: F("readinessProbe", MSG, "core.Probe"), 12: F("lifecycle", MSG, "core.Lifecycle"),
        13: F("terminationMessagePath", STR), 14: F("imagePullPolicy", STR),
        15: F("securityContext", MSG, "core.SecurityContext"), 16: F("stdin", BOOL), 17: F("stdinOnce", BOOL),
        18: F("tty", BOOL), 19: F("envFrom", MSG, "core.EnvFromSource", REP),
        20: F("terminationMessagePolicy", STR), 21: F("volumeDevices", MSG, "core.VolumeDevice", REP),
        22: F("startupProbe", MSG, "core.Probe"), 23: F("resizePolicy", MSG, "core.ContainerResizePolicy", REP),
        24: F("restartPolicy", STR, None, KEEP),
    },
    "core.ContainerPort": {
        1: F("name", STR), 2: F("hostPort", INT), 3: F("containerPort", INT, None, KEEP),
        4: F("protocol", STR), 5: F("hostIP", STR),
    },
    "core.ContainerResizePolicy": {
        1: F("resourceName", STR), 2: F("restartPolicy", STR),
    },
    "core.EnvVar": {
        1: F("name", STR), 2: F("value", STR), 3: F("valueFrom", MSG, "core.EnvVarSource"),
    },
    "core.EnvVarSource": {
        1: F("fieldRef", MSG, "core.ObjectFieldSelector"),
        2: F("resourceFieldRef", MSG, "core.ResourceFieldSelector"),
        3: F("configMapKeyRef", MSG, "core.ConfigMapKeySelector"),
        4: F("secretKeyRef", MSG, "core.SecretKeySelector"), 5: F("fileKeyRef", MSG, "core.FileKeySelector"),
    },
    "core.ObjectFieldSelector": {
        1: F("apiVersion", STR), 2: F("fieldPath", STR),
    },
    "core.ResourceFieldSelector": {
        1: F("containerName", STR), 2: F("resource", STR), 3: F("divisor", MSG, QUANTITY),
    },
    "core.ConfigMapKeySelector": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE), 2: F("key", STR),
        3: F("optional", BOOL, None, KEEP),
    },
    "core.SecretKeySelector": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE), 2: F("key", STR),
        3: F("optional", BOOL, None, KEEP),
    },
    "core.FileKeySelector": {
        1: F("volumeName", STR), 2: F("path", STR), 3: F("key", STR), 4: F("optional", BOOL, None, KEEP),
    },
    "core.EnvFromSource": {
        1: F("prefix", STR), 2: F("configMapRef", MSG, "core.ConfigMapEnvSource"),
        3: F("secretRef", MSG, "core.SecretEnvSource"),
    },
    "core.ConfigMapEnvSource": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE),
        2: F("optional", BOOL, None, KEEP),
    },
    "core.SecretEnvSource": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE),
        2: F("optional", BOOL, None, KEEP),
    },
    "core.ResourceRequirements": {
        1: F("limits", MSG, QUANTITY, MAP), 2: F("requests", MSG, QUANTITY, MAP),
        3: F("claims", MSG, "core.ResourceClaim", REP),
    },
    "core.ResourceClaim": {
        1: F("name", STR), 2: F("request", STR),
    },
    "core.VolumeMount": {
        1: F("name", STR), 2: F("readOnly", BOOL), 3: F("mountPath", STR), 4: F("subPath", STR),
        5: F("mountPropagation", STR, None, KEEP), 6: F("subPathExpr", STR),
        7: F("recursiveReadOnly", STR, None, KEEP),
    },
    "core.VolumeDevice": {
        1: F("name", STR), 2: F("devicePath", STR),
    },
    "core.Probe": {
        1: F("handler", MSG, "core.ProbeHandler", INLINE), 2: F("initialDelaySeconds", INT),
        3: F("timeoutSeconds", INT), 4: F("periodSeconds", INT), 5: F("successThreshold", INT),
        6: F("failureThreshold", INT), 7: F("terminationGracePeriodSeconds", INT, None, KEEP),
    },
    "core.ProbeHandler": {
        1: F("exec", MSG, "core.ExecAction"), 2: F("httpGet", MSG, "core.HTTPGetAction"),
        3: F("tcpSocket", MSG, "core.TCPSocketAction"), 4: F("grpc", MSG, "core.GRPCAction"),
    },
    "core.ExecAction": {
        1: F("command", STR, None, REP),
    },
    "core.HTTPGetAction": {
        1: F("path", STR), 2: F("port", MSG, INT_OR_STRING), 3: F("host", STR), 4: F("scheme", STR),
        5: F("httpHeaders", MSG, "core.HTTPHeader", REP),
    },
    "core.HTTPHeader": {
        1: F("name", STR), 2: F("value", STR),
    },
    "core.TCPSocketAction": {
        1: F("port", MSG, INT_OR_STRING), 2: F("host", STR),
    },
    "core.GRPCAction": {
        1: F("port", INT, None, KEEP), 2: F("service", STR, None, KEEP),
    },
    "core.Lifecycle": {
        1: F("postStart", MSG, "core.LifecycleHandler"), 2: F("preStop", MSG, "core.LifecycleHandler"),
        3: F("stopSignal", STR, None, KEEP),
    },
    "core.LifecycleHandler": {
        1: F("exec", MSG, "core.ExecAction"), 2: F("httpGet", MSG, "core.HTTPGetAction"),
        3: F("tcpSocket", MSG, "core.TCPSocketAction"), 4: F("sleep", MSG, "core.SleepAction"),
    },
    "core.SleepAction": {
        1: F("seconds", INT, None, KEEP),
    },
    "core.Volume": {
        1: F("name", STR), 2: F("volumeSource", MSG, "core.VolumeSource", INLINE),
    },
    # The common volume sources; the cloud/legacy ones (gcePersistentDisk = 3, ...) are unknown here.
    "core.VolumeSource": {
        1: F("hostPath", MSG, "core.HostPathVolumeSource"),
        2: F("emptyDir", MSG, "core.EmptyDirVolumeSource"), 6: F("secret", MSG, "core.SecretVolumeSource"),
        7: F("nfs", MSG, "core.NFSVolumeSource"),
        10: F("persistentVolumeClaim", MSG, "core.PersistentVolumeClaimVolumeSource"),
        16: F("downwardAPI", MSG, "core.DownwardAPIVolumeSource"),
        19: F("configMap", MSG, "core.ConfigMapVolumeSource"),
        26: F("projected", MSG, "core.ProjectedVolumeSource"), 28: F("csi", MSG, "core.CSIVolumeSource"),
        29: F("ephemeral", MSG, "core.EphemeralVolumeSource"),
    },
    "core.HostPathVolumeSource": {
        1: F("path", STR), 2: F("type", STR, None, KEEP),
    },
    "core.EmptyDirVolumeSource": {
        1: F("medium", STR), 2: F("sizeLimit", MSG, QUANTITY),
    },
    "core.SecretVolumeSource": {
        1: F("secretName", STR), 2: F("items", MSG, "core.KeyToPath", REP),
        3: F("defaultMode", INT, None, KEEP), 4: F("optional", BOOL, None, KEEP),
    },
    "core.KeyToPath": {
        1: F("key", STR), 2: F("path", STR), 3: F("mode", INT, None, KEEP),
    },
    "core.NFSVolumeSource": {
        1: F("server", STR), 2: F("path", STR), 3: F("readOnly", BOOL),
    },
    "core.PersistentVolumeClaimVolumeSource": {
        1: F("claimName", STR), 2: F("readOnly", BOOL),
    },
    "core.DownwardAPIVolumeSource": {
        1: F("items", MSG, "core.DownwardAPIVolumeFile", REP), 2: F("defaultMode", INT, None, KEEP),
    },
    "core.DownwardAPIVolumeFile": {
        1: F("path", STR), 2: F("fieldRef", MSG, "core.ObjectFieldSelector"),
        3: F("resourceFieldRef", MSG, "core.ResourceFieldSelector"), 4: F("mode", INT, None, KEEP),
    },
    "core.ConfigMapVolumeSource": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE),
        2: F("items", MSG, "core.KeyToPath", REP), 3: F("defaultMode", INT, None, KEEP),
        4: F("optional", BOOL, None, KEEP),
    },
    "core.ProjectedVolumeSource": {
        1: F("sources", MSG, "core.VolumeProjection", REP), 2: F("defaultMode", INT, None, KEEP),
    },
    "core.VolumeProjection": {
        1: F("secret", MSG, "core.SecretProjection"), 2: F("downwardAPI", MSG, "core.DownwardAPIProjection"),
        3: F("configMap", MSG, "core.ConfigMapProjection"),
        4: F("serviceAccountToken", MSG, "core.ServiceAccountTokenProjection"),
    },
    "core.SecretProjection": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE),
        2: F("items", MSG, "core.KeyToPath", REP), 4: F("optional", BOOL, None, KEEP),
    },
    "core.ConfigMapProjection": {
        1: F("localObjectReference", MSG, "core.LocalObjectReference", INLINE),
        2: F("items", MSG, "core.KeyToPath", REP), 4: F("optional", BOOL, None, KEEP),
    },
    "core.DownwardAPIProjection": {
        1: F("items", MSG, "core.DownwardAPIVolumeFile", REP),
    },
    "core.ServiceAccountTokenProjection": {
        1: F("audience", STR), 2: F("expirationSeconds", INT, None, KEEP), 3: F("path", STR),
    },
    "core.CSIVolumeSource": {
        1: F("driver", STR), 2: F("readOnly", BOOL, None, KEEP), 3: F("fsType", STR, None, KEEP),
        4: F("volumeAttributes", STR, None, MAP),
        5: F("nodePublishSecretRef", MSG, "core.LocalObjectReference"),
    },
    "core.EphemeralVolumeSource": {
        1: F("volumeClaimTemplate", MSG, "core.PersistentVolumeClaimTemplate"),
    },
    "core.PersistentVolumeClaimTemplate": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.PersistentVolumeClaimSpec"),
    },
    "core.LocalObjectReference": {
        1: F("name", STR),
    },
    "core.Affinity": {
        1: F("nodeAffinity", MSG, "core.NodeAffinity"), 2: F("podAffinity", MSG, "core.PodAffinity"),
        3: F("podAntiAffinity", MSG, "core.PodAntiAffinity"),
    },
    "core.NodeAffinity": {
        1: F("requiredDuringSchedulingIgnoredDuringExecution", MSG, "core.NodeSelector"),
        2: F("preferredDuringSchedulingIgnoredDuringExecution", MSG, "core.PreferredSchedulingTerm", REP),
    },
    "core.NodeSelector": {
        1: F("nodeSelectorTerms", MSG, "core.NodeSelectorTerm", REP),
    },
    "core.NodeSelectorTerm": {
        1: F("matchExpressions", MSG, "core.NodeSelectorRequirement", REP),
        2: F("matchFields", MSG, "core.NodeSelectorRequirement", REP),
    },
    "core.NodeSelectorRequirement": {
        1: F("key", STR), 2: F("operator", STR), 3: F("values", STR, None, REP),
    },
    "core.PreferredSchedulingTerm": {
        1: F("weight", INT, None, KEEP), 2: F("preference", MSG, "core.NodeSelectorTerm"),
    },
    "core.PodAffinity": {
        1: F("requiredDuringSchedulingIgnoredDuringExecution", MSG, "core.PodAffinityTerm", REP),
        2: F("preferredDuringSchedulingIgnoredDuringExecution", MSG, "core.WeightedPodAffinityTerm", REP),
    },
    "core.PodAntiAffinity": {
        1: F("requiredDuringSchedulingIgnoredDuringExecution", MSG, "core.PodAffinityTerm", REP),
        2: F("preferredDuringSchedulingIgnoredDuringExecution", MSG, "core.WeightedPodAffinityTerm", REP),
    },
    "core.PodAffinityTerm": {
        1: F("labelSelector", MSG, "meta.LabelSelector"), 2: F("namespaces", STR, None, REP),
        3: F("topologyKey", STR), 4: F("namespaceSelector", MSG, "meta.LabelSelector"),
        5: F("matchLabelKeys", STR, None, REP), 6: F("mismatchLabelKeys", STR, None, REP),
    },
    "core.WeightedPodAffinityTerm": {
        1: F("weight", INT, None, KEEP), 2: F("podAffinityTerm", MSG, "core.PodAffinityTerm"),
    },
    "core.Toleration": {
        1: F("key", STR), 2: F("operator", STR), 3: F("value", STR), 4: F("effect", STR),
        5: F("tolerationSeconds", INT, None, KEEP),
    },
    "core.TopologySpreadConstraint": {
        1: F("maxSkew", INT, None, KEEP), 2: F("topologyKey", STR), 3: F("whenUnsatisfiable", STR),
        4: F("labelSelector", MSG, "meta.LabelSelector"), 5: F("minDomains", INT, None, KEEP),
        6: F("nodeAffinityPolicy", STR, None, KEEP), 7: F("nodeTaintsPolicy", STR, None, KEEP),
        8: F("matchLabelKeys", STR, None, REP),
    },
    "core.HostAlias": {
        1: F("ip", STR), 2: F("hostnames", STR, None, REP),
    },
    "core.PodDNSConfig": {
        1: F("nameservers", STR, None, REP), 2: F("searches", STR, None, REP),
        3: F("options", MSG, "core.PodDNSConfigOption", REP),
    },
    "core.PodDNSConfigOption": {
        1: F("name", STR), 2: F("value", STR, None, KEEP),
    },
    "core.PodReadinessGate": {
        1: F("conditionType", STR),
    },
    "core.PodOS": {
        1: F("name", STR),
    },
    "core.PodSchedulingGate": {
        1: F("name", STR),
    },
    # --------------------------------------------------------------------------- core/v1: the rest
    "core.Service": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.ServiceSpec"),
    },
    "core.ServiceSpec": {
        1: F("ports", MSG, "core.ServicePort", REP), 2: F("selector", STR, None, MAP), 3: F("clusterIP", STR),
        4: F("type", STR), 5: F("externalIPs", STR, None, REP), 7: F("sessionAffinity", STR),
        8: F("loadBalancerIP", STR), 9: F("loadBalancerSourceRanges", STR, None, REP),
        10: F("externalName", STR), 11: F("externalTrafficPolicy", STR), 12: F("healthCheckNodePort", INT),
        13: F("publishNotReadyAddresses", BOOL),
        14: F("sessionAffinityConfig", MSG, "core.SessionAffinityConfig"),
        17: F("ipFamilyPolicy", STR, None, KEEP), 18: F("clusterIPs", STR, None, REP),
        19: F("ipFamilies", STR, None, REP), 20: F("allocateLoadBalancerNodePorts", BOOL, None, KEEP),
        21: F("loadBalancerClass", STR, None, KEEP), 22: F("internalTrafficPolicy", STR, None, KEEP),
    },
    "core.ServicePort": {
        1: F("name", STR), 2: F("protocol", STR), 3: F("port", INT, None, KEEP),
        4: F("targetPort", MSG, INT_OR_STRING), 5: F("nodePort", INT), 6: F("appProtocol", STR, None, KEEP),
    },
    "core.SessionAffinityConfig": {
        1: F("clientIP", MSG, "core.ClientIPConfig"),
    },
    "core.ClientIPConfig": {
        1: F("timeoutSeconds", INT, None, KEEP),
    },
    "core.Namespace": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.NamespaceSpec"),
    },
    "core.NamespaceSpec": {
        1: F("finalizers", STR, None, REP),
    },
    "core.ConfigMap": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("data", STR, None, MAP),
        3: F("binaryData", BYTES, None, MAP), 4: F("immutable", BOOL, None, KEEP),
    },
    "core.Secret": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("data", BYTES, None, MAP), 3: F("type", STR),
        4: F("stringData", STR, None, MAP), 5: F("immutable", BOOL, None, KEEP),
    },
    "core.ServiceAccount": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("secrets", MSG, "core.ObjectReference", REP),
        3: F("imagePullSecrets", MSG, "core.LocalObjectReference", REP),
        4: F("automountServiceAccountToken", BOOL, None, KEEP),
    },
    "core.ObjectReference": {
        1: F("kind", STR), 2: F("namespace", STR), 3: F("name", STR), 4: F("uid", STR),
        5: F("apiVersion", STR), 6: F("resourceVersion", STR), 7: F("fieldPath", STR),
    },
    "core.ResourceQuota": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.ResourceQuotaSpec"),
    },
    "core.ResourceQuotaSpec": {
        1: F("hard", MSG, QUANTITY, MAP), 2: F("scopes", STR, None, REP),
        3: F("scopeSelector", MSG, "core.ScopeSelector"),
    },
    "core.ScopeSelector": {
        1: F("matchExpressions", MSG, "core.ScopedResourceSelectorRequirement", REP),
    },
    "core.ScopedResourceSelectorRequirement": {
        1: F("scopeName", STR), 2: F("operator", STR), 3: F("values", STR, None, REP),
    },
    "core.PersistentVolumeClaim": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "core.PersistentVolumeClaimSpec"),
    },
    "core.PersistentVolumeClaimSpec": {
        1: F("accessModes", STR, None, REP), 2: F("resources", MSG, "core.VolumeResourceRequirements"),
        3: F("volumeName", STR), 4: F("selector", MSG, "meta.LabelSelector"),
        5: F("storageClassName", STR, None, KEEP), 6: F("volumeMode", STR, None, KEEP),
        7: F("dataSource", MSG, "core.TypedLocalObjectReference"),
        8: F("dataSourceRef", MSG, "core.TypedObjectReference"),
        9: F("volumeAttributesClassName", STR, None, KEEP),
    },
    "core.VolumeResourceRequirements": {
        1: F("limits", MSG, QUANTITY, MAP), 2: F("requests", MSG, QUANTITY, MAP),
    },
    "core.TypedLocalObjectReference": {
        1: F("apiGroup", STR, None, KEEP), 2: F("kind", STR), 3: F("name", STR),
    },
    "core.TypedObjectReference": {
        1: F("apiGroup", STR, None, KEEP), 2: F("kind", STR), 3: F("name", STR),
        4: F("namespace", STR, None, KEEP),
    },
    # ------------------------------------------------------------------------------------- apps/v1
    "apps.Deployment": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "apps.DeploymentSpec"),
    },
    "apps.DeploymentSpec": {
        1: F("replicas", INT, None, KEEP), 2: F("selector", MSG, "meta.LabelSelector"),
        3: F("template", MSG, "core.PodTemplateSpec"), 4: F("strategy", MSG, "apps.DeploymentStrategy"),
        5: F("minReadySeconds", INT), 6: F("revisionHistoryLimit", INT, None, KEEP), 7: F("paused", BOOL),
        9: F("progressDeadlineSeconds", INT, None, KEEP),
    },
    "apps.DeploymentStrategy": {
        1: F("type", STR), 2: F("rollingUpdate", MSG, "apps.RollingUpdateDeployment"),
    },
    "apps.RollingUpdateDeployment": {
        1: F("maxUnavailable", MSG, INT_OR_STRING), 2: F("maxSurge", MSG, INT_OR_STRING),
    },
    "apps.ReplicaSet": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "apps.ReplicaSetSpec"),
    },
    "apps.ReplicaSetSpec": {
        1: F("replicas", INT, None, KEEP), 2: F("selector", MSG, "meta.LabelSelector"),
        3: F("template", MSG, "core.PodTemplateSpec"), 4: F("minReadySeconds", INT),
    },
    "apps.StatefulSet": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "apps.StatefulSetSpec"),
    },
    "apps.StatefulSetSpec": {
        1: F("replicas", INT, None, KEEP), 2: F("selector", MSG, "meta.LabelSelector"),
        3: F("template", MSG, "core.PodTemplateSpec"),
        4: F("volumeClaimTemplates", MSG, "core.PersistentVolumeClaim", REP), 5: F("serviceName", STR),
        6: F("podManagementPolicy", STR), 7: F("updateStrategy", MSG, "apps.StatefulSetUpdateStrategy"),
        8: F("revisionHistoryLimit", INT, None, KEEP), 9: F("minReadySeconds", INT),
        10: F("persistentVolumeClaimRetentionPolicy", MSG,
              "apps.StatefulSetPersistentVolumeClaimRetentionPolicy"),
        11: F("ordinals", MSG, "apps.StatefulSetOrdinals"),
    },
    "apps.StatefulSetUpdateStrategy": {
        1: F("type", STR), 2: F("rollingUpdate", MSG, "apps.RollingUpdateStatefulSetStrategy"),
    },
    "apps.RollingUpdateStatefulSetStrategy": {
        1: F("partition", INT, None, KEEP), 2: F("maxUnavailable", MSG, INT_OR_STRING),
    },
    "apps.StatefulSetPersistentVolumeClaimRetentionPolicy": {
        1: F("whenDeleted", STR), 2: F("whenScaled", STR),
    },
    "apps.StatefulSetOrdinals": {
        1: F("start", INT),
    },
    "apps.DaemonSet": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "apps.DaemonSetSpec"),
    },
    "apps.DaemonSetSpec": {
        1: F("selector", MSG, "meta.LabelSelector"), 2: F("template", MSG, "core.PodTemplateSpec"),
        3: F("updateStrategy", MSG, "apps.DaemonSetUpdateStrategy"), 4: F("minReadySeconds", INT),
        6: F("revisionHistoryLimit", INT, None, KEEP),
    },
    "apps.DaemonSetUpdateStrategy": {
        1: F("type", STR), 2: F("rollingUpdate", MSG, "apps.RollingUpdateDaemonSet"),
    },
    "apps.RollingUpdateDaemonSet": {
        1: F("maxUnavailable", MSG, INT_OR_STRING), 2: F("maxSurge", MSG, INT_OR_STRING),
    },
    # ------------------------------------------------------------------------------------ batch/v1
    "batch.Job": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "batch.JobSpec"),
    },
    "batch.JobSpec": {
        1: F("parallelism", INT, None, KEEP), 2: F("completions", INT, None, KEEP),
        3: F("activeDeadlineSeconds", INT, None, KEEP), 4: F("selector", MSG, "meta.LabelSelector"),
        5: F("manualSelector", BOOL, None, KEEP), 6: F("template", MSG, "core.PodTemplateSpec"),
        7: F("backoffLimit", INT, None, KEEP), 8: F("ttlSecondsAfterFinished", INT, None, KEEP),
        9: F("completionMode", STR, None, KEEP), 10: F("suspend", BOOL, None, KEEP),
        11: F("podFailurePolicy", MSG, "batch.PodFailurePolicy"),
        12: F("backoffLimitPerIndex", INT, None, KEEP), 13: F("maxFailedIndexes", INT, None, KEEP),
        14: F("podReplacementPolicy", STR, None, KEEP), 15: F("managedBy", STR, None, KEEP),
    },
    "batch.PodFailurePolicy": {
        1: F("rules", MSG, "batch.PodFailurePolicyRule", REP),
    },
    "batch.PodFailurePolicyRule": {
        1: F("action", STR), 2: F("onExitCodes", MSG, "batch.PodFailurePolicyOnExitCodesRequirement"),
        3: F("onPodConditions", MSG, "batch.PodFailurePolicyOnPodConditionsPattern", REP),
    },
    "batch.PodFailurePolicyOnExitCodesRequirement": {
        1: F("containerName", STR, None, KEEP), 2: F("operator", STR), 3: F("values", INT, None, REP),
    },
    "batch.PodFailurePolicyOnPodConditionsPattern": {
        1: F("type", STR), 2: F("status", STR),
    },
    "batch.CronJob": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "batch.CronJobSpec"),
    },
    "batch.CronJobSpec": {
        1: F("schedule", STR), 2: F("startingDeadlineSeconds", INT, None, KEEP),
        3: F("concurrencyPolicy", STR), 4: F("suspend", BOOL, None, KEEP),
        5: F("jobTemplate", MSG, "batch.JobTemplateSpec"), 6: F("successfulJobsHistoryLimit", INT, None, KEEP),
        7: F("failedJobsHistoryLimit", INT, None, KEEP), 8: F("timeZone", STR, None, KEEP),
    },
    "batch.JobTemplateSpec": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "batch.JobSpec"),
    },
    # ------------------------------------------------------------------------------ autoscaling/v1
    "autoscaling.Scale": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "autoscaling.ScaleSpec"),
    },
    "autoscaling.ScaleSpec": {
        1: F("replicas", INT, None, KEEP),
    },
    # ------------------------------------------------------------------- authentication.k8s.io/v1
    "authentication.TokenRequest": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "authentication.TokenRequestSpec"),
    },
    "authentication.TokenRequestSpec": {
        1: F("audiences", STR, None, REP), 3: F("boundObjectRef", MSG, "authentication.BoundObjectReference"),
        4: F("expirationSeconds", INT, None, KEEP),
    },
    "authentication.BoundObjectReference": {
        1: F("kind", STR), 2: F("apiVersion", STR), 3: F("name", STR), 4: F("uid", STR),
    },
    # ----------------------------------------------------------------------------------- policy/v1
    "policy.PodDisruptionBudget": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "policy.PodDisruptionBudgetSpec"),
    },
    "policy.PodDisruptionBudgetSpec": {
        1: F("minAvailable", MSG, INT_OR_STRING), 2: F("selector", MSG, "meta.LabelSelector"),
        3: F("maxUnavailable", MSG, INT_OR_STRING), 4: F("unhealthyPodEvictionPolicy", STR, None, KEEP),
    },
    "policy.Eviction": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("deleteOptions", MSG, "meta.DeleteOptions"),
    },
    # ------------------------------------------------------------------- rbac.authorization.k8s.io/v1
    "rbac.Role": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("rules", MSG, "rbac.PolicyRule", REP),
    },
    "rbac.ClusterRole": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("rules", MSG, "rbac.PolicyRule", REP),
        3: F("aggregationRule", MSG, "rbac.AggregationRule"),
    },
    "rbac.AggregationRule": {
        1: F("clusterRoleSelectors", MSG, "meta.LabelSelector", REP),
    },
    "rbac.PolicyRule": {
        1: F("verbs", STR, None, REP), 2: F("apiGroups", STR, None, REP), 3: F("resources", STR, None, REP),
        4: F("resourceNames", STR, None, REP), 5: F("nonResourceURLs", STR, None, REP),
    },
    "rbac.RoleBinding": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("subjects", MSG, "rbac.Subject", REP),
        3: F("roleRef", MSG, "rbac.RoleRef"),
    },
    "rbac.ClusterRoleBinding": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("subjects", MSG, "rbac.Subject", REP),
        3: F("roleRef", MSG, "rbac.RoleRef"),
    },
    "rbac.Subject": {
        1: F("kind", STR), 2: F("apiGroup", STR), 3: F("name", STR), 4: F("namespace", STR),
    },
    "rbac.RoleRef": {
        1: F("apiGroup", STR, None, KEEP), 2: F("kind", STR), 3: F("name", STR),
    },
    # ------------------------------------------------------------------------ networking.k8s.io/v1
    "networking.Ingress": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "networking.IngressSpec"),
    },
    "networking.IngressSpec": {
        1: F("defaultBackend", MSG, "networking.IngressBackend"), 2: F("tls", MSG, "networking.IngressTLS", REP),
        3: F("rules", MSG, "networking.IngressRule", REP), 4: F("ingressClassName", STR, None, KEEP),
    },
    "networking.IngressBackend": {
        3: F("resource", MSG, "core.TypedLocalObjectReference"),
        4: F("service", MSG, "networking.IngressServiceBackend"),
    },
    "networking.IngressServiceBackend": {
        1: F("name", STR), 2: F("port", MSG, "networking.ServiceBackendPort"),
    },
    "networking.ServiceBackendPort": {
        1: F("name", STR), 2: F("number", INT),
    },
    "networking.IngressTLS": {
        1: F("hosts", STR, None, REP), 2: F("secretName", STR),
    },
    "networking.IngressRule": {
        1: F("host", STR), 2: F("ingressRuleValue", MSG, "networking.IngressRuleValue", INLINE),
    },
    "networking.IngressRuleValue": {
        1: F("http", MSG, "networking.HTTPIngressRuleValue"),
    },
    "networking.HTTPIngressRuleValue": {
        1: F("paths", MSG, "networking.HTTPIngressPath", REP),
    },
    "networking.HTTPIngressPath": {
        1: F("path", STR), 2: F("backend", MSG, "networking.IngressBackend"), 3: F("pathType", STR, None, KEEP),
    },
    "networking.IngressClass": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "networking.IngressClassSpec"),
    },
    "networking.IngressClassSpec": {
        1: F("controller", STR), 2: F("parameters", MSG, "networking.IngressClassParametersReference"),
    },
    # The proto names field 1 "aPIGroup"; its JSON name is apiGroup.
    "networking.IngressClassParametersReference": {
        1: F("apiGroup", STR, None, KEEP), 2: F("kind", STR), 3: F("name", STR), 4: F("scope", STR, None, KEEP),
        5: F("namespace", STR, None, KEEP),
    },
    "networking.NetworkPolicy": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("spec", MSG, "networking.NetworkPolicySpec"),
    },
    "networking.NetworkPolicySpec": {
        1: F("podSelector", MSG, "meta.LabelSelector"),
        2: F("ingress", MSG, "networking.NetworkPolicyIngressRule", REP),
        3: F("egress", MSG, "networking.NetworkPolicyEgressRule", REP), 4: F("policyTypes", STR, None, REP),
    },
    "networking.NetworkPolicyIngressRule": {
        1: F("ports", MSG, "networking.NetworkPolicyPort", REP),
        2: F("from", MSG, "networking.NetworkPolicyPeer", REP),
    },
    "networking.NetworkPolicyEgressRule": {
        1: F("ports", MSG, "networking.NetworkPolicyPort", REP),
        2: F("to", MSG, "networking.NetworkPolicyPeer", REP),
    },
    "networking.NetworkPolicyPeer": {
        1: F("podSelector", MSG, "meta.LabelSelector"), 2: F("namespaceSelector", MSG, "meta.LabelSelector"),
        3: F("ipBlock", MSG, "networking.IPBlock"),
    },
    "networking.NetworkPolicyPort": {
        1: F("protocol", STR, None, KEEP), 2: F("port", MSG, INT_OR_STRING), 3: F("endPort", INT, None, KEEP),
    },
    "networking.IPBlock": {
        1: F("cidr", STR), 2: F("except", STR, None, REP),
    },
    # ------------------------------------------------------------------------ scheduling.k8s.io/v1
    "scheduling.PriorityClass": {
        1: F("metadata", MSG, "meta.ObjectMeta"), 2: F("value", INT, None, KEEP), 3: F("globalDefault", BOOL),
        4: F("description", STR), 5: F("preemptionPolicy", STR, None, KEEP),
    },
}

# (apiVersion, kind) from the envelope -> the message in raw.
TYPES: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "core.Pod",
    ("v1", "Service"): "core.Service",
    ("v1", "Namespace"): "core.Namespace",
    ("v1", "ConfigMap"): "core.ConfigMap",
    ("v1", "Secret"): "core.Secret",
    ("v1", "ServiceAccount"): "core.ServiceAccount",
    ("v1", "ResourceQuota"): "core.ResourceQuota",
    ("v1", "PersistentVolumeClaim"): "core.PersistentVolumeClaim",
    ("apps/v1", "Deployment"): "apps.Deployment",
    ("apps/v1", "ReplicaSet"): "apps.ReplicaSet",
    ("apps/v1", "StatefulSet"): "apps.StatefulSet",
    ("apps/v1", "DaemonSet"): "apps.DaemonSet",
    ("batch/v1", "Job"): "batch.Job",
    ("batch/v1", "CronJob"): "batch.CronJob",
    ("autoscaling/v1", "Scale"): "autoscaling.Scale",
    ("authentication.k8s.io/v1", "TokenRequest"): "authentication.TokenRequest",
    ("policy/v1", "PodDisruptionBudget"): "policy.PodDisruptionBudget",
    ("policy/v1", "Eviction"): "policy.Eviction",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.ClusterRoleBinding",
    ("networking.k8s.io/v1", "Ingress"): "networking.Ingress",
    ("networking.k8s.io/v1", "IngressClass"): "networking.IngressClass",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networking.NetworkPolicy",
    ("scheduling.k8s.io/v1", "PriorityClass"): "scheduling.PriorityClass",
}
# Kinds whose body is the same message whatever group version the client names in the envelope.
ANY_VERSION: dict[str, str] = {"DeleteOptions": "meta.DeleteOptions"}

# runtime.Unknown and runtime.TypeMeta (k8s.io/apimachinery/pkg/runtime/generated.proto).
_UNKNOWN_TYPE_META, _UNKNOWN_RAW, _UNKNOWN_CONTENT_ENCODING, _UNKNOWN_CONTENT_TYPE = 1, 2, 3, 4
_TYPE_META_API_VERSION, _TYPE_META_KIND = 1, 2

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5
_U64 = 1 << 64


# --------------------------------------------------------------------------------------- wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    end = min(len(buf), pos + 10)
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & (_U64 - 1), pos
        shift += 7
    raise ProtobufError("truncated or overlong varint" if pos < len(buf) else "truncated varint")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field: an int for varint/fixed, bytes for length-delimited."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0 is invalid")
        value: int | bytes
        if wt == _VARINT:
            value, pos = _varint(buf, pos)
        elif wt == _I64:
            if pos + 8 > n:
                raise ProtobufError(f"field {num}: truncated 64-bit value")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wt == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > n:
                raise ProtobufError(f"field {num}: length {size} runs past the end of the message")
            value, pos = buf[pos:pos + size], pos + size
        elif wt == _I32:
            if pos + 4 > n:
                raise ProtobufError(f"field {num}: truncated 32-bit value")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wt in (_SGROUP, _EGROUP):
            raise ProtobufError(f"field {num}: groups (wire type {wt}) are not used by Kubernetes")
        else:
            raise ProtobufError(f"field {num}: invalid wire type {wt}")
        yield num, wt, value


def _signed(v: int) -> int:
    # int32/int64 are two's complement on the wire (negative int32s are sign-extended to 10 bytes).
    return v - _U64 if v >= 1 << 63 else v


# ------------------------------------------------------------------------------ special messages
def _text(v: bytes, where: str) -> str:
    try:
        return v.decode()
    except UnicodeDecodeError as e:
        raise ProtobufError(f"{where}: string is not valid UTF-8") from e


def _rfc3339(buf: bytes, where: str) -> str | None:
    if not buf:
        return None  # Go marshals a zero Time as no bytes at all; JSON says null
    seconds = 0
    for num, _wt, v in _fields(buf):
        if num == 1 and isinstance(v, int):  # Timestamp {seconds = 1, nanos = 2}; metav1.Time drops nanos
            seconds = _signed(v)
    try:
        t = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError as e:
        raise ProtobufError(f"{where}: time {seconds}s is out of range") from e
    return t.isoformat().replace("+00:00", "Z")


def _special(name: str, buf: bytes, where: str) -> Any:
    if name == TIME:
        return _rfc3339(buf, where)
    if name == QUANTITY:  # Quantity {string = 1}
        for num, _wt, v in _fields(buf):
            if num == 1 and isinstance(v, bytes):
                return _text(v, where)
        return "0"
    if name == INT_OR_STRING:  # IntOrString {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}
        typ, ival, sval = 0, 0, ""
        for num, _wt, v in _fields(buf):
            if num == 1 and isinstance(v, int):
                typ = v
            elif num == 2 and isinstance(v, int):
                ival = _signed(v)
            elif num == 3 and isinstance(v, bytes):
                sval = _text(v, where)
        return sval if typ == 1 else ival
    raw = b""  # FieldsV1 {Raw = 1}: the managed fields as JSON
    for num, _wt, v in _fields(buf):
        if num == 1 and isinstance(v, bytes):
            raw = v
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ProtobufError(f"{where}: the embedded object is not JSON: {e}") from e


# --------------------------------------------------------------------------------------- decoding
def _value(f: Field, wt: int, v: int | bytes, where: str) -> Any:
    """One value of field f (one element, for repeated fields) in its JSON form."""
    if f.kind in (MSG, STR, BYTES):
        if not isinstance(v, bytes):
            raise ProtobufError(f"{where}: wire type {wt} where a length-delimited {f.kind} was expected")
        if f.kind == STR:
            return _text(v, where)
        if f.kind == BYTES:
            return base64.b64encode(v).decode()
        assert f.msg is not None
        return _special(f.msg, v, where) if f.msg in SPECIAL else decode_message(v, f.msg)
    if wt != _VARINT or not isinstance(v, int):
        raise ProtobufError(f"{where}: wire type {wt} where a varint ({f.kind}) was expected")
    return bool(v) if f.kind == BOOL else _signed(v)


def _zero_value(f: Field, where: str) -> Any:
    if f.kind == MSG:
        assert f.msg is not None
        return _special(f.msg, b"", where) if f.msg in SPECIAL else {}
    return {STR: "", BYTES: "", INT: 0, BOOL: False}[f.kind]


def _map_entry(f: Field, buf: bytes, where: str) -> tuple[str, Any]:
    """map<string, V> travels as repeated entry messages {key = 1, value = 2}."""
    value_field = Field(f.json, f.kind, f.msg)
    key, value, seen = "", None, False
    for num, wt, v in _fields(buf):
        if num == 1:
            if not isinstance(v, bytes):
                raise ProtobufError(f"{where}: map key has wire type {wt}")
            key = _text(v, where)
        elif num == 2:
            value, seen = _value(value_field, wt, v, f"{where}[{key!r}]"), True
    return key, value if seen else _zero_value(value_field, where)


def decode_message(buf: bytes, name: str) -> dict[str, Any]:
    """One message of SCHEMA[name] in its JSON form (without apiVersion/kind). SCHEMA has no cycles, so
    the recursion depth is bounded by the table, whatever the input."""
    schema = SCHEMA[name]
    out: dict[str, Any] = {}
    for num, wt, v in _fields(buf):
        f = schema.get(num)
        if f is None:
            continue  # a field newer than this table: skip it, as protobuf readers do
        where = f"{name}.{f.json}"
        if f.flags & MAP:
            if not isinstance(v, bytes):
                raise ProtobufError(f"{where}: map entry has wire type {wt}")
            key, val = _map_entry(f, v, where)
            out.setdefault(f.json, {})[key] = val
        elif f.flags & REP:
            items = out.setdefault(f.json, [])
            if isinstance(v, bytes) and f.kind in (INT, BOOL):  # packed repeated scalars
                pos = 0
                while pos < len(v):
                    x, pos = _varint(v, pos)
                    items.append(bool(x) if f.kind == BOOL else _signed(x))
            else:
                items.append(_value(f, wt, v, where))
        elif f.flags & INLINE:
            out.update(_value(f, wt, v, where))  # an embedded Go struct: its fields join ours in JSON
        else:
            val, prev = _value(f, wt, v, where), out.get(f.json)
            # A message repeated on the wire merges into the earlier one; a scalar's last value wins.
            out[f.json] = {**prev, **val} if isinstance(prev, dict) and isinstance(val, dict) else val
    for f in schema.values():
        # Go writes every non-pointer scalar, zero or not; JSON's omitempty would have left zeros out.
        if f.kind != MSG and not f.flags & (KEEP | REP | MAP | INLINE) and out.get(f.json, 1) in ("", 0):
            del out[f.json]
    return out


def _envelope(raw: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw object bytes) from the k8s\\x00 + runtime.Unknown envelope."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic bytes k8s\\x00")
    api_version = kind = encoding = ""
    obj = b""
    for num, _wt, v in _fields(raw[len(MAGIC):]):
        if not isinstance(v, bytes):
            continue
        if num == _UNKNOWN_TYPE_META:
            for n2, _w2, v2 in _fields(v):
                if n2 == _TYPE_META_API_VERSION and isinstance(v2, bytes):
                    api_version = _text(v2, "typeMeta.apiVersion")
                elif n2 == _TYPE_META_KIND and isinstance(v2, bytes):
                    kind = _text(v2, "typeMeta.kind")
        elif num == _UNKNOWN_RAW:
            obj = v
        elif num == _UNKNOWN_CONTENT_ENCODING:
            encoding = _text(v, "contentEncoding")
    if encoding:
        raise ProtobufError(f"content encoding {encoding!r} is not supported")
    if not kind:
        raise ProtobufError("the envelope names no kind (runtime.Unknown.typeMeta.kind is empty)")
    return api_version, kind, obj


def decode_object(raw: bytes) -> dict[str, Any]:
    """A protobuf request body (magic + runtime.Unknown) as the JSON object kubectl would have sent."""
    api_version, kind, obj = _envelope(raw)
    name = TYPES.get((api_version, kind)) or ANY_VERSION.get(kind)
    if name is None:
        raise ProtobufError(f"cannot decode {kind} ({api_version or 'no apiVersion'}) from protobuf: the "
                            "server's protobuf table does not have this kind")
    return {"apiVersion": api_version, "kind": kind, **decode_message(obj, name)}
