"""Server-side table printing: the ``meta.k8s.io/v1`` Table that kubectl asks for with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``.

This mirrors kube-apiserver's printers (``k8s.io/kubernetes/pkg/printers/internalversion/printers.go``) as
declarative column tables. Like the real server (``printers/storage.TableConvertor`` calls the generator with
``Wide: true``), every row carries the priority-1 cells too; kubectl drops them unless ``-o wide``.
Resources without a printer get the apiserver's default convertor (``Name``, ``Created At``); custom resources
get the apiextensions convertor built from ``additionalPrinterColumns``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "COLUMNS",
    "GENERIC_COLUMNS",
    "Column",
    "build_table",
    "columns_for",
    "custom_resource_columns",
    "human_duration",
]

Cell = Callable[[dict, datetime], Any]


@dataclass(frozen=True)
class Column:
    """One table column: its ``TableColumnDefinition`` fields plus how to compute the cell."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0  # 1 = shown by kubectl only with -o wide
    cell: Cell = field(kw_only=True)

    def definition(self) -> dict[str, Any]:
        # Every field is serialized, as TableColumnDefinition has no omitempty tags.
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


# ObjectMeta{}.SwaggerDoc() texts, which upstream uses for every Name and Age column.
NAME_DESC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATED_DESC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    "#metadata"
)
CONTAINERS_DESC = "Names of each container in the template."
IMAGES_DESC = "Images referenced by each container in the template."


# --------------------------------------------------------------------------------------------------------
# durations and timestamps


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``: ~2-3 significant figures."""
    secs = int(seconds)  # Go's int(d.Seconds()) truncates toward zero
    # Up to 2s in the future counts as "now", to tolerate clock skew between machines.
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


_FRACTION = re.compile(r"\.(\d+)")


def _parse_time(value: Any) -> datetime | None:
    """An RFC3339 (or MicroTime) string as an aware datetime; None for the Go zero time / missing."""
    if not isinstance(value, str) or not value or value == "null":
        return None
    # fromisoformat takes at most microseconds; Kubernetes may send nanoseconds.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= 1:  # "0001-01-01T00:00:00Z" is how Go writes a zero metav1.Time
        return None
    return parsed


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when unset."""
    ts = _parse_time(value)
    if ts is None:
        return "<unknown>"
    return human_duration((_aware(now) - ts).total_seconds())


def _age(obj: dict, now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


# --------------------------------------------------------------------------------------------------------
# small accessors and formatters shared by several printers


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def _status(obj: dict) -> dict:
    return obj.get("status") or {}


def _name(obj: dict, _now: datetime | None = None) -> str:
    return _meta(obj).get("name", "")


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _format_labels(labels: dict | None) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` pairs, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(selector: dict | None) -> str:
    """``LabelSelectorAsSelector(sel).String()``: requirements sorted by key, values sorted, "" if empty."""
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = sorted(str(v) for v in expr.get("values") or [])
        if op == "In":
            reqs.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def _format_label_selector(selector: dict | None) -> str:
    """``metav1.FormatLabelSelector``: like the selector string, but ``<none>`` when empty."""
    return _selector_string(selector) or "<none>"


def _containers(template_spec: dict) -> tuple[str, str]:
    """``layoutContainerCells``: comma-joined container names and images."""
    containers = template_spec.get("containers") or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _pod_template_spec(obj: dict) -> dict:
    return (_spec(obj).get("template") or {}).get("spec") or {}


def _template_cols(template_spec: Callable[[dict], dict]) -> list[Column]:
    """The wide Containers and Images columns of the workload printers."""
    return [
        _col("Containers", lambda o, n: _containers(template_spec(o))[0], priority=1,
             description=CONTAINERS_DESC),
        _col("Images", lambda o, n: _containers(template_spec(o))[1], priority=1, description=IMAGES_DESC),
    ]


def _quantity(value: Any) -> str:
    """A resource.Quantity as its String(); the zero quantity prints as ``0``."""
    if value is None or value == "":
        return "0"
    return str(value)


def _access_modes(modes: Iterable[str] | None) -> str:
    """``GetAccessModesAsString``: always in the order RWO,ROX,RWX,RWOP."""
    present = set(modes or [])
    order = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP"))
    return ",".join(short for mode, short in order if mode in present)


def _list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    """``listWithMoreString``: the first few items, then ``+ N more...``; ``<unset>`` when empty."""
    ret = ",".join(items[:limit])
    if count > limit:
        return f"{ret} + {count - limit} more..."
    return ret or "<unset>"


def _join_host_port(host: str, port: Any) -> str:
    # net.JoinHostPort brackets IPv6 literals.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _lb_status(ingress: list[dict] | None) -> str:
    """``loadBalancerStatusStringer`` with wide=true (the server never truncates): sorted unique IPs/hosts."""
    result: set[str] = set()
    for entry in ingress or []:
        if entry.get("ip"):
            result.add(entry["ip"])
        elif entry.get("hostname"):
            result.add(entry["hostname"])
    return ",".join(sorted(result))


def _bool_ptr(value: Any) -> str:
    """``printBoolPtr``."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _condition_true(conditions: list[dict] | None, ctype: str) -> bool:
    """The first condition of that type decides (as in ``hasJobCondition``)."""
    for cond in conditions or []:
        if cond.get("type") == ctype:
            return cond.get("status") == "True"
    return False


def _col(name: str, cell: Cell, type: str = "string", description: str = "", priority: int = 0,
         format: str = "") -> Column:
    return Column(name, type, format, description, priority, cell=cell)


def _name_col(cell: Cell = _name) -> Column:
    return _col("Name", cell, format="name", description=NAME_DESC)


def _age_col() -> Column:
    return _col("Age", _age, description=CREATED_DESC)


def _get(*path: str, default: Any = "") -> Cell:
    """A cell reading a nested field, with a default for anything missing."""

    def cell(obj: dict, _now: datetime) -> Any:
        cur: Any = obj
        for key in path:
            if not isinstance(cur, dict) or cur.get(key) is None:
                return default
            cur = cur[key]
        return cur

    return cell


# --------------------------------------------------------------------------------------------------------
# pods


def _finished_at(container_status: dict) -> datetime | None:
    terminated = (container_status.get("lastState") or {}).get("terminated")
    if terminated is None:
        return None
    return _parse_time(terminated.get("finishedAt"))


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    if current is None or current < candidate:
        return candidate
    return current


def _pod_summary(pod: dict, now: datetime) -> tuple[str, str, str]:
    """printPod's Ready, Status and Restarts cells, following upstream line by line."""
    spec, status = _spec(pod), _status(pod)
    restarts = 0
    sidecar_restarts = 0
    total = len(spec.get("containers") or [])
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total += len(sidecars)  # restartable init containers (sidecars) count as containers

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += _int(cs.get("restartCount"))
        finished = _finished_at(cs)
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in sidecars
        if is_sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            # initialization failed
            if not terminated.get("reason"):
                if _int(terminated.get("signal")) != 0:
                    reason = f"Init:Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        # Reversed, so that the first container's state wins the Status cell.
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += _int(cs.get("restartCount"))
            last_restart = _later(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if _int(terminated.get("signal")) != 0:
                    reason = f"Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod with one finished and one still-running container is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    if _meta(pod).get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _meta(pod).get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_str = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_str = f"{restarts} ({human_duration((_aware(now) - last_restart).total_seconds())} ago)"
    return f"{ready}/{total}", reason, restarts_str


def _pod_ip(pod: dict, _now: datetime) -> str:
    status = _status(pod)
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP") or ""
    return ip or "<none>"


def _readiness_gates(pod: dict, _now: datetime) -> str:
    gates = _spec(pod).get("readinessGates") or []
    if not gates:
        return "<none>"
    true_count = 0
    for gate in gates:
        for cond in _status(pod).get("conditions") or []:
            if cond.get("type") == gate.get("conditionType"):
                if cond.get("status") == "True":
                    true_count += 1
                break
    return f"{true_count}/{len(gates)}"


def _pod_row_conditions(pod: dict) -> list[dict] | None:
    # Upstream marks finished pods so that clients can tell them apart.
    phase = _status(pod).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


_POD_COLUMNS = [
    _name_col(),
    _col("Ready", lambda o, n: _pod_summary(o, n)[0],
         description="The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", lambda o, n: _pod_summary(o, n)[1],
         description="The aggregate status of the containers in this pod."),
    _col("Restarts", lambda o, n: _pod_summary(o, n)[2],
         description="The number of times the containers in this pod have been restarted and when the last "
         "container in this pod has restarted."),
    _age_col(),
    _col("IP", _pod_ip, priority=1, description="IP address allocated to the pod."),
    _col("Node", lambda o, n: _spec(o).get("nodeName") or "<none>", priority=1,
         description="NodeName indicates in which node this pod is scheduled."),
    _col("Nominated Node", lambda o, n: _status(o).get("nominatedNodeName") or "<none>", priority=1,
         description="nominatedNodeName is set only when this pod preempts other pods on the node."),
    _col("Readiness Gates", _readiness_gates, priority=1,
         description="If specified, all readiness gates will be evaluated for pod readiness."),
]


# --------------------------------------------------------------------------------------------------------
# nodes, namespaces and the simple core types


def _node_status(node: dict, _now: datetime) -> str:
    status: list[str] = []
    ready = [c for c in _status(node).get("conditions") or [] if c.get("type") == "Ready"]
    if ready:
        status.append("Ready" if ready[-1].get("status") == "True" else "NotReady")
    else:
        status.append("Unknown")
    if _spec(node).get("unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_roles(node: dict, _now: datetime) -> str:
    roles: set[str] = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(node: dict, _now: datetime) -> str:
        for addr in _status(node).get("addresses") or []:
            if addr.get("type") == kind:
                return addr.get("address", "")
        return "<none>"

    return cell


def _node_info(key: str) -> Cell:
    return lambda o, n: (_status(o).get("nodeInfo") or {}).get(key) or "<unknown>"


_NODE_COLUMNS = [
    _name_col(),
    _col("Status", _node_status, description="The status of the node"),
    _col("Roles", _node_roles, description="The roles of the node"),
    _age_col(),
    _col("Version", lambda o, n: (_status(o).get("nodeInfo") or {}).get("kubeletVersion", ""),
         description="Kubelet Version reported by the node."),
    _col("Internal-IP", _node_address("InternalIP"), priority=1,
         description="List of addresses reachable to the node."),
    _col("External-IP", _node_address("ExternalIP"), priority=1,
         description="List of addresses reachable to the node."),
    _col("OS-Image", _node_info("osImage"), priority=1, description="OS Image reported by the node."),
    _col("Kernel-Version", _node_info("kernelVersion"), priority=1,
         description="Kernel Version reported by the node."),
    _col("Container-Runtime", _node_info("containerRuntimeVersion"), priority=1,
         description="ContainerRuntime Version reported by the node."),
]

_NAMESPACE_COLUMNS = [
    _name_col(),
    _col("Status", _get("status", "phase"), description="The status of the namespace"),
    _age_col(),
]

_CONFIGMAP_COLUMNS = [
    _name_col(),
    _col("Data", lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
         description="Data contains the configuration data."),
    _age_col(),
]

_SECRET_COLUMNS = [
    _name_col(),
    # The API server defaults an empty type to Opaque before anything is stored.
    _col("Type", lambda o, n: o.get("type") or "Opaque",
         description="Used to facilitate programmatic handling of secret data."),
    _col("Data", lambda o, n: len(o.get("data") or {}), description="Data contains the secret data."),
    _age_col(),
]

_SERVICEACCOUNT_COLUMNS = [
    _name_col(),
    _col("Secrets", lambda o, n: len(o.get("secrets") or []),
         description="Secrets is a list of the secrets in the same namespace that pods running using this "
         "ServiceAccount are allowed to use."),
    _age_col(),
]


# --------------------------------------------------------------------------------------------------------
# services, endpoints, endpoint slices, ingresses


def _service_type(svc: dict) -> str:
    return _spec(svc).get("type") or "ClusterIP"  # defaulted by the API server


def _cluster_ip(svc: dict, _now: datetime) -> str:
    spec = _spec(svc)
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return ips[0] if ips else "<none>"


def _external_ip(svc: dict, _now: datetime) -> str:
    """``getServiceExternalIP`` with wide=true."""
    spec = _spec(svc)
    external_ips: list[str] = spec.get("externalIPs") or []
    svc_type = _service_type(svc)
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else "<none>"
    if svc_type == "LoadBalancer":
        lb_ips = _lb_status((_status(svc).get("loadBalancer") or {}).get("ingress"))
        if external_ips:
            return ",".join(([*lb_ips.split(",")] if lb_ips else []) + external_ips)
        return lb_ips or "<pending>"
    if svc_type == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_ports(svc: dict, _now: datetime) -> str:
    pieces = []
    for port in _spec(svc).get("ports") or []:
        proto = port.get("protocol") or "TCP"
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{_int(port.get('port'))}:{_int(port.get('nodePort'))}/{proto}")
        else:
            pieces.append(f"{_int(port.get('port'))}/{proto}")
    return ",".join(pieces) or "<none>"


_SERVICE_COLUMNS = [
    _name_col(),
    _col("Type", lambda o, n: _service_type(o), description="type determines how the Service is exposed."),
    _col("Cluster-IP", _cluster_ip, description="clusterIP is the IP address of the service."),
    _col("External-IP", _external_ip,
         description="externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
         "traffic for this service."),
    _col("Port(s)", _service_ports, description="The list of ports that are exposed by this service."),
    _age_col(),
    _col("Selector", lambda o, n: _format_labels(_spec(o).get("selector")), priority=1,
         description="Route service traffic to pods with label keys and values matching this selector."),
]


def _format_endpoints(ep: dict, _now: datetime) -> str:
    """``formatEndpoints`` with all ports: up to 3 ``ip:port`` then ``+ N more...``."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    items: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            # headless services may have no ports
            count += len(addresses)
            for addr in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(addr.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for addr in addresses:
                if len(items) == limit:
                    more = True
                    break
                items.append(_join_host_port(addr.get("ip", ""), _int(port.get("port"))))
    ret = ",".join(items)
    return f"{ret} + {count - limit} more..." if more else ret


_ENDPOINTS_COLUMNS = [
    _name_col(),
    _col("Endpoints", _format_endpoints,
         description="The set of all endpoints is the union of all subsets."),
    _age_col(),
]


def _slice_ports(obj: dict, _now: datetime) -> str:
    items = []
    for port in obj.get("ports") or []:
        if port.get("port") is not None:
            items.append(str(_int(port["port"])))
        elif port.get("name") is not None:
            items.append(port["name"])
        else:
            items.append("*")
    return _list_with_more(items, len(items))


def _slice_endpoints(obj: dict, _now: datetime) -> str:
    items = [addr for ep in obj.get("endpoints") or [] for addr in ep.get("addresses") or []]
    return _list_with_more(items, len(items))


_ENDPOINTSLICE_COLUMNS = [
    _name_col(),
    _col("AddressType", _get("addressType"),
         description="addressType specifies the type of address carried by this EndpointSlice."),
    _col("Ports", _slice_ports,
         description="ports specifies the list of network ports exposed by each endpoint."),
    _col("Endpoints", _slice_endpoints, description="endpoints is a list of unique endpoints in this slice."),
    _age_col(),
]


def _ingress_hosts(ing: dict, _now: datetime) -> str:
    rules = _spec(ing).get("rules") or []
    items: list[str] = []
    limit, more = 3, False
    for rule in rules:
        if len(items) == limit:
            more = True
        if not more and rule.get("host"):
            items.append(rule["host"])
    if not items:
        return "*"
    ret = ",".join(items)
    return f"{ret} + {len(rules) - limit} more..." if more else ret


_INGRESS_COLUMNS = [
    _name_col(),
    _col("Class", lambda o, n: _spec(o).get("ingressClassName") or "<none>",
         description="The name of the IngressClass resource that should be used for additional "
         "configuration"),
    _col("Hosts", _ingress_hosts,
         description="Hosts that incoming requests are matched against before the ingress rule"),
    _col("Address", lambda o, n: _lb_status((_status(o).get("loadBalancer") or {}).get("ingress")),
         description="Address is a list containing ingress points for the load-balancer"),
    _col("Ports", lambda o, n: "80, 443" if _spec(o).get("tls") else "80",
         description="Ports of TLS configurations that open"),
    _age_col(),
]


def _ingress_class_parameters(obj: dict, _now: datetime) -> str:
    params = _spec(obj).get("parameters")
    if not params:
        return "<none>"
    text = params.get("kind", "")
    if params.get("apiGroup") is not None:
        text += "." + params["apiGroup"]
    return text + "/" + params.get("name", "")


_INGRESSCLASS_COLUMNS = [
    _name_col(),
    _col("Controller", _get("spec", "controller"),
         description="Controller that is responsible for handling this class"),
    _col("Parameters", _ingress_class_parameters,
         description="A reference to a resource with additional parameters"),
    _age_col(),
]

_NETWORKPOLICY_COLUMNS = [
    _name_col(),
    _col("Pod-Selector", lambda o, n: _format_label_selector(_spec(o).get("podSelector")),
         description="Selects the pods to which this NetworkPolicy object applies."),
    _age_col(),
]


# --------------------------------------------------------------------------------------------------------
# events (core/v1 and events.k8s.io/v1 share one printer upstream: both convert to the internal core Event)


def _core_event(ev: dict) -> dict:
    """An events.k8s.io/v1 Event in core/v1 field names; core events pass through unchanged."""
    if not any(k in ev for k in ("regarding", "note", "reportingController", "deprecatedSource",
                                 "deprecatedCount", "deprecatedFirstTimestamp", "deprecatedLastTimestamp")):
        return ev
    out = dict(ev)
    out["involvedObject"] = ev.get("regarding") or ev.get("involvedObject") or {}
    out["message"] = ev.get("note", ev.get("message", ""))
    out["source"] = ev.get("deprecatedSource") or ev.get("source") or {}
    out["firstTimestamp"] = ev.get("deprecatedFirstTimestamp", ev.get("firstTimestamp"))
    out["lastTimestamp"] = ev.get("deprecatedLastTimestamp", ev.get("lastTimestamp"))
    out["count"] = ev.get("deprecatedCount", ev.get("count"))
    out["reportingComponent"] = ev.get("reportingController", ev.get("reportingComponent", ""))
    return out


def _event_first_seen(ev: dict, now: datetime) -> str:
    if _parse_time(ev.get("firstTimestamp")) is None:
        return _since(ev.get("eventTime"), now)
    return _since(ev.get("firstTimestamp"), now)


def _event_last_seen(ev: dict, now: datetime) -> str:
    if ev.get("series"):
        return _since(ev["series"].get("lastObservedTime"), now)
    if _parse_time(ev.get("lastTimestamp")) is None:
        return _event_first_seen(ev, now)
    return _since(ev.get("lastTimestamp"), now)


def _event_count(ev: dict, _now: datetime) -> int:
    if ev.get("series"):
        return _int(ev["series"].get("count"))
    # Singleton events don't have a count set in the new API.
    return _int(ev.get("count")) or 1


def _event_object(ev: dict, _now: datetime) -> str:
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(ev: dict, _now: datetime) -> str:
    """``formatEventSource``: component (or reportingComponent), then ``, host`` when known."""
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def _event_columns(adapt: Callable[[dict], dict]) -> list[Column]:
    def on(fn: Cell) -> Cell:
        return lambda o, n: fn(adapt(o), n)

    return [
        _col("Last Seen", on(_event_last_seen),
             description="The time at which the most recent occurrence of this event was recorded."),
        _col("Type", on(lambda o, n: o.get("type", "")),
             description="Type of this event (Normal, Warning), new types could be added in the future"),
        _col("Reason", on(lambda o, n: o.get("reason", "")),
             description="This should be a short, machine understandable string that gives the reason for "
                         "the transition into the object's current status."),
        _col("Object", on(_event_object), description="The object that this event is about."),
        _col("Subobject", on(lambda o, n: (o.get("involvedObject") or {}).get("fieldPath", "")), priority=1,
             description="If referring to a piece of an object instead of an entire object, this string "
             "should contain a valid JSON/Go field access statement, such as "
             "desiredState.manifest.containers[2]."),
        _col("Source", on(_event_source), priority=1,
             description="The component reporting this event. Should be a short machine understandable "
                         "string."),
        _col("Message", on(lambda o, n: (o.get("message") or "").strip()),
             description="A human-readable description of the status of this operation."),
        _col("First Seen", on(_event_first_seen), priority=1,
             description="The time at which the event was first recorded. (Time of server receipt is in "
                         "TypeMeta.)"),
        _col("Count", on(_event_count), priority=1,
             description="The number of times this event has occurred."),
        _col("Name", on(_name), priority=1, format="name", description=NAME_DESC),
    ]


# --------------------------------------------------------------------------------------------------------
# storage


def _pv_class(pv: dict) -> str:
    # The beta annotation wins over the field, as in GetPersistentVolumeClass.
    annotations = _meta(pv).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return annotations["volume.beta.kubernetes.io/storage-class"]
    return _spec(pv).get("storageClassName") or ""


def _phase_or_terminating(obj: dict, _now: datetime) -> str:
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating"
    return _status(obj).get("phase", "")


def _pv_claim(pv: dict, _now: datetime) -> str:
    ref = _spec(pv).get("claimRef")
    if not ref:
        return ""
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


_PV_COLUMNS = [
    _name_col(),
    _col("Capacity", lambda o, n: _quantity((_spec(o).get("capacity") or {}).get("storage")),
         description="capacity is the description of the persistent volume's resources and capacity."),
    _col("Access Modes", lambda o, n: _access_modes(_spec(o).get("accessModes")),
         description="accessModes contains all ways the volume can be mounted."),
    _col("Reclaim Policy", _get("spec", "persistentVolumeReclaimPolicy"),
         description="persistentVolumeReclaimPolicy defines what happens to a persistent volume when "
         "released from its claim."),
    _col("Status", _phase_or_terminating,
         description="phase indicates if a volume is available, bound to a claim, or released by a claim."),
    _col("Claim", _pv_claim,
         description="claimRef is part of a bi-directional binding between PersistentVolume and "
                     "PersistentVolumeClaim."),
    _col("StorageClass", lambda o, n: _pv_class(o), description="StorageClass of the pv"),
    _col("VolumeAttributesClass", lambda o, n: _spec(o).get("volumeAttributesClassName") or "<unset>",
         description="VolumeAttributesClass of the pv"),
    _col("Reason", _get("status", "reason"),
         description="reason is a brief CamelCase string that describes any failure and is meant for "
                     "machine parsing and tidy display in the CLI."),
    _age_col(),
    _col("VolumeMode", lambda o, n: _spec(o).get("volumeMode") or "<unset>", priority=1,
         description="volumeMode defines if a volume is intended to be used with a formatted filesystem or "
         "to remain in raw block state."),
]


def _pvc_class(pvc: dict) -> str:
    annotations = _meta(pvc).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return annotations["volume.beta.kubernetes.io/storage-class"]
    return _spec(pvc).get("storageClassName") or ""


def _pvc_bound(fn: Callable[[dict], str]) -> Cell:
    # Capacity and access modes are shown only once the claim names a volume.
    return lambda o, n: fn(o) if _spec(o).get("volumeName") else ""


_PVC_COLUMNS = [
    _name_col(),
    _col("Status", _phase_or_terminating,
         description="phase represents the current phase of PersistentVolumeClaim."),
    _col("Volume", _get("spec", "volumeName"),
         description="volumeName is the binding reference to the PersistentVolume backing this claim."),
    _col("Capacity", _pvc_bound(lambda o: _quantity((_status(o).get("capacity") or {}).get("storage"))),
         description="capacity represents the actual resources of the underlying volume."),
    _col("Access Modes", _pvc_bound(lambda o: _access_modes(_status(o).get("accessModes"))),
         description="accessModes contains the actual access modes the volume backing the PVC has."),
    _col("StorageClass", lambda o, n: _pvc_class(o), description="StorageClass of the pvc"),
    _col("VolumeAttributesClass", lambda o, n: _spec(o).get("volumeAttributesClassName") or "<unset>",
         description="VolumeAttributesClass of the pvc"),
    _age_col(),
    _col("VolumeMode", lambda o, n: _spec(o).get("volumeMode") or "<unset>", priority=1,
         description="volumeMode defines what type of volume is required by the claim."),
]


def _storage_class_name(sc: dict, _now: datetime) -> str:
    annotations = _meta(sc).get("annotations") or {}
    default = (annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
               or annotations.get("storageclass.beta.kubernetes.io/is-default-class") == "true")
    return _name(sc) + (" (default)" if default else "")


_STORAGECLASS_COLUMNS = [
    _name_col(_storage_class_name),
    _col("Provisioner", lambda o, n: o.get("provisioner", ""),
         description="provisioner indicates the type of the provisioner."),
    _col("ReclaimPolicy", lambda o, n: o.get("reclaimPolicy") or "Delete",
         description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
         "PersistentVolumes."),
    _col("VolumeBindingMode", lambda o, n: o.get("volumeBindingMode") or "Immediate",
         description="volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and "
         "bound."),
    _col("AllowVolumeExpansion", lambda o, n: bool(o.get("allowVolumeExpansion")),
         description="allowVolumeExpansion shows whether the storage class allow volume expand."),
    _age_col(),
]


# --------------------------------------------------------------------------------------------------------
# workloads


def _replicas(obj: dict) -> int:
    return _int(_spec(obj).get("replicas"), 1)  # the API server defaults spec.replicas to 1


def _deployment_selector(obj: dict, _now: datetime) -> str:
    # printDeployment uses selector.String(), which is "" (not "<none>") for an empty selector.
    return _selector_string(_spec(obj).get("selector"))


_DEPLOYMENT_COLUMNS = [
    _name_col(),
    _col("Ready", lambda o, n: f"{_int(_status(o).get('readyReplicas'))}/{_replicas(o)}",
         description="Number of the pod with ready state"),
    _col("Up-to-date", lambda o, n: _int(_status(o).get("updatedReplicas")),
         description="Total number of non-terminated pods targeted by this deployment that have the desired "
         "template spec."),
    _col("Available", lambda o, n: _int(_status(o).get("availableReplicas")),
         description="Total number of available pods (ready for at least minReadySeconds) targeted by this "
         "deployment."),
    _age_col(),
    *_template_cols(_pod_template_spec),
    _col("Selector", _deployment_selector, priority=1,
         description="Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
         "the ones affected by this deployment."),
]

_REPLICASET_COLUMNS = [
    _name_col(),
    _col("Desired", lambda o, n: _replicas(o), type="integer",
         description="Replicas is the number of desired replicas."),
    _col("Current", lambda o, n: _int(_status(o).get("replicas")), type="integer",
         description="Replicas is the most recently observed number of replicas."),
    _col("Ready", lambda o, n: _int(_status(o).get("readyReplicas")), type="integer",
         description="The number of ready replicas for this replica set."),
    _age_col(),
    *_template_cols(_pod_template_spec),
    _col("Selector", lambda o, n: _format_label_selector(_spec(o).get("selector")), priority=1,
         description="Selector is a label query over pods that should match the replica count."),
]

_REPLICATIONCONTROLLER_COLUMNS = [
    _name_col(),
    _col("Desired", lambda o, n: _replicas(o), type="integer",
         description="Replicas is the number of desired replicas."),
    _col("Current", lambda o, n: _int(_status(o).get("replicas")), type="integer",
         description="Replicas is the most recently observed number of replicas."),
    _col("Ready", lambda o, n: _int(_status(o).get("readyReplicas")), type="integer",
         description="The number of ready replicas for this replication controller."),
    _age_col(),
    *_template_cols(_pod_template_spec),
    _col("Selector", lambda o, n: _format_labels(_spec(o).get("selector")), priority=1,
         description="Selector is a label query over pods that should match the Replicas count."),
]

_STATEFULSET_COLUMNS = [
    _name_col(),
    _col("Ready", lambda o, n: f"{_int(_status(o).get('readyReplicas'))}/{_replicas(o)}",
         description="Number of the pod with ready state"),
    _age_col(),
    *_template_cols(_pod_template_spec),
]


def _status_int(key: str) -> Cell:
    return lambda o, n: _int(_status(o).get(key))


_DAEMONSET_COLUMNS = [
    _name_col(),
    _col("Desired", _status_int("desiredNumberScheduled"), type="integer",
         description="The total number of nodes that should be running the daemon pod."),
    _col("Current", _status_int("currentNumberScheduled"), type="integer",
         description="The number of nodes that are running at least 1 daemon pod and are supposed to run the "
         "daemon pod."),
    _col("Ready", _status_int("numberReady"), type="integer",
         description="The number of nodes that should be running the daemon pod and have one or more of the "
         "daemon pod running and ready."),
    _col("Up-to-date", _status_int("updatedNumberScheduled"), type="integer",
         description="The total number of nodes that are running updated daemon pod"),
    _col("Available", _status_int("numberAvailable"), type="integer",
         description="The number of nodes that should be running the daemon pod and have one or more of the "
         "daemon pod running and available (ready for at least spec.minReadySeconds)"),
    _col("Node Selector", lambda o, n: _format_labels(_pod_template_spec(o).get("nodeSelector")),
         description="NodeSelector is a selector which must be true for the pod to fit on a node."),
    _age_col(),
    *_template_cols(_pod_template_spec),
    _col("Selector", lambda o, n: _format_label_selector(_spec(o).get("selector")), priority=1,
         description="A label query over pods that are managed by the daemon set."),
]


def _job_status(job: dict, _now: datetime) -> str:
    conditions = _status(job).get("conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _meta(job).get("deletionTimestamp"):
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(job: dict, _now: datetime) -> str:
    succeeded = _int(_status(job).get("succeeded"))
    spec = _spec(job)
    if spec.get("completions") is not None:
        return f"{succeeded}/{_int(spec['completions'])}"
    parallelism = _int(spec.get("parallelism"))
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _job_duration(job: dict, now: datetime) -> str:
    start = _parse_time(_status(job).get("startTime"))
    if start is None:
        return ""
    end = _parse_time(_status(job).get("completionTime"))
    if end is None:
        return human_duration((_aware(now) - start).total_seconds())
    return human_duration((end - start).total_seconds())


_JOB_COLUMNS = [
    _name_col(),
    _col("Status", _job_status, description="Status of the job."),
    _col("Completions", _job_completions, description="The number of pods which reached phase Succeeded."),
    _col("Duration", _job_duration, description="Time required to complete the job."),
    _age_col(),
    *_template_cols(_pod_template_spec),
    _col("Selector", lambda o, n: _format_label_selector(_spec(o).get("selector")), priority=1,
         description="A label query over pods that should match the pod count."),
]


def _cronjob_template_spec(cj: dict) -> dict:
    job_spec = (_spec(cj).get("jobTemplate") or {}).get("spec") or {}
    return (job_spec.get("template") or {}).get("spec") or {}


def _cronjob_last_schedule(cj: dict, now: datetime) -> str:
    last = _status(cj).get("lastScheduleTime")
    return _since(last, now) if last else "<none>"


_CRONJOB_COLUMNS = [
    _name_col(),
    _col("Schedule", _get("spec", "schedule"), description="The schedule in Cron format."),
    _col("Timezone", lambda o, n: _spec(o).get("timeZone") or "<none>",
         description="The time zone name for the given schedule."),
    _col("Suspend", lambda o, n: _bool_ptr(_spec(o).get("suspend")), type="boolean",
         description="This flag tells the controller to suspend subsequent executions."),
    _col("Active", lambda o, n: len(_status(o).get("active") or []), type="integer",
         description="A list of pointers to currently running jobs."),
    _col("Last Schedule", _cronjob_last_schedule,
         description="Information when was the last time the job was successfully scheduled."),
    _age_col(),
    *_template_cols(_cronjob_template_spec),
    _col("Selector", lambda o, n: _format_label_selector(
        ((_spec(o).get("jobTemplate") or {}).get("spec") or {}).get("selector")), priority=1,
         description="A label query over pods that should match the pod count."),
]


def _controller_of(obj: dict, _now: datetime) -> str:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            api_version = ref.get("apiVersion", "")
            group = api_version.split("/")[0] if "/" in api_version else ""
            kind = ref.get("kind", "")
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{ref.get('name', '')}" if group_kind else ref.get("name", "")
    return "<none>"


_CONTROLLERREVISION_COLUMNS = [
    _name_col(),
    _col("Controller", _controller_of, description="Controller of the object"),
    _col("Revision", lambda o, n: _int(o.get("revision")),
         description="Revision indicates the revision of the state represented by Data."),
    _age_col(),
]


# --------------------------------------------------------------------------------------------------------
# autoscaling, policy, coordination, scheduling, rbac, quota


def _hpa_metric_specs(hpa: dict) -> tuple[list[dict], list[dict]]:
    """spec.metrics / status.currentMetrics, synthesizing them from an autoscaling/v1 object if needed."""
    spec, status = _spec(hpa), _status(hpa)
    if "metrics" in spec or "targetCPUUtilizationPercentage" not in spec:
        return spec.get("metrics") or [], status.get("currentMetrics") or []
    specs = [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}}}]
    statuses = []
    if status.get("currentCPUUtilizationPercentage") is not None:
        statuses = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    return specs, statuses


def _q(value: Any) -> str:
    # A nil *Quantity prints as "<nil>" in Go.
    return "<nil>" if value is None else str(value)


def _hpa_targets(hpa: dict, _now: datetime) -> str:
    """``formatHPAMetrics``: ``current/target`` per metric, at most two, then ``+ N more...``."""
    specs, statuses = _hpa_metric_specs(hpa)
    if not specs:
        return "<none>"
    items: list[str] = []
    for i, metric in enumerate(specs):
        mtype = metric.get("type")
        current_status = statuses[i] if i < len(statuses) else {}
        if mtype in ("External", "Object"):
            key = "external" if mtype == "External" else "object"
            target = (metric.get(key) or {}).get("target") or {}
            cur = current_status.get(key)
            cur_values = (cur or {}).get("current") or {}
            if target.get("averageValue") is not None:
                current = "<unknown>"
                if cur is not None and cur_values.get("averageValue") is not None:
                    current = _q(cur_values["averageValue"])
                items.append(f"{current}/{_q(target['averageValue'])} (avg)")
            else:
                current = _q(cur_values.get("value")) if cur is not None else "<unknown>"
                items.append(f"{current}/{_q(target.get('value'))}")
        elif mtype == "Pods":
            target = ((metric.get("pods") or {}).get("target") or {})
            cur = current_status.get("pods")
            current = "<unknown>"
            if cur is not None:
                current = _q((cur.get("current") or {}).get("averageValue"))
            items.append(f"{current}/{_q(target.get('averageValue'))}")
        elif mtype in ("Resource", "ContainerResource"):
            key = "resource" if mtype == "Resource" else "containerResource"
            source = metric.get(key) or {}
            target = source.get("target") or {}
            cur = current_status.get(key)
            cur_values = (cur or {}).get("current") or {}
            if target.get("averageValue") is not None:
                current = _q(cur_values.get("averageValue")) if cur is not None else "<unknown>"
                items.append(f"{source.get('name', '')}: {current}/{_q(target['averageValue'])}")
            else:
                current = "<unknown>"
                if cur is not None and cur_values.get("averageUtilization") is not None:
                    current = f"{_int(cur_values['averageUtilization'])}%"
                goal = "<auto>"
                if target.get("averageUtilization") is not None:
                    goal = f"{_int(target['averageUtilization'])}%"
                items.append(f"{source.get('name', '')}: {current}/{goal}")
        else:
            items.append("<unknown type>")
    limit = 2
    if len(items) > limit:
        return f"{', '.join(items[:limit])} + {len(items) - limit} more..."
    return ", ".join(items)


_HPA_COLUMNS = [
    _name_col(),
    _col("Reference", lambda o, n: "{}/{}".format((_spec(o).get("scaleTargetRef") or {}).get("kind", ""),
                                                 (_spec(o).get("scaleTargetRef") or {}).get("name", "")),
         description="scaleTargetRef points to the target resource to scale."),
    _col("Targets", _hpa_targets,
         description="metrics contains the specifications for which to use to calculate the desired "
                     "replica count."),
    _col("MinPods", lambda o, n: str(_int(_spec(o)["minReplicas"])) if _spec(o).get("minReplicas") is not None
         else "<unset>", description="minReplicas is the lower limit for the number of replicas."),
    _col("MaxPods", lambda o, n: _int(_spec(o).get("maxReplicas")),
         description="maxReplicas is the upper limit for the number of replicas."),
    _col("Replicas", lambda o, n: _int(_status(o).get("currentReplicas")),
         description="currentReplicas is current number of replicas of pods managed by this autoscaler."),
    _age_col(),
]


def _int_or_string(value: Any) -> str:
    return "N/A" if value is None else str(value)


_PDB_COLUMNS = [
    _name_col(),
    _col("Min Available", lambda o, n: _int_or_string(_spec(o).get("minAvailable")),
         description="The minimum number of pods that must be available."),
    _col("Max Unavailable", lambda o, n: _int_or_string(_spec(o).get("maxUnavailable")),
         description="The maximum number of pods that may be unavailable."),
    _col("Allowed Disruptions", lambda o, n: _int(_status(o).get("disruptionsAllowed")), type="integer",
         description="Calculated number of pods that may be disrupted at this time."),
    _age_col(),
]

_LEASE_COLUMNS = [
    _name_col(),
    _col("Holder", lambda o, n: _spec(o).get("holderIdentity") or "",
         description="holderIdentity contains the identity of the holder of a current lease."),
    _age_col(),
]

_PRIORITYCLASS_COLUMNS = [
    _name_col(),
    _col("Value", lambda o, n: _int(o.get("value")), type="integer",
         description="value represents the integer value of this priority class."),
    _col("Global-Default", lambda o, n: bool(o.get("globalDefault")), type="boolean",
         description="globalDefault specifies whether this PriorityClass should be considered as the default "
         "priority for pods that do not have any priority class."),
    _age_col(),
    _col("PreemptionPolicy", lambda o, n: o.get("preemptionPolicy") or "",
         description="preemptionPolicy is the Policy for preempting pods with lower priority."),
]


def _subjects(kind: str) -> Cell:
    """``rbac.SubjectsStrings``: users, groups, or ``namespace/name`` service accounts, joined by ", "."""

    def cell(obj: dict, _now: datetime) -> str:
        out = []
        for subject in obj.get("subjects") or []:
            if subject.get("kind") != kind:
                continue
            if kind == "ServiceAccount":
                out.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
            else:
                out.append(subject.get("name", ""))
        return ", ".join(out)

    return cell


def _binding_columns(what: str) -> list[Column]:
    return [
        _name_col(),
        _col("Role", lambda o, n: "{}/{}".format((o.get("roleRef") or {}).get("kind", ""),
                                                (o.get("roleRef") or {}).get("name", "")),
             description="RoleRef can reference a Role in the current namespace or a ClusterRole in the "
             "global namespace."),
        _age_col(),
        _col("Users", _subjects("User"), priority=1, description=f"Users in the {what}"),
        _col("Groups", _subjects("Group"), priority=1, description=f"Groups in the {what}"),
        _col("ServiceAccounts", _subjects("ServiceAccount"), priority=1,
             description=f"ServiceAccounts in the {what}"),
    ]


def _quota_column(limits: bool) -> Cell:
    def cell(obj: dict, _now: datetime) -> str:
        hard = _status(obj).get("hard") or {}
        used = _status(obj).get("used") or {}
        parts = []
        for resource in sorted(hard):
            pieces = resource.split(".")
            is_limit = len(pieces) > 1 and pieces[0] == "limits"
            if is_limit == limits:
                parts.append(f"{resource}: {_quantity(used.get(resource))}/{_quantity(hard[resource])}")
        return ", ".join(parts)

    return cell


_RESOURCEQUOTA_COLUMNS = [
    _name_col(),
    _col("Request", _quota_column(False),
         description="Request represents a minimum amount of cpu/memory that a container may consume."),
    _col("Limit", _quota_column(True),
         description="Limits control the maximum amount of cpu/memory that a container may use independent "
         "of contention on the node."),
    _age_col(),
]


# --------------------------------------------------------------------------------------------------------
# the default convertor and custom resources


def _created_at(obj: dict, _now: datetime) -> str:
    # m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339); unset is Go's zero time.
    ts = _parse_time(_meta(obj).get("creationTimestamp"))
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


GENERIC_COLUMNS: list[Column] = [
    _name_col(),
    _col("Created At", _created_at, type="date", description=CREATED_DESC),
]


class _JSONPathError(ValueError):
    pass


def _split_brackets(path: str) -> list[tuple[str, str]]:
    """Tokenizes a kubectl-style JSONPath into (kind, text) steps: field, recurse, bracket."""
    steps: list[tuple[str, str]] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if path.startswith("..", i):
            j = i + 2
            while j < len(path) and path[j] not in ".[":
                j += 1
            steps.append(("recurse", path[i + 2:j]))
            i = j
        elif ch == ".":
            j = i + 1
            while j < len(path) and path[j] not in ".[":
                j += 1
            if j > i + 1:
                steps.append(("field", path[i + 1:j]))
            i = j
        elif ch == "[":
            depth, quote, j = 0, "", i
            while j < len(path):
                c = path[j]
                if quote:
                    if c == quote:
                        quote = ""
                elif c in "'\"":
                    quote = c
                elif c in "[(":
                    depth += 1
                elif c in "])":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(path):
                raise _JSONPathError(f"unterminated [ in {path!r}")
            steps.append(("bracket", path[i + 1:j].strip()))
            i = j + 1
        else:
            j = i
            while j < len(path) and path[j] not in ".[":
                j += 1
            steps.append(("field", path[i:j]))
            i = j
    return steps


_FILTER = re.compile(r"^\?\(\s*(.*?)\s*\)$", re.S)
_COMPARISON = re.compile(r"^(@[^=!<>~]*?)\s*(==|!=|<=|>=|<|>)\s*(.+)$", re.S)


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _compare(left: Any, op: str, right: Any) -> bool:
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == ">":
            return bool(left > right)
        if op == "<=":
            return bool(left <= right)
        return bool(left >= right)
    except TypeError:
        return False


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    if isinstance(value, list):
        return list(value)
    return []


def _apply_bracket(values: list[Any], inner: str) -> list[Any]:
    out: list[Any] = []
    match = _FILTER.match(inner)
    if match:
        expr = match.group(1)
        comparison = _COMPARISON.match(expr)
        for value in values:
            # Upstream filters only arrays.
            for item in value if isinstance(value, list) else []:
                if comparison:
                    left = _eval_steps([item], _split_brackets(comparison.group(1).strip()[1:]))
                    right = _literal(comparison.group(3))
                    if left and _compare(left[0], comparison.group(2), right):
                        out.append(item)
                elif expr.startswith("@") and _eval_steps([item], _split_brackets(expr[1:])):
                    out.append(item)
        return out
    if inner == "*":
        return [child for value in values for child in _children(value)]
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        key = inner[1:-1]
        return [v[key] for v in values if isinstance(v, dict) and key in v]
    if ":" in inner:
        parts = [int(p) if p.strip() else None for p in inner.split(":")]
        sl = slice(*parts[:3])
        return [item for v in values if isinstance(v, list) for item in v[sl]]
    try:
        index = int(inner)
    except ValueError as e:
        raise _JSONPathError(f"unsupported JSONPath segment [{inner}]") from e
    for v in values:
        if isinstance(v, list) and -len(v) <= index < len(v):
            out.append(v[index])
    return out


def _recurse(value: Any) -> Iterable[Any]:
    yield value
    for child in _children(value):
        yield from _recurse(child)


def _eval_steps(values: list[Any], steps: list[tuple[str, str]]) -> list[Any]:
    for kind, text in steps:
        if kind == "field":
            if text == "*":
                values = [child for v in values for child in _children(v)]
            elif text in ("", "$", "@"):
                continue
            else:
                # Missing keys are allowed (AllowMissingKeys(true)) and simply give no result.
                values = [v[text] for v in values if isinstance(v, dict) and text in v]
        elif kind == "recurse":
            found = [node for v in values for node in _recurse(v)]
            values = [n[text] for n in found if isinstance(n, dict) and text in n] if text else found
        else:
            values = _apply_bracket(values, text)
    return values


def _jsonpath(path: str) -> list[tuple[str, str]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    return _split_brackets(text)


def _go_text(value: Any) -> str:
    """How jsonpath's PrintResults writes one value: JSON for maps/lists, fmt.Print for scalars."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _typed_cell(col_type: str, value: Any, now: datetime) -> Any:
    """``cellForJSONValue`` from the apiextensions table convertor; None where the value doesn't fit."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if col_type == "integer" and is_number:
        return int(value)
    if col_type == "number" and is_number:
        return float(value)
    if col_type == "boolean" and isinstance(value, bool):
        return value
    if col_type == "string" and isinstance(value, str):
        return value
    if col_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        ts = _parse_time(value)
        return "<invalid>" if ts is None else human_duration((_aware(now) - ts).total_seconds())
    return None


def custom_resource_columns(additional_printer_columns: list[dict]) -> list[Column]:
    """The apiextensions-apiserver table convertor: Name, then each additionalPrinterColumn.

    A CRD version without printer columns is served with a single ``Age`` column
    (``serveDefaultColumnsIfEmpty``).
    """
    definitions = list(additional_printer_columns or []) or [
        {"name": "Age", "type": "date", "description": CREATED_DESC,
         "jsonPath": ".metadata.creationTimestamp"}
    ]
    columns = [_name_col()]
    for definition in definitions:
        path = definition.get("jsonPath") or definition.get("JSONPath") or ""
        col_type = definition.get("type", "string")
        try:
            steps = _jsonpath(path)
        except _JSONPathError:
            steps = None
        columns.append(Column(
            definition.get("name", ""),
            col_type,
            definition.get("format", ""),
            definition.get("description")
            or f"Custom resource definition column (in JSONPath format): {path}",
            _int(definition.get("priority")),
            cell=_custom_cell(steps, col_type),
        ))
    return columns


def _custom_cell(steps: list[tuple[str, str]] | None, col_type: str) -> Cell:
    def cell(obj: dict, now: datetime) -> Any:
        if steps is None:
            return None
        try:
            results = _eval_steps([obj], steps)
        except (_JSONPathError, ValueError):
            return None
        if not results:
            return None
        # Only simple paths are supported upstream, so the first result is the value.
        value = results[0]
        if col_type == "string":
            return None if value is None else _go_text(value)
        return _typed_cell(col_type, value, now)

    return cell


# --------------------------------------------------------------------------------------------------------
# registry and table building


COLUMNS: dict[str, list[Column]] = {
    "pods": _POD_COLUMNS,
    "nodes": _NODE_COLUMNS,
    "namespaces": _NAMESPACE_COLUMNS,
    "services": _SERVICE_COLUMNS,
    "endpoints": _ENDPOINTS_COLUMNS,
    "configmaps": _CONFIGMAP_COLUMNS,
    "secrets": _SECRET_COLUMNS,
    "serviceaccounts": _SERVICEACCOUNT_COLUMNS,
    "events": _event_columns(lambda ev: ev),
    "persistentvolumes": _PV_COLUMNS,
    "persistentvolumeclaims": _PVC_COLUMNS,
    "replicationcontrollers": _REPLICATIONCONTROLLER_COLUMNS,
    "resourcequotas": _RESOURCEQUOTA_COLUMNS,
    "deployments.apps": _DEPLOYMENT_COLUMNS,
    "replicasets.apps": _REPLICASET_COLUMNS,
    "statefulsets.apps": _STATEFULSET_COLUMNS,
    "daemonsets.apps": _DAEMONSET_COLUMNS,
    "controllerrevisions.apps": _CONTROLLERREVISION_COLUMNS,
    "jobs.batch": _JOB_COLUMNS,
    "cronjobs.batch": _CRONJOB_COLUMNS,
    "horizontalpodautoscalers.autoscaling": _HPA_COLUMNS,
    "endpointslices.discovery.k8s.io": _ENDPOINTSLICE_COLUMNS,
    "events.events.k8s.io": _event_columns(_core_event),
    "ingresses.networking.k8s.io": _INGRESS_COLUMNS,
    "ingressclasses.networking.k8s.io": _INGRESSCLASS_COLUMNS,
    "networkpolicies.networking.k8s.io": _NETWORKPOLICY_COLUMNS,
    "poddisruptionbudgets.policy": _PDB_COLUMNS,
    "rolebindings.rbac.authorization.k8s.io": _binding_columns("roleBinding"),
    "clusterrolebindings.rbac.authorization.k8s.io": _binding_columns("clusterRoleBinding"),
    "storageclasses.storage.k8s.io": _STORAGECLASS_COLUMNS,
    "leases.coordination.k8s.io": _LEASE_COLUMNS,
    "priorityclasses.scheduling.k8s.io": _PRIORITYCLASS_COLUMNS,
    # CRDs themselves have no printer upstream and use the default convertor.
    "customresourcedefinitions.apiextensions.k8s.io": GENERIC_COLUMNS,
}

# Row conditions (TableRow.conditions) that upstream sets for some kinds.
_ROW_CONDITIONS: dict[str, Callable[[dict], list[dict] | None]] = {"pods": _pod_row_conditions}


def columns_for(resource_key: str) -> list[Column]:
    """The printer columns for a resource key, or the default convertor's ``Name``/``Created At``."""
    return COLUMNS.get(resource_key, GENERIC_COLUMNS)


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    # "Metadata" (the default) sends a PartialObjectMetadata, as the apiserver's transformObject does.
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(obj)}


def build_table(resource_key: str, objects: list[dict], now: datetime, include_object: str = "Metadata",
                column_defs_for: Callable[[], list[Column]] | None = None) -> dict:
    """A ``meta.k8s.io/v1`` Table of ``objects``; the caller fills ``metadata`` (resourceVersion, continue).

    ``include_object`` is the ``includeObject`` query parameter: ``None`` omits each row's object,
    ``Metadata`` sends a PartialObjectMetadata and ``Object`` the full object. ``column_defs_for`` overrides
    the column lookup, e.g. ``lambda: custom_resource_columns(version["additionalPrinterColumns"])``.
    """
    # An empty includeObject means Metadata, as in the apiserver's transformObject.
    include_object = include_object or "Metadata"
    if include_object not in ("None", "Metadata", "Object"):
        raise ValueError(f"includeObject must be None, Metadata or Object, not {include_object!r}")
    columns = column_defs_for() if column_defs_for is not None else columns_for(resource_key)
    row_conditions = _ROW_CONDITIONS.get(resource_key) if column_defs_for is None else None
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [col.cell(obj, now) for col in columns]}
        if row_conditions is not None and (conditions := row_conditions(obj)):
            row["conditions"] = conditions
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [col.definition() for col in columns],
        "rows": rows,
    }
