"""What ``kubectl exec`` runs inside a simulated container: a small, honest command model.

A container is a read-only view built from the cluster: its environment (the container spec's ``env`` and
``envFrom``, ConfigMap and Secret references resolved, the service links the kubelet injects), its files
(ConfigMap, Secret, projected and downward-API volumes at their ``volumeMounts``, the service-account token,
the kubelet's ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf``, ``/proc/1/cmdline``) and the
programs its image has. Programs are Python functions in a per-cluster registry (``cluster.shell``); layers
above add their own (``register("mongosh", fn, images=["mongo"])``) and their own files (``add_files``).

What is modelled is answered exactly the way the real tools answer; what is not is said plainly:

* a binary the image does not have fails to start with runc's error, as containerd reports it;
* a binary the image has but this model does not run answers ``not simulated`` on stderr, exit 126;
* ``sh -c``/``bash -c`` scripts run simple commands joined by ``;``, ``&&``, ``||``, newlines and pipes,
  with quoting, ``$VAR``/``${VAR}``/``$?``/``$(...)`` expansion, globbing, assignments and the redirections
  ``>/dev/null``, ``2>&1``, ``>&2`` and ``< file``; compound commands (``if``, ``for``, ``while``, ``case``,
  subshells) are refused with a syntax error rather than half-run;
* the filesystem is read-only (writing a file fails with ``Read-only file system``), and only the files
  listed above exist;
* a program runs to completion at once, on all the input it was given (stdin is read to its end first):
  ``sleep`` returns immediately and ``tail -f`` prints the tail and ends.

Built-in programs: ``sh``/``ash``/``bash`` (``-c SCRIPT``, ``FILE`` or a script on stdin), ``echo``,
``printf``, ``cat``, ``env``, ``printenv``, ``ls``, ``hostname``, ``id``, ``date``, ``true``, ``false``,
``ps`` (where the image has procps), ``head``, ``tail``, ``grep``, ``wc``, ``sort``, ``tr``, ``sleep``,
``pwd``, ``test``/``[``; inside scripts also ``exit``, ``cd``, ``export``, ``unset``, ``set -e``, ``.``.
Messages follow the image's userland: busybox (busybox, alpine) or GNU coreutils with dash as ``sh``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import math
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cluster.sim.quantity import QuantityError, cpu_millis, memory_bytes
from cluster.sim.runtime.images import normalize

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLUSTER_DOMAIN = "cluster.local"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

# Images without a shell or coreutils: only their own binaries exist (none of which this model runs).
DISTROLESS: dict[str, tuple[str, ...]] = {
    "registry.k8s.io/pause": ("pause",),
    "registry.k8s.io/coredns/coredns": ("coredns",),
    "registry.k8s.io/kube-apiserver": ("kube-apiserver",),
    "registry.k8s.io/kube-controller-manager": ("kube-controller-manager",),
    "registry.k8s.io/kube-scheduler": ("kube-scheduler",),
    "registry.k8s.io/metrics-server/metrics-server": ("metrics-server",),
    "registry.k8s.io/etcd": ("etcd", "etcdctl", "etcdutl"),
}
# Busybox userland (ash as sh, no bash).
BUSYBOX = {"docker.io/library/busybox", "docker.io/library/alpine"}
# Binaries an image is known to have besides what the catalog lists, which this model does not run.
KNOWN_BINARIES: dict[str, tuple[str, ...]] = {
    "docker.io/library/nginx": ("nginx", "curl"),
    "docker.io/library/redis": ("redis-server", "redis-cli", "redis-benchmark"),
    "docker.io/library/mongo": ("mongod", "mongosh", "mongos"),
    "docker.io/library/postgres": ("postgres", "psql", "pg_isready", "pg_dump"),
    "docker.io/library/mysql": ("mysqld", "mysql", "mysqladmin", "mysqldump"),
    "docker.io/library/memcached": ("memcached",),
    "docker.io/library/httpd": ("httpd", "apachectl"),
}
# The process an image runs when the pod gives no command (what /proc/1/cmdline shows).
ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    "docker.io/library/nginx": ("nginx: master process nginx -g daemon off;",),
    "docker.io/library/redis": ("redis-server *:6379",),
    "docker.io/library/mongo": ("mongod", "--bind_ip_all"),
    "docker.io/library/postgres": ("postgres",),
    "docker.io/library/mysql": ("mysqld",),
    "docker.io/library/memcached": ("memcached",),
    "docker.io/library/httpd": ("httpd", "-DFOREGROUND"),
    "docker.io/library/busybox": ("sh",),
    "docker.io/library/alpine": ("/bin/sh",),
    "docker.io/library/ubuntu": ("/bin/bash",),
    "docker.io/library/debian": ("bash",),
    "docker.io/library/python": ("python3",),
    "registry.k8s.io/pause": ("/pause",),
}
# Programs that exist only where the image catalog lists them (debian-based images have no procps).
LISTED_ONLY = {"ps"}


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


class ExecStartError(Exception):
    """The runtime could not start the process; the message is runc's, as containerd passes it on."""


Program = Callable[["ExecContext"], ExecResult]
FileSource = Callable[["ExecContext"], dict[str, bytes]]


# ------------------------------------------------------------------------------------------- filesystem
class Filesystem:
    """A read-only tree: absolute file paths to contents, plus the directories that exist."""

    def __init__(self, files: dict[str, bytes], dirs: Iterable[str]):
        self.files = {posixpath.normpath(p): data for p, data in files.items()}
        self.dirs = {"/"}
        for d in dirs:
            self._add_dir(posixpath.normpath(d))
        for p in self.files:
            self._add_dir(posixpath.dirname(p))

    def _add_dir(self, d: str) -> None:
        while d not in self.dirs:
            self.dirs.add(d)
            d = posixpath.dirname(d)

    def is_file(self, path: str) -> bool:
        return path in self.files

    def is_dir(self, path: str) -> bool:
        return path in self.dirs

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in (*self.files, *self.dirs)
                 if p.startswith(prefix) and p != prefix}
        return sorted(n for n in names if n)


# ---------------------------------------------------------------------------------------------- context
_INHERIT: dict[str, str] = {}  # marker: the container's own environment


@dataclass
class ExecContext:
    """One process: the container it runs in, its argv, its stdin; ``env`` and ``cwd`` default to the
    container's. Programs read the container through ``env``, ``fs`` and the helpers below."""

    cluster: SimCluster
    pod: dict
    container_spec: dict
    argv: list[str]
    stdin: bytes = b""
    tty: bool = False
    env: dict[str, str] = field(default_factory=lambda: _INHERIT)
    cwd: str = ""
    _fs: Filesystem | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.env is _INHERIT:
            self.env = container_env(self.cluster, self.pod, self.container_spec, tty=self.tty)
        if not self.cwd:
            self.cwd = self.container_spec.get("workingDir") or "/"

    def derive(self, argv: list[str], stdin: bytes = b"", env: dict[str, str] | None = None,
               cwd: str | None = None) -> ExecContext:
        """A child process of this one (a command run by a shell)."""
        return replace(self, argv=argv, stdin=stdin, env=dict(env if env is not None else self.env),
                       cwd=cwd or self.cwd, _fs=self.fs)

    @property
    def fs(self) -> Filesystem:
        if self._fs is None:
            self._fs = container_fs(self)
        return self._fs

    @property
    def namespace(self) -> str:
        return self.pod["metadata"].get("namespace", "")

    @property
    def image_repo(self) -> str:
        return normalize(self.container_spec.get("image", ""))[0]

    @property
    def busybox(self) -> bool:
        return self.image_repo in BUSYBOX

    @property
    def hostname(self) -> str:
        spec = self.pod.get("spec", {})
        if spec.get("hostNetwork"):
            return spec.get("nodeName", "")
        return spec.get("hostname") or self.pod["metadata"]["name"]

    def path(self, p: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, p)) if p else self.cwd

    def read(self, p: str) -> bytes | None:
        return self.fs.files.get(self.path(p))


# --------------------------------------------------------------------------------------------- registry
class ShellRegistry:
    """The programs containers have, per cluster (``cluster.shell``)."""

    def __init__(self, cluster: SimCluster):
        self.cluster = cluster
        self.programs: dict[str, Program] = {}
        self._images: dict[str, tuple[str, ...] | None] = {}
        self.file_sources: list[tuple[FileSource, tuple[str, ...] | None]] = []
        self._exec_seq = 0
        for name, fn in BUILTINS.items():
            self.register(name, fn)

    @property
    def PROGRAMS(self) -> dict[str, Program]:
        """The programs by name (the same dict as ``programs``)."""
        return self.programs

    def register(self, name: str, fn: Program, images: Iterable[str] | None = None) -> None:
        """Add (or replace) a program. ``images`` restricts it to containers whose image repository matches
        one of them: ``"mongo"`` matches any repository named mongo (``docker.io/library/mongo``,
        ``quay.io/x/mongo``), a name with a ``/`` matches that repository only."""
        self.programs[name] = fn
        self._images[name] = tuple(images) if images is not None else None

    def add_files(self, fn: FileSource, images: Iterable[str] | None = None) -> None:
        """Add files to containers (of the given images): ``fn(ctx)`` returns {absolute path: content}."""
        self.file_sources.append((fn, tuple(images) if images is not None else None))

    @staticmethod
    def image_matches(repo: str, images: tuple[str, ...] | None) -> bool:
        if images is None:
            return True
        for want in images:
            if "/" in want:
                if normalize(want)[0] == repo:
                    return True
            elif repo.rsplit("/", 1)[-1] == want.split(":", 1)[0]:
                return True
        return False

    def resolve(self, binary: str, ctx: ExecContext) -> tuple[str, Program | None]:
        """("ok", program), ("unsimulated", None) or ("missing", None) for a binary in ctx's container."""
        name = binary.rsplit("/", 1)[-1]
        repo = ctx.image_repo
        fn = self.programs.get(name)
        allowed = fn is not None and self.image_matches(repo, self._images.get(name))
        specific = allowed and self._images.get(name) is not None
        if repo in DISTROLESS:
            if specific:
                return "ok", fn
            return ("unsimulated", None) if name in DISTROLESS[repo] else ("missing", None)
        info, _ = self.cluster.images.lookup(ctx.container_spec.get("image", ""))
        listed = {b.rsplit("/", 1)[-1] for b in (info.binaries if info else ())}
        if allowed:
            if name in LISTED_ONLY and name not in listed:
                return "missing", None
            if name == "bash" and repo in BUSYBOX:
                return "missing", None
            return "ok", fn
        if name in listed or name in KNOWN_BINARIES.get(repo, ()):
            return "unsimulated", None
        return "missing", None

    def available(self, ctx: ExecContext) -> list[str]:
        return sorted(n for n in self.programs if self.resolve(n, ctx)[0] == "ok")

    def exec_id(self, ctx: ExecContext) -> str:
        self._exec_seq += 1
        seed = f"{self.cluster.config.seed}/{ctx.pod['metadata'].get('uid', '')}/{ctx.container_spec.get('name')}"
        return hashlib.sha256(f"{seed}/{self._exec_seq}".encode()).hexdigest()

    def run(self, ctx: ExecContext) -> ExecResult:
        """Exec ``ctx.argv`` as the container runtime would. Raises ExecStartError when it cannot start."""
        if not ctx.argv:
            raise ExecStartError("OCI runtime exec failed: exec failed: unable to start container process: "
                                 "exec: no command given: unknown")
        binary = ctx.argv[0]
        status, fn = self.resolve(binary, ctx)
        if status == "missing":
            if "/" in binary:
                why = f"stat {binary}: no such file or directory"
            else:
                why = "executable file not found in $PATH"
            raise ExecStartError("OCI runtime exec failed: exec failed: unable to start container process: "
                                 f'exec: "{binary}": {why}: unknown')
        if fn is None:
            return _unsimulated(binary)
        return _clamp(fn(ctx))


def _unsimulated(binary: str) -> ExecResult:
    return ExecResult(stderr=f"{binary}: exists in this image but is not simulated by the simulated cluster\n"
                      .encode(), exit_code=126)


def _clamp(r: ExecResult) -> ExecResult:
    return r if 0 <= r.exit_code <= 255 else replace(r, exit_code=r.exit_code & 0xFF)


def registry(ctx: ExecContext) -> ShellRegistry:
    return ctx.cluster.shell


# ------------------------------------------------------------------------------------------ environment
def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (ValueError, TypeError):
        return b""


def _configmap_data(cluster: SimCluster, ns: str, name: str) -> dict[str, bytes] | None:
    cm = cluster.store.get("configmaps", ns, name)
    if cm is None:
        return None
    out = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    out.update({k: _b64(v) for k, v in (cm.get("binaryData") or {}).items()})
    return out


def _secret_data(cluster: SimCluster, ns: str, name: str) -> dict[str, bytes] | None:
    secret = cluster.store.get("secrets", ns, name)
    if secret is None:
        return None
    out = {k: _b64(v) for k, v in (secret.get("data") or {}).items()}
    out.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return out


_FIELD = re.compile(r"^metadata\.(labels|annotations)\[['\"](.+)['\"]\]$")


def field_value(pod: dict, path: str) -> str:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status") or {}
    m = _FIELD.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.hostIP": status.get("hostIP"),
              "status.podIP": status.get("podIP"),
              "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or []),
              "status.hostIPs": ",".join(i.get("ip", "") for i in status.get("hostIPs") or [])}
    return str(simple.get(path) or "")


def resource_value(cluster: SimCluster, pod: dict, container: dict, ref: dict) -> str:
    """A resourceFieldRef, as the kubelet computes it: ceil(value / divisor); unset limits are the node's."""
    spec = container
    if ref.get("containerName"):
        for c in pod["spec"].get("containers", []) + (pod["spec"].get("initContainers") or []):
            if c.get("name") == ref["containerName"]:
                spec = c
    kind, _, res = str(ref.get("resource", "")).partition(".")
    resources = spec.get("resources") or {}
    value = (resources.get(kind) or {}).get(res)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(res)
    if value is None and kind == "limits":
        node = cluster.store.get("nodes", "", pod["spec"].get("nodeName", ""))
        value = ((node or {}).get("status", {}).get("allocatable") or {}).get(res)
    divisor = ref.get("divisor") or "1"
    try:
        if res == "cpu":
            return str(math.ceil(cpu_millis(value or "0") / max(cpu_millis(divisor), 1)))
        return str(math.ceil(memory_bytes(value or "0") / max(memory_bytes(divisor), 1)))
    except QuantityError:
        return "0"


def _service_env(cluster: SimCluster, pod: dict) -> dict[str, str]:
    """Docker-link style variables for the services of the pod's namespace and the master service."""
    ns = pod["metadata"].get("namespace", "")
    services = []
    if pod["spec"].get("enableServiceLinks", True):
        services = [s for s in cluster.store.list("services", ns)]
    master = cluster.store.get("services", "default", "kubernetes")
    if master is not None and ns != "default":
        services.append(master)
    out: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        first = ports[0]
        out[f"{name}_SERVICE_HOST"] = ip
        out[f"{name}_SERVICE_PORT"] = str(first.get("port"))
        for p in ports:
            if p.get("name"):
                out[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p.get("port"))
        proto = first.get("protocol", "TCP").lower()
        out[f"{name}_PORT"] = f"{proto}://{ip}:{first.get('port')}"
        for p in ports:
            pr = p.get("protocol", "TCP")
            key = f"{name}_PORT_{p.get('port')}_{pr}"
            out[key] = f"{pr.lower()}://{ip}:{p.get('port')}"
            out[f"{key}_PROTO"] = pr.lower()
            out[f"{key}_PORT"] = str(p.get("port"))
            out[f"{key}_ADDR"] = ip
    return out


_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def _expand_refs(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(sub, value)


def _uid(pod: dict, container: dict) -> int:
    for ctx in (container.get("securityContext") or {}, pod["spec"].get("securityContext") or {}):
        if ctx.get("runAsUser") is not None:
            return int(ctx["runAsUser"])
    return 0


def _gid(pod: dict, container: dict) -> int:
    for ctx in (container.get("securityContext") or {}, pod["spec"].get("securityContext") or {}):
        if ctx.get("runAsGroup") is not None:
            return int(ctx["runAsGroup"])
    return 0


def container_env(cluster: SimCluster, pod: dict, container: dict, tty: bool = False) -> dict[str, str]:
    """The environment a process started in the container sees, in the order ``env`` prints it."""
    ns = pod["metadata"].get("namespace", "")
    spec = pod.get("spec", {})
    hostname = spec.get("nodeName", "") if spec.get("hostNetwork") else (spec.get("hostname") or
                                                                          pod["metadata"]["name"])
    env: dict[str, str] = {"PATH": PATH, "HOSTNAME": hostname}
    if tty:
        env["TERM"] = "xterm"
    own: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            data = _configmap_data(cluster, ns, src["configMapRef"].get("name", "")) or {}
        elif "secretRef" in src:
            data = _secret_data(cluster, ns, src["secretRef"].get("name", "")) or {}
        else:
            data = {}
        for k, v in data.items():
            own[prefix + k] = v.decode(errors="replace")
    services = _service_env(cluster, pod)
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "value" in var or "valueFrom" not in var:
            own[name] = _expand_refs(str(var.get("value", "")), {**services, **own})
            continue
        vf = var["valueFrom"] or {}
        value: str | None = None
        if "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            raw = (_configmap_data(cluster, ns, ref.get("name", "")) or {}).get(ref.get("key", ""))
            value = raw.decode(errors="replace") if raw is not None else None
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            raw = (_secret_data(cluster, ns, ref.get("name", "")) or {}).get(ref.get("key", ""))
            value = raw.decode(errors="replace") if raw is not None else None
        elif "fieldRef" in vf:
            value = field_value(pod, vf["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in vf:
            value = resource_value(cluster, pod, container, vf["resourceFieldRef"])
        if value is not None:
            own[name] = value
    env.update(own)
    for k, v in services.items():
        env.setdefault(k, v)
    env.setdefault("HOME", "/root" if _uid(pod, container) == 0 else "/")
    return env


# ------------------------------------------------------------------------------------------------ files
def _select(data: dict[str, bytes], items: list[dict] | None) -> dict[str, bytes]:
    if not items:
        return dict(data)
    return {it.get("path") or it.get("key", ""): data[it.get("key", "")] for it in items if it.get("key") in data}


def _sa_token(pod: dict) -> bytes:
    """A JWT-shaped token; the signature is a hash, not a signature (nothing verifies it)."""
    meta = pod["metadata"]
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"sim"}').rstrip(b"=")
    claims = (f'{{"aud":["https://kubernetes.default.svc.{CLUSTER_DOMAIN}"],"iss":"https://kubernetes.default.svc.'
              f'{CLUSTER_DOMAIN}","kubernetes.io":{{"namespace":"{meta.get("namespace")}","pod":{{"name":'
              f'"{meta.get("name")}","uid":"{meta.get("uid")}"}},"serviceaccount":{{"name":'
              f'"{pod["spec"].get("serviceAccountName", "default")}"}}}},"sub":"system:serviceaccount:'
              f'{meta.get("namespace")}:{pod["spec"].get("serviceAccountName", "default")}"}}')
    body = base64.urlsafe_b64encode(claims.encode()).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hashlib.sha256(header + b"." + body).digest()).rstrip(b"=")
    return header + b"." + body + b"." + sig


def _downward(cluster: SimCluster, pod: dict, container: dict, items: list[dict]) -> dict[str, bytes]:
    out = {}
    for it in items or []:
        if "fieldRef" in it:
            out[it.get("path", "")] = field_value(pod, it["fieldRef"].get("fieldPath", "")).encode()
        elif "resourceFieldRef" in it:
            out[it.get("path", "")] = resource_value(cluster, pod, container, it["resourceFieldRef"]).encode()
    return out


def volume_files(cluster: SimCluster, pod: dict, container: dict, volume: dict) -> dict[str, bytes]:
    """The files of a volume, relative to its mount point (empty for emptyDir, PVCs and the like)."""
    ns = pod["metadata"].get("namespace", "")
    if "configMap" in volume:
        src = volume["configMap"] or {}
        return _select(_configmap_data(cluster, ns, src.get("name", "")) or {}, src.get("items"))
    if "secret" in volume:
        src = volume["secret"] or {}
        return _select(_secret_data(cluster, ns, src.get("secretName", "")) or {}, src.get("items"))
    if "downwardAPI" in volume:
        return _downward(cluster, pod, container, (volume["downwardAPI"] or {}).get("items") or [])
    if "projected" in volume:
        out: dict[str, bytes] = {}
        for s in (volume["projected"] or {}).get("sources") or []:
            if "configMap" in s:
                out.update(_select(_configmap_data(cluster, ns, s["configMap"].get("name", "")) or {},
                                   s["configMap"].get("items")))
            elif "secret" in s:
                out.update(_select(_secret_data(cluster, ns, s["secret"].get("name", "")) or {},
                                   s["secret"].get("items")))
            elif "downwardAPI" in s:
                out.update(_downward(cluster, pod, container, s["downwardAPI"].get("items") or []))
            elif "serviceAccountToken" in s:
                out[s["serviceAccountToken"].get("path", "token")] = _sa_token(pod)
        return out
    return {}


def _hosts(ctx: ExecContext) -> bytes:
    pod, spec = ctx.pod, ctx.pod.get("spec", {})
    ip = (pod.get("status") or {}).get("podIP", "")
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    if ip:
        if spec.get("subdomain"):
            lines.append(f"{ip}\t{ctx.hostname}.{spec['subdomain']}.{ctx.namespace}.svc.{CLUSTER_DOMAIN}\t"
                         f"{ctx.hostname}")
        else:
            lines.append(f"{ip}\t{ctx.hostname}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines += ["", "# Entries added by HostAliases."]
        lines += [f"{a.get('ip', '')}\t" + "\t".join(a.get("hostnames") or []) for a in aliases]
    return ("\n".join(lines) + "\n").encode()


def _resolv(ctx: ExecContext) -> bytes:
    spec = ctx.pod.get("spec", {})
    policy = spec.get("dnsPolicy", "ClusterFirst")
    dns = ctx.cluster.store.get("services", "kube-system", "kube-dns")
    dns_ip = (dns or {}).get("spec", {}).get("clusterIP") or "10.96.0.10"
    cfg = spec.get("dnsConfig") or {}
    if policy == "None":
        servers, searches, options = [], [], []
    elif policy == "Default" or (spec.get("hostNetwork") and policy != "ClusterFirstWithHostNet"):
        servers, searches, options = ["172.18.0.1"], [], ["ndots:0"]
    else:
        ns = ctx.namespace
        servers = [dns_ip]
        searches = [f"{ns}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
        options = ["ndots:5"]
    servers += cfg.get("nameservers") or []
    searches += [s for s in cfg.get("searches") or [] if s not in searches]
    for o in cfg.get("options") or []:
        text = o.get("name", "") + (f":{o['value']}" if o.get("value") is not None else "")
        options = [x for x in options if x.split(":")[0] != o.get("name")] + [text]
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return ("\n".join(lines) + "\n").encode()


def container_cmdline(container: dict) -> list[str]:
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if container.get("command"):
        return argv
    repo = normalize(container.get("image", ""))[0]
    entry = list(ENTRYPOINTS.get(repo, (repo.rsplit("/", 1)[-1],)))
    return [*entry, *argv] if argv else entry


def container_fs(ctx: ExecContext) -> Filesystem:
    pod, container = ctx.pod, ctx.container_spec
    repo = ctx.image_repo
    distroless = repo in DISTROLESS
    files: dict[str, bytes] = {
        "/etc/hostname": (ctx.hostname + "\n").encode(),
        "/etc/hosts": _hosts(ctx),
        "/etc/resolv.conf": _resolv(ctx),
        "/proc/1/cmdline": b"".join(a.encode() + b"\0" for a in container_cmdline(container)),
        "/dev/null": b"",
        container.get("terminationMessagePath") or "/dev/termination-log": b"",
    }
    dirs = ["/dev", "/etc", "/proc/1", "/sys", "/tmp", "/var/run"]
    if not distroless:
        dirs += ["/bin", "/home", "/lib", "/media", "/mnt", "/opt", "/root", "/run", "/sbin", "/srv", "/usr/bin",
                 "/usr/local/bin", "/usr/sbin", "/var/log"]
        files["/etc/passwd"] = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    volumes = {v.get("name"): v for v in pod.get("spec", {}).get("volumes") or []}
    sa_mounted = False
    for vm in container.get("volumeMounts") or []:
        mount = posixpath.normpath(vm.get("mountPath", "/"))
        sa_mounted = sa_mounted or mount == SA_DIR
        content = volume_files(ctx.cluster, pod, container, volumes.get(vm.get("name"), {}))
        sub = (vm.get("subPath") or "").strip("/")
        if sub:
            if sub in content:
                files[mount] = content[sub]
                continue
            content = {k[len(sub) + 1:]: v for k, v in content.items() if k.startswith(sub + "/")}
        dirs.append(mount)
        for rel, data in content.items():
            files[posixpath.join(mount, rel)] = data
    automount = pod.get("spec", {}).get("automountServiceAccountToken")
    if automount is None:
        sa = ctx.cluster.store.get("serviceaccounts", ctx.namespace, pod["spec"].get("serviceAccountName", "default"))
        automount = (sa or {}).get("automountServiceAccountToken")
    if automount is not False and not sa_mounted:
        ca = (_configmap_data(ctx.cluster, ctx.namespace, "kube-root-ca.crt") or {}).get("ca.crt", b"")
        files.update({f"{SA_DIR}/ca.crt": ca, f"{SA_DIR}/namespace": ctx.namespace.encode(),
                      f"{SA_DIR}/token": _sa_token(pod)})
    if not distroless:
        for name in registry(ctx).available(ctx):
            files.setdefault(f"/bin/{name}", b"")
    for fn, images in registry(ctx).file_sources:
        if ShellRegistry.image_matches(repo, images):
            files.update(fn(ctx))
    return Filesystem(files, dirs)


# ------------------------------------------------------------------------------------------------ shell
class ShellSyntaxError(Exception):
    pass


# A word is a list of (text, quote) segments: quote is "" (unquoted), "'" or '"'.
Word = list[tuple[str, str]]
_OPERATORS = ("&&", "||", ";;", ";", "|", "&", "\n")
_RESERVED = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
             "function", "{", "}", "select"}


@dataclass
class _Command:
    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, Word | None]] = field(default_factory=list)  # (op, target)


@dataclass
class _Statement:
    connector: str  # how it joins the previous statement: ";", "&&" or "||"
    pipeline: list[_Command]
    line: int


def _matching(text: str, i: int, open_: str = "(", close: str = ")") -> int:
    """Index of the bracket closing the one opened just before ``i``."""
    depth = 1
    quote = ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError("unterminated $(")


_REDIRECT = re.compile(r"(\d?)(>>|>&|<&|>|<)(\d?)|&>")


def _tokenize(script: str) -> list[tuple[str, object, int]]:
    """("word", Word, line), ("op", operator, line) and ("redir", operator, line) tokens."""
    tokens: list[tuple[str, object, int]] = []
    word: Word = []
    started = False
    i, line = 0, 1

    def add(text: str, quote: str) -> None:
        nonlocal started
        if quote == "" and word and word[-1][1] == "":
            word[-1] = (word[-1][0] + text, "")
        else:
            word.append((text, quote))
        started = True

    def flush() -> None:
        nonlocal word, started
        if started:
            tokens.append(("word", word, line))
        word, started = [], False

    while i < len(script):
        ch = script[i]
        if ch == "\\" and i + 1 < len(script):
            if script[i + 1] != "\n":
                add(script[i + 1], "'")
            i += 2
            continue
        if ch == "'":
            end = script.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("Syntax error: Unterminated quoted string")
            add(script[i + 1:end], "'")
            i = end + 1
            continue
        if ch == '"':
            j, buf = i + 1, []
            while True:
                if j >= len(script):
                    raise ShellSyntaxError("Syntax error: Unterminated quoted string")
                c = script[j]
                if c == '"':
                    break
                if c == "\\" and j + 1 < len(script) and script[j + 1] in '$`"\\\n':
                    buf.append("\\" + script[j + 1])
                    j += 2
                    continue
                if c == "$" and script[j + 1:j + 2] == "(":
                    end = _matching(script, j + 2)
                    buf.append(script[j:end + 1])
                    j = end + 1
                    continue
                buf.append(c)
                j += 1
            add("".join(buf), '"')
            i = j + 1
            continue
        if ch == "$" and script[i + 1:i + 2] == "(":
            end = _matching(script, i + 2)
            add(script[i:end + 1], "")
            i = end + 1
            continue
        if ch == "`":
            end = script.find("`", i + 1)
            if end < 0:
                raise ShellSyntaxError("Syntax error: Unterminated quoted string")
            add("$(" + script[i + 1:end] + ")", "")
            i = end + 1
            continue
        if ch == "#" and not started:
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        if ch in " \t":
            flush()
            i += 1
            continue
        m = _REDIRECT.match(script, i)
        if m and not (m.group(1) and started):  # "2>" only at the start of a word
            flush()
            tokens.append(("redir", m.group(0), line))
            i = m.end()
            continue
        op = next((o for o in _OPERATORS if script.startswith(o, i)), None)
        if op is not None:
            flush()
            tokens.append(("op", op, line))
            line += op == "\n"
            i += len(op)
            continue
        if ch in "()":
            raise ShellSyntaxError(f'Syntax error: "{ch}" unexpected (subshells are not simulated)')
        add(ch, "")
        i += 1
    flush()
    return tokens


def parse_script(script: str) -> list[_Statement]:
    """Statements joined by ``;``/newline/``&``, ``&&`` and ``||``, each a pipeline of simple commands."""
    tokens = _tokenize(script)
    statements: list[_Statement] = []
    connector = ";"
    pipeline: list[_Command] = []
    cmd = _Command()
    stmt_line = 1
    k = 0
    while k < len(tokens):
        kind, value, ln = tokens[k]
        if kind == "word":
            assert isinstance(value, list)
            if not cmd.words and not cmd.redirects and not pipeline:
                stmt_line = ln
            if not cmd.words:
                text = "".join(t for t, _ in value)
                if all(q == "" for _, q in value) and (text in _RESERVED or text.startswith("((")):
                    raise ShellSyntaxError(f'"{text}": compound commands are not simulated')
            cmd.words.append(value)
        elif kind == "redir":
            op = str(value)
            target: Word | None = None
            if not re.fullmatch(r"\d?[<>]&\d", op):
                if k + 1 >= len(tokens) or tokens[k + 1][0] != "word":
                    raise ShellSyntaxError("Syntax error: redirection unexpected")
                target = tokens[k + 1][1]  # type: ignore[assignment]
                k += 1
            cmd.redirects.append((op, target))
        else:
            op = str(value)
            if op == "|":
                if not cmd.words and not cmd.redirects:
                    raise ShellSyntaxError('Syntax error: "|" unexpected')
                pipeline.append(cmd)
                cmd = _Command()
            elif op == ";;":
                raise ShellSyntaxError('Syntax error: ";;" unexpected')
            elif cmd.words or cmd.redirects:
                pipeline.append(cmd)
                cmd = _Command()
                statements.append(_Statement(connector, pipeline, stmt_line))
                pipeline = []
                connector = op if op in ("&&", "||") else ";"
            elif pipeline or op != "\n":
                raise ShellSyntaxError(f'Syntax error: "{op}" unexpected')
        k += 1
    if cmd.words or cmd.redirects:
        pipeline.append(cmd)
        statements.append(_Statement(connector, pipeline, stmt_line))
    elif pipeline or connector in ("&&", "||"):
        raise ShellSyntaxError("Syntax error: end of file unexpected")
    return statements


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*|\?|#)\}|([A-Za-z_][A-Za-z0-9_]*)|([?#$0-9]))")


class Shell:
    """sh (busybox ash or dash) or bash running a script in a container."""

    def __init__(self, ctx: ExecContext, name: str, args: list[str] | None = None):
        self.ctx = ctx
        self.name = name  # "sh" or "bash"
        self.vars = dict(ctx.env)
        self.exported = set(ctx.env)
        self.cwd = ctx.cwd
        self.args = args or []
        self.status = 0
        self.errexit = False
        self.line = 1
        self.arg0 = name
        self._stderr_extra = b""

    # messages in the style of the shell that prints them
    def _prefix(self) -> str:
        if self.name == "bash":
            return f"bash: line {self.line}: "
        if self.ctx.busybox:
            return "sh: "
        return f"sh: {self.line}: "

    def error(self, text: str) -> bytes:
        return (self._prefix() + text + "\n").encode()

    def not_found(self, cmd: str) -> bytes:
        if self.name == "bash":
            return self.error(f"{cmd}: " + ("No such file or directory" if "/" in cmd else "command not found"))
        return self.error(f"{cmd}: not found")

    # ----------------------------------------------------------------------------------- expansion
    def _expand_text(self, text: str) -> str:
        out, i = [], 0
        while i < len(text):
            if text.startswith("$(", i):
                end = _matching(text, i + 2)
                inner = Shell(self.ctx.derive([], env=self._env(), cwd=self.cwd), self.name)
                inner.vars, inner.exported = dict(self.vars), set(self.exported)
                res = inner.run(text[i + 2:end])
                out.append(res.stdout.decode(errors="replace").rstrip("\n"))
                self._stderr_extra += res.stderr
                i = end + 1
                continue
            if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\':
                out.append(text[i + 1])
                i += 2
                continue
            m = _VAR.match(text, i)
            if m:
                name = m.group(1) or m.group(2) or m.group(3)
                if name == "?":
                    out.append(str(self.status))
                elif name == "#":
                    out.append(str(len(self.args)))
                elif name == "$":
                    out.append("1")
                elif name.isdigit():
                    n = int(name)
                    out.append(self.arg0 if n == 0 else (self.args[n - 1] if n <= len(self.args) else ""))
                else:
                    out.append(self.vars.get(name, ""))
                i = m.end()
                continue
            out.append(text[i])
            i += 1
        return "".join(out)

    def expand(self, word: Word) -> list[str]:
        """Expand a word into fields: quoted parts stay whole, unquoted expansions split on whitespace."""
        fields: list[str] = []
        cur: list[str] = []
        has = False
        glob = False
        for text, quote in word:
            if quote == "'":
                cur.append(text)
                has = True
            elif quote == '"':
                cur.append(self._expand_text(text))
                has = True
            else:
                expanded = self._expand_text(text)
                glob = glob or any(c in text for c in "*?[")
                if "$" in text:
                    parts = re.split(r"[ \t\n]+", expanded)
                    if len(parts) > 1 or expanded == "":
                        if parts[0]:
                            cur.append(parts[0])
                        if cur or has:
                            fields.append("".join(cur))
                        for p in parts[1:-1]:
                            if p:
                                fields.append(p)
                        cur, has = ([parts[-1]] if len(parts) > 1 and parts[-1] else []), False
                        continue
                cur.append(expanded)
                has = True
        if cur or has:
            fields.append("".join(cur))
        if glob:
            out = []
            for f in fields:
                out.extend(self._glob(f) if any(c in f for c in "*?[") else [f])
            return out
        return fields

    def _glob(self, pattern: str) -> list[str]:
        absolute = pattern.startswith("/")
        base = "/" if absolute else self.cwd
        parts = [p for p in pattern.split("/") if p]
        paths = [base]
        for part in parts:
            nxt = []
            for p in paths:
                if any(c in part for c in "*?["):
                    nxt += [posixpath.join(p, n) for n in self.ctx.fs.listdir(p)
                            if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or not n.startswith("."))]
                elif self.ctx.fs.exists(posixpath.join(p, part)):
                    nxt.append(posixpath.join(p, part))
            paths = nxt
        if not paths:
            return [pattern]
        if absolute:
            return sorted(paths)
        return sorted(posixpath.relpath(p, self.cwd) for p in paths)

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in self.vars.items() if k in self.exported}

    # ----------------------------------------------------------------------------------- execution
    def run(self, script: str, stdin: bytes = b"") -> ExecResult:
        self._stderr_extra = b""
        out, err = bytearray(), bytearray()
        try:
            statements = parse_script(script)
        except ShellSyntaxError as e:
            return ExecResult(stderr=self.error(str(e)), exit_code=2)
        for st in statements:
            if st.connector == "&&" and self.status != 0:
                continue
            if st.connector == "||" and self.status == 0:
                continue
            self.line = st.line
            try:
                o, e, code = self._pipeline(st.pipeline, stdin)
            except _Exit as ex:
                out += ex.stdout
                err += ex.stderr
                return ExecResult(bytes(out), bytes(err), ex.code)
            out += o
            err += self._stderr_extra + e
            self._stderr_extra = b""
            self.status = code
            if self.errexit and code != 0:
                return ExecResult(bytes(out), bytes(err), code)
        return ExecResult(bytes(out), bytes(err), self.status)

    def _pipeline(self, pipeline: list[_Command], stdin: bytes) -> tuple[bytes, bytes, int]:
        data, err, code = stdin, bytearray(), 0
        for cmd in pipeline:
            try:
                o, e, code = self._command(cmd, data)
            except _Exit as ex:
                if len(pipeline) == 1:
                    raise
                o, e, code = ex.stdout, ex.stderr, ex.code  # each part of a pipeline is a subshell
            err += e
            data = o
        return data, bytes(err), code

    def _command(self, cmd: _Command, stdin: bytes) -> tuple[bytes, bytes, int]:
        assigns: dict[str, str] = {}
        raw = list(cmd.words)
        while raw and raw[0][0][1] == "" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", raw[0][0][0]):
            k, _, v = self._expand_whole(raw.pop(0)).partition("=")  # assignments are not field-split
            assigns[k] = v
        words: list[str] = []
        for w in raw:
            words.extend(self.expand(w))
        err_to_out = out_to_err = null_out = null_err = False
        for op, target in cmd.redirects:
            dest = self._expand_whole(target) if target is not None else ""
            m = re.fullmatch(r"(\d?)(>>|>&|<&|>|<|&>)(\d?)", op)
            assert m is not None
            kind = m.group(2)
            fd = m.group(1) or ("0" if kind.startswith("<") else "1")
            dup = m.group(3) or (dest if kind in (">&", "<&") and dest.isdigit() else "")
            if kind == "<":
                data = self.ctx.fs.files.get(posixpath.normpath(posixpath.join(self.cwd, dest)))
                if data is None:
                    msg = (f"can't open {dest}: no such file" if self.ctx.busybox
                           else f"cannot open {dest}: No such file")
                    return b"", self.error(msg), 1 if self.ctx.busybox else 2
                stdin = data
            elif dup:
                if fd == "2" and dup == "1":
                    err_to_out = True
                elif fd == "1" and dup == "2":
                    out_to_err = True
            elif dest == "/dev/null":
                null_out = null_out or fd == "1" or kind == "&>"
                null_err = null_err or fd == "2" or kind == "&>"
            elif dest in ("/dev/stderr", "/dev/fd/2") and fd == "1":
                out_to_err = True
            elif dest in ("/dev/stdout", "/dev/fd/1") and fd == "2":
                err_to_out = True
            elif kind != "<&":
                return b"", self._readonly(dest), 1 if self.ctx.busybox else 2
        if not words:
            self.vars.update(assigns)
            return b"", b"", 0
        out, err, code = self._invoke(words, assigns, stdin)
        if err_to_out:
            out, err = out + err, b""
        if out_to_err:
            out, err = b"", err + out
        if null_out:
            out = b""
        if null_err:
            err = b""
        return out, err, code

    def _expand_whole(self, word: Word) -> str:
        return "".join(self._expand_text(t) if q != "'" else t for t, q in word)

    def _readonly(self, dest: str) -> bytes:
        if self.name == "bash":
            return self.error(f"{dest}: Read-only file system")
        return self.error(f"can't create {dest}: Read-only file system" if self.ctx.busybox
                          else f"cannot create {dest}: Read-only file system")

    def _invoke(self, words: list[str], assigns: dict[str, str], stdin: bytes) -> tuple[bytes, bytes, int]:
        name, args = words[0], words[1:]
        if name == "exit":
            code = self.status
            if args:
                try:
                    code = int(args[0]) & 0xFF
                except ValueError:
                    if self.name == "bash":
                        raise _Exit(b"", self.error(f"exit: {args[0]}: numeric argument required"), 2) from None
                    raise _Exit(b"", self.error(f"exit: Illegal number: {args[0]}"), 2) from None
            raise _Exit(b"", b"", code)
        if name == "cd":
            target = args[0] if args else self.vars.get("HOME", "/")
            path = posixpath.normpath(posixpath.join(self.cwd, target))
            if not self.ctx.fs.is_dir(path):
                if self.name == "bash":
                    return b"", self.error(f"cd: {target}: No such file or directory"), 1
                return b"", self.error(f"cd: can't cd to {target}"), 2 if not self.ctx.busybox else 1
            self.cwd = path
            self.vars["PWD"] = path
            return b"", b"", 0
        if name == "export":
            for a in args:
                k, eq, v = a.partition("=")
                if eq:
                    self.vars[k] = v
                self.exported.add(k)
            return b"", b"", 0
        if name == "unset":
            for a in args:
                self.vars.pop(a, None)
                self.exported.discard(a)
            return b"", b"", 0
        if name == "set":
            for a in args:
                if a.startswith("-") and "e" in a:
                    self.errexit = True
                elif a.startswith("+") and "e" in a:
                    self.errexit = False
            return b"", b"", 0
        if name in (":", "true"):
            return b"", b"", 0
        if name == "false":
            return b"", b"", 1
        if name in ("source", "."):
            if not args:
                return b"", b"", 0
            data = self.ctx.read(posixpath.join(self.cwd, args[0]))
            if data is None:
                return b"", self.error(f"{name}: can't open '{args[0]}'"), 2
            res = self.run(data.decode(errors="replace"), stdin)
            return res.stdout, res.stderr, res.exit_code
        env = {**self._env(), **assigns}
        child = self.ctx.derive([name, *args], stdin=stdin, env=env, cwd=self.cwd)
        if name in ("echo", "pwd", "test", "[", "printf"):  # shell builtins
            fn = BUILTINS[name]
            r = fn(child)
            return r.stdout, r.stderr, r.exit_code
        status, prog = registry(self.ctx).resolve(name, self.ctx)
        if status == "missing":
            return b"", self.not_found(name), 127
        if prog is None:
            r = _unsimulated(name)
            return r.stdout, r.stderr, r.exit_code
        r = _clamp(prog(child))
        return r.stdout, r.stderr, r.exit_code


class _Exit(Exception):
    """``exit N`` unwinding the script."""

    def __init__(self, stdout: bytes, stderr: bytes, code: int):
        super().__init__(code)
        self.stdout, self.stderr, self.code = stdout, stderr, code


# --------------------------------------------------------------------------------------------- programs
def _ok(text: str | bytes = b"", code: int = 0, err: str | bytes = b"") -> ExecResult:
    out = text.encode() if isinstance(text, str) else text
    e = err.encode() if isinstance(err, str) else err
    return ExecResult(out, e, code)


def _sh(ctx: ExecContext) -> ExecResult:
    name = ctx.argv[0].rsplit("/", 1)[-1]
    name = "bash" if name == "bash" else "sh"
    args = ctx.argv[1:]
    script: str | None = None
    errexit = False
    while args and args[0].startswith("-") and args[0] != "-" and args[0] != "--":
        flag = args.pop(0)
        if flag.startswith("--"):
            continue
        errexit = errexit or "e" in flag
        if flag.endswith("o") and args:  # -o OPTION, also bundled: -euxo pipefail
            option = args.pop(0)
            errexit = errexit or option == "errexit"
            continue
        if "c" in flag:
            if not args:
                msg = "-c: option requires an argument" if name == "bash" else "-c requires an argument"
                return _ok(err=f"{name}: {msg}\n", code=2)
            script = args.pop(0)
            break
    if args[:1] == ["--"]:
        args = args[1:]
    shell = Shell(ctx, name)
    shell.errexit = errexit
    if script is not None:
        if args:
            shell.arg0 = args[0]
            shell.args = args[1:]
        return shell.run(script, ctx.stdin)
    if args:  # sh FILE [ARGS]
        data = ctx.read(args[0])
        if data is None:
            if name == "bash":
                return _ok(err=f"bash: {args[0]}: No such file or directory\n", code=127)
            if ctx.busybox:
                return _ok(err=f"sh: can't open '{args[0]}': No such file or directory\n", code=2)
            return _ok(err=f"sh: 0: cannot open {args[0]}: No such file\n", code=2)
        shell.args = args[1:]
        return shell.run(data.decode(errors="replace"), ctx.stdin)
    # No script: an interactive shell reads commands from stdin.
    if ctx.tty:
        return _ok("(the simulated cluster does not run interactive shells; use "
                   "kubectl exec POD -- sh -c '<commands>')\n")
    return shell.run(ctx.stdin.decode(errors="replace"))


def _echo(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    newline = True
    escapes = False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = "e" in flags or escapes
    text = " ".join(args)
    if escapes:
        text = text.encode().decode("unicode_escape", errors="replace")
    return _ok(text + ("\n" if newline else ""))


def _printf(ctx: ExecContext) -> ExecResult:
    if len(ctx.argv) < 2:
        return _ok(err="printf: usage: printf format [arguments]\n", code=2)
    fmt = ctx.argv[1].encode().decode("unicode_escape", errors="replace")
    args = ctx.argv[2:]
    out = []
    convs = re.findall(r"%[-+ 0#]*\d*(?:\.\d+)?[sdifxXoc%]", fmt)
    n = len([c for c in convs if c != "%%"])
    while True:
        chunk, args_used = _printf_once(fmt, args)
        out.append(chunk)
        args = args[args_used:]
        if not args or n == 0:
            break
    return _ok("".join(out))


def _printf_once(fmt: str, args: list[str]) -> tuple[str, int]:
    used = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal used
        spec = m.group(0)
        if spec == "%%":
            return "%"
        arg = args[used] if used < len(args) else ""
        used += 1
        conv = spec[-1]
        try:
            if conv in "di":
                return (spec[:-1] + "d") % int(arg or 0)
            if conv in "fxXoc":
                return spec % (float(arg or 0) if conv == "f" else int(arg or 0))
        except ValueError:
            return "0"
        return spec % arg

    return re.sub(r"%[-+ 0#]*\d*(?:\.\d+)?[sdifxXoc%]", sub, fmt), used


def _cat(ctx: ExecContext) -> ExecResult:
    paths = [a for a in ctx.argv[1:] if not (a.startswith("-") and a != "-")]
    if not paths:
        return _ok(ctx.stdin)
    out, err, code = bytearray(), bytearray(), 0
    for p in paths:
        if p == "-":
            out += ctx.stdin
            continue
        path = ctx.path(p)
        if ctx.fs.is_file(path):
            out += ctx.fs.files[path]
        elif ctx.fs.is_dir(path):
            err += (b"cat: read error: Is a directory\n" if ctx.busybox else f"cat: {p}: Is a directory\n".encode())
            code = 1
        else:
            err += (f"cat: can't open '{p}': No such file or directory\n" if ctx.busybox
                    else f"cat: {p}: No such file or directory\n").encode()
            code = 1
    return ExecResult(bytes(out), bytes(err), code)


def _env(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    env = dict(ctx.env)
    if args[:1] in (["-i"], ["--ignore-environment"]):
        env = {}
        args = args[1:]
    while args and "=" in args[0] and not args[0].startswith("="):
        k, _, v = args.pop(0).partition("=")
        env[k] = v
    if args:
        child = ctx.derive(args, stdin=ctx.stdin, env=env)
        status, prog = registry(ctx).resolve(args[0], ctx)
        if status == "missing":
            return _ok(err=f"env: can't execute '{args[0]}': No such file or directory\n" if ctx.busybox
                       else f"env: '{args[0]}': No such file or directory\n", code=127)
        return prog(child) if prog else _unsimulated(args[0])
    return _ok("".join(f"{k}={v}\n" for k, v in env.items()))


def _printenv(ctx: ExecContext) -> ExecResult:
    names = [a for a in ctx.argv[1:] if not a.startswith("-")]
    if not names:
        return _ok("".join(f"{k}={v}\n" for k, v in ctx.env.items()))
    out = [ctx.env[n] + "\n" for n in names if n in ctx.env]
    return _ok("".join(out), code=0 if len(out) == len(names) else 1)


def _ls(ctx: ExecContext) -> ExecResult:
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-") and a != "-")
    paths = [a for a in ctx.argv[1:] if not a.startswith("-")] or ["."]
    show_all, almost, long, one, dir_only = "a" in flags, "A" in flags, "l" in flags, "1" in flags, "d" in flags
    out, err, code = [], [], 0
    files_first, dirs = [], []
    for p in paths:
        path = ctx.path(p)
        if ctx.fs.is_file(path) or (dir_only and ctx.fs.is_dir(path)):
            files_first.append((p, path))
        elif ctx.fs.is_dir(path):
            dirs.append((p, path))
        else:
            err.append(f"ls: {p}: No such file or directory\n" if ctx.busybox
                       else f"ls: cannot access '{p}': No such file or directory\n")
            code = 1 if ctx.busybox else 2
    now = ctx.cluster.clock.datetime().strftime("%b %e %H:%M")

    def entry(name: str, path: str) -> str:
        if not long:
            return name
        is_dir = ctx.fs.is_dir(path)
        size = 4096 if is_dir else len(ctx.fs.files.get(path, b""))
        mode = "drwxr-xr-x" if is_dir else "-rw-r--r--"
        if ctx.busybox:
            return f"{mode}    {2 if is_dir else 1} root     root     {size:>9} {now} {name}"
        return f"{mode} {2 if is_dir else 1} root root {size} {now} {name}"

    def block(items: list[str]) -> list[str]:
        if long or one or not ctx.tty:
            return [i + "\n" for i in items]
        return ["  ".join(items) + "\n"] if items else []

    out += block([entry(p, path) for p, path in files_first])
    for n, (p, path) in enumerate(dirs):
        names = ctx.fs.listdir(path)
        if not (show_all or almost):
            names = [x for x in names if not x.startswith(".")]
        if show_all:
            names = [".", "..", *names]
        if len(paths) > 1:
            out.append(("\n" if n or files_first else "") + f"{p}:\n")
        if long:
            out.append("total 0\n")
        out += block([entry(x, posixpath.join(path, x)) for x in names])
    return ExecResult("".join(out).encode(), "".join(err).encode(), code)


def _hostname(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    if "-i" in args or "-I" in args:
        return _ok((ctx.pod.get("status") or {}).get("podIP", "") + "\n")
    if "-f" in args:
        sub = ctx.pod.get("spec", {}).get("subdomain")
        if sub:
            return _ok(f"{ctx.hostname}.{sub}.{ctx.namespace}.svc.{CLUSTER_DOMAIN}\n")
    return _ok(ctx.hostname + "\n")


def _id(ctx: ExecContext) -> ExecResult:
    uid, gid = _uid(ctx.pod, ctx.container_spec), _gid(ctx.pod, ctx.container_spec)
    args = ctx.argv[1:]
    uname = "root" if uid == 0 else ""
    gname = "root" if gid == 0 else ""
    if "-u" in args:
        return _ok(f"{uname if '-n' in args and uname else uid}\n")
    if "-g" in args:
        return _ok(f"{gname if '-n' in args and gname else gid}\n")
    u = f"{uid}({uname})" if uname else str(uid)
    g = f"{gid}({gname})" if gname else str(gid)
    groups = [g]
    if uid == 0 and gid == 0 and ctx.image_repo == "docker.io/library/busybox":
        groups += ["10(wheel)"]
    elif uid == 0 and gid == 0 and ctx.busybox:  # alpine
        groups += ["1(bin)", "2(daemon)", "3(sys)", "4(adm)", "6(disk)", "10(wheel)", "11(floppy)", "20(dialout)",
                   "26(tape)", "27(video)"]
    for extra in (ctx.pod.get("spec", {}).get("securityContext") or {}).get("supplementalGroups") or []:
        groups.append(str(extra))
    return _ok(f"uid={u} gid={g} groups={','.join(groups)}\n")


def _date(ctx: ExecContext) -> ExecResult:
    now = ctx.cluster.clock.datetime()
    for a in ctx.argv[1:]:
        if a.startswith("+"):
            return _ok(now.strftime(a[1:]) + "\n")
        if a in ("-I", "--iso-8601"):
            return _ok(now.strftime("%Y-%m-%d") + "\n")
        if a in ("-R", "--rfc-email"):
            return _ok(now.strftime("%a, %d %b %Y %H:%M:%S +0000") + "\n")
    return _ok(now.strftime("%a %b %e %H:%M:%S UTC %Y") + "\n")


def _true(ctx: ExecContext) -> ExecResult:
    return _ok()


def _false(ctx: ExecContext) -> ExecResult:
    return _ok(code=1)


def _ps(ctx: ExecContext) -> ExecResult:
    pid1 = " ".join(container_cmdline(ctx.container_spec))
    me = " ".join(ctx.argv)
    if ctx.busybox:
        rows = ["PID   USER     TIME  COMMAND", f"    1 root      0:00 {pid1}", f"   {7:>2} root      0:00 {me}"]
        return _ok("\n".join(rows) + "\n")
    args = "".join(ctx.argv[1:])
    start = ctx.cluster.clock.datetime().strftime("%H:%M")
    if "aux" in args or args == "aux":
        rows = ["USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND",
                f"root           1  0.0  0.0   2576   912 ?        Ss   {start}   0:00 {pid1}",
                f"root           7  0.0  0.0   7060  1580 ?        Rs   {start}   0:00 {me}"]
    elif "e" in args:
        rows = ["UID          PID    PPID  C STIME TTY          TIME CMD",
                f"root           1       0  0 {start} ?        00:00:00 {pid1}",
                f"root           7       0  0 {start} ?        00:00:00 {me}"]
    else:
        rows = ["    PID TTY          TIME CMD", f"      7 {'pts/0' if ctx.tty else '?':<8} 00:00:00 ps"]
    return _ok("\n".join(rows) + "\n")


def _lines_of(ctx: ExecContext, name: str) -> tuple[list[tuple[str, bytes]], bytes, int]:
    """(label, data) for each file argument, or stdin; errors in the tool's style."""
    paths = [a for a in ctx.argv[1:] if not a.startswith("-") or a == "-"]
    if not paths:
        return [("-", ctx.stdin)], b"", 0
    out, err, code = [], bytearray(), 0
    for p in paths:
        data = ctx.stdin if p == "-" else ctx.read(p)
        if data is None:
            if ctx.busybox and name != "grep":
                err += f"{name}: can't open '{p}': No such file or directory\n".encode()
            elif name in ("head", "tail"):
                err += f"{name}: cannot open '{p}' for reading: No such file or directory\n".encode()
            else:
                err += f"{name}: {p}: No such file or directory\n".encode()
            code = 1
            continue
        out.append((p, data))
    return out, bytes(err), code


def _count_arg(argv: list[str], default: int = 10) -> tuple[int, list[str]]:
    n, rest, i = default, [argv[0]], 1
    while i < len(argv):
        a = argv[i]
        if a == "-n" and i + 1 < len(argv):
            n = int(argv[i + 1].lstrip("+-") or default)
            i += 2
            continue
        if re.fullmatch(r"-n?\d+", a):
            n = int(a.lstrip("-n"))
        elif a in ("-f", "-F", "--follow"):
            pass
        else:
            rest.append(a)
        i += 1
    return n, rest


def _head(ctx: ExecContext) -> ExecResult:
    try:
        n, argv = _count_arg(ctx.argv)
    except ValueError:
        return _ok(err="head: invalid number of lines\n", code=1)
    items, err, code = _lines_of(ctx.derive(argv, ctx.stdin), "head")
    out = b"".join(b"".join(data.splitlines(keepends=True)[:n]) for _, data in items)
    return ExecResult(out, err, code)


def _tail(ctx: ExecContext) -> ExecResult:
    try:
        n, argv = _count_arg(ctx.argv)
    except ValueError:
        return _ok(err="tail: invalid number of lines\n", code=1)
    items, err, code = _lines_of(ctx.derive(argv, ctx.stdin), "tail")
    out = b"".join(b"".join(data.splitlines(keepends=True)[-n:] if n else []) for _, data in items)
    return ExecResult(out, err, code)


def _bre_to_python(p: str) -> str:
    out, i = [], 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            nxt = p[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "(){}|+?" else c)
        i += 1
    return "".join(out)


def _grep(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    flags: set[str] = set()
    rest: list[str] = []
    patterns: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-e" and i + 1 < len(args):
            patterns.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-") and len(a) > 1 and not rest:
            flags.update(a[1:])
        else:
            rest.append(a)
        i += 1
    if not patterns:
        if not rest:
            return _ok(err="Usage: grep [OPTION]... PATTERNS [FILE]...\n", code=2)
        patterns = [rest.pop(0)]
    try:
        regexes = [re.compile(p if "E" in flags else re.escape(p) if "F" in flags else _bre_to_python(p),
                              re.IGNORECASE if "i" in flags else 0) for p in patterns]
    except re.error as e:
        return _ok(err=f"grep: {e}\n", code=2)
    items, err, code = _lines_of(ctx.derive([ctx.argv[0], *rest], ctx.stdin), "grep")
    out, matched = [], 0
    multi = len(items) > 1
    for label, data in items:
        count = 0
        for ln, line in enumerate(data.decode(errors="replace").splitlines(), 1):
            if _grep_hit(regexes, flags, line) != ("v" in flags):
                count += 1
                if "q" in flags:
                    return _ok(code=0)
                if "c" not in flags and "l" not in flags:
                    prefix = (f"{label}:" if multi else "") + (f"{ln}:" if "n" in flags else "")
                    out.append(prefix + line + "\n")
        if "c" in flags:
            out.append((f"{label}:" if multi else "") + f"{count}\n")
        elif "l" in flags and count:
            out.append(label + "\n")
        matched += count
    if code:
        return ExecResult("".join(out).encode(), err, 2)
    return ExecResult("".join(out).encode(), err, 0 if matched else 1)


def _grep_hit(regexes: list[re.Pattern[str]], flags: set[str], line: str) -> bool:
    for r in regexes:
        if "x" in flags:
            hit = r.fullmatch(line)
        elif "w" in flags:
            hit = re.search(rf"(?<!\w)(?:{r.pattern})(?!\w)", line, r.flags)
        else:
            hit = r.search(line)
        if hit:
            return True
    return False


def _wc(ctx: ExecContext) -> ExecResult:
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-") and a != "-") or "lwc"
    items, err, code = _lines_of(ctx, "wc")
    out = []
    for label, data in items:
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data), "m": len(data.decode(
            errors="replace"))}
        vals = [counts[f] for f in "lwcm" if f in flags]
        width = 7 if len(vals) > 1 or (label != "-" and not ctx.busybox) else 0
        text = " ".join(f"{v:>{width}}" for v in vals)
        out.append(text + (f" {label}" if label != "-" else "") + "\n")
    return ExecResult("".join(out).encode(), err, code)


def _tr_set(spec: str) -> str:
    spec = spec.encode().decode("unicode_escape", errors="replace")
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out += [chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1)]
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def _tr(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    delete = args[:1] == ["-d"]
    sets = [_tr_set(a) for a in (args[1:] if delete else args)]
    text = ctx.stdin.decode("latin-1")
    if delete and sets:
        return _ok(text.translate({ord(ch): None for ch in sets[0]}).encode("latin-1"))
    if len(sets) != 2 or not sets[1]:
        return _ok(err="tr: missing operand\n", code=1)
    src, dst = sets
    dst = dst + dst[-1] * max(len(src) - len(dst), 0)
    return _ok(text.translate({ord(a): b for a, b in zip(src, dst, strict=False)}).encode("latin-1"))


def _sort(ctx: ExecContext) -> ExecResult:
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-") and a != "-")
    items, err, code = _lines_of(ctx, "sort")
    lines = [ln for _, data in items for ln in data.decode(errors="replace").splitlines()]

    def number(line: str) -> float:
        m = re.match(r"\s*-?\d+(\.\d+)?", line)
        return float(m.group(0)) if m else 0.0

    lines.sort(key=number if "n" in flags else None, reverse="r" in flags)  # type: ignore[arg-type]
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    return ExecResult("".join(ln + "\n" for ln in lines).encode(), err, code)


def _sleep(ctx: ExecContext) -> ExecResult:
    for a in ctx.argv[1:]:
        if a in ("infinity", "inf"):
            continue
        try:
            float(a.rstrip("smhd"))
        except ValueError:
            return _ok(err=f"sleep: invalid number '{a}'\n" if ctx.busybox else
                       f"sleep: invalid time interval '{a}'\n", code=1)
    if not ctx.argv[1:]:
        return _ok(err="sleep: missing operand\n", code=1)
    return _ok()


def _pwd(ctx: ExecContext) -> ExecResult:
    return _ok(ctx.cwd + "\n")


def _test(ctx: ExecContext) -> ExecResult:
    args = ctx.argv[1:]
    if ctx.argv[0] == "[":
        if not args or args[-1] != "]":
            return _ok(err="[: missing ]\n" if not ctx.busybox else "sh: missing ]\n", code=2)
        args = args[:-1]
    try:
        return _ok(code=0 if _test_expr(ctx, args) else 1)
    except ValueError as e:
        return _ok(err=f"{ctx.argv[0]}: {e}\n", code=2)


def _test_expr(ctx: ExecContext, args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _test_expr(ctx, args[1:])
    for joiner in ("-o", "-a"):
        if joiner in args:
            k = args.index(joiner)
            left, right = _test_expr(ctx, args[:k]), _test_expr(ctx, args[k + 1:])
            return (left or right) if joiner == "-o" else (left and right)
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, v = args
        path = ctx.path(v)
        checks = {"-n": lambda: v != "", "-z": lambda: v == "", "-e": lambda: ctx.fs.exists(path),
                  "-f": lambda: ctx.fs.is_file(path), "-d": lambda: ctx.fs.is_dir(path),
                  "-s": lambda: bool(ctx.fs.files.get(path)), "-r": lambda: ctx.fs.exists(path),
                  "-x": lambda: ctx.fs.is_dir(path) or path.startswith("/bin/"), "-w": lambda: False,
                  "-L": lambda: False, "-h": lambda: False}
        if op not in checks:
            raise ValueError(f"{op}: unary operator expected")
        return checks[op]()
    if len(args) == 3:
        a, op, b = args
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        ints = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__, "-gt": int.__gt__,
                "-ge": int.__ge__}
        if op in ints:
            try:
                return bool(ints[op](int(a), int(b)))
            except ValueError:
                raise ValueError(f"{a if not a.lstrip('-').isdigit() else b}: integer expression expected") \
                    from None
        raise ValueError(f"{op}: binary operator expected")
    raise ValueError("too many arguments")


BUILTINS: dict[str, Program] = {
    "sh": _sh, "bash": _sh, "ash": _sh, "echo": _echo, "printf": _printf, "cat": _cat, "env": _env,
    "printenv": _printenv, "ls": _ls, "hostname": _hostname, "id": _id, "date": _date, "true": _true,
    "false": _false, "ps": _ps, "head": _head, "tail": _tail, "grep": _grep, "wc": _wc, "sleep": _sleep,
    "pwd": _pwd, "test": _test, "[": _test, "tr": _tr, "sort": _sort,
}


