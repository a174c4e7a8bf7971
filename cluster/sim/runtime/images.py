"""The image catalog: which images exist, how big they are, what their processes do by default.

An image not in the catalog does not exist, as on a registry: pulling it fails with the registry's own
error. Tags exist when they look like releases (``latest``, ``1.25``, ``7.0-alpine``, ``v1.2.3``), unless
an entry lists its tags. Layers above add the images of their applications.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

RELEASE_TAG = re.compile(r"^(latest|stable|mainline|alpine|slim|bookworm|jammy|noble|"
                         r"v?\d+(\.\d+)*([-._+][0-9A-Za-z]+)*)$")


@dataclass(frozen=True)
class ImageInfo:
    repository: str  # normalized, e.g. "docker.io/library/nginx"
    kind: str = "server"  # "server": runs until stopped; "shell": its default command exits at once
    binaries: tuple[str, ...] = ()  # what exists in $PATH besides the entrypoint; empty = anything
    size: int = 50_000_000
    memory_bytes: int = 20 * 2**20
    cpu_cores: float = 0.005
    log_style: str = "generic"
    tags: tuple[str, ...] = ()  # when set, only these tags exist
    stop_seconds: float = 0.5


_SHELL_BINS = ("sh", "/bin/sh", "bash", "/bin/bash", "sleep", "echo", "cat", "env", "ls", "true", "false",
               "date", "printenv", "tail", "head", "wget", "nc", "ping", "nslookup", "hostname", "id", "ps",
               "mkdir", "touch", "yes", "top", "dd")


def _i(repo: str, **kw: object) -> ImageInfo:
    return ImageInfo(repository=repo, **kw)  # type: ignore[arg-type]


CATALOG: tuple[ImageInfo, ...] = (
    _i("docker.io/library/nginx", size=72_000_000, memory_bytes=8 * 2**20, log_style="nginx", stop_seconds=0.2),
    _i("docker.io/library/busybox", kind="shell", binaries=_SHELL_BINS, size=4_300_000, memory_bytes=2**20),
    _i("docker.io/library/alpine", kind="shell", binaries=_SHELL_BINS, size=7_800_000, memory_bytes=2**20),
    _i("docker.io/library/ubuntu", kind="shell", binaries=(*_SHELL_BINS, "apt-get", "curl"), size=29_000_000),
    _i("docker.io/library/debian", kind="shell", binaries=_SHELL_BINS, size=49_000_000),
    _i("docker.io/library/python", kind="shell", binaries=(*_SHELL_BINS, "python", "python3", "pip"),
       size=380_000_000),
    _i("docker.io/library/redis", size=41_000_000, memory_bytes=6 * 2**20, log_style="redis"),
    _i("docker.io/library/mongo", size=250_000_000, memory_bytes=150 * 2**20, log_style="mongod"),
    _i("docker.io/library/memcached", size=30_000_000, memory_bytes=4 * 2**20, log_style="memcached"),
    _i("docker.io/library/postgres", size=150_000_000, memory_bytes=40 * 2**20, log_style="generic"),
    _i("docker.io/library/mysql", size=180_000_000, memory_bytes=350 * 2**20, log_style="generic"),
    _i("docker.io/library/httpd", size=55_000_000, memory_bytes=10 * 2**20, log_style="generic"),
    _i("registry.k8s.io/pause", size=320_000, memory_bytes=2**19),
    _i("registry.k8s.io/coredns/coredns", size=18_000_000, memory_bytes=15 * 2**20, log_style="coredns"),
    _i("registry.k8s.io/etcd", size=57_000_000, memory_bytes=60 * 2**20, log_style="klog"),
    _i("registry.k8s.io/kube-apiserver", size=28_000_000, memory_bytes=250 * 2**20, log_style="klog"),
    _i("registry.k8s.io/kube-controller-manager", size=26_000_000, memory_bytes=50 * 2**20, log_style="klog"),
    _i("registry.k8s.io/kube-scheduler", size=20_000_000, memory_bytes=25 * 2**20, log_style="klog"),
    _i("registry.k8s.io/kube-proxy", size=30_000_000, memory_bytes=20 * 2**20, log_style="klog"),
    _i("docker.io/kindest/kindnetd", size=36_000_000, memory_bytes=12 * 2**20, log_style="klog"),
    _i("docker.io/kindest/local-path-provisioner", size=17_000_000, memory_bytes=10 * 2**20, log_style="klog"),
    _i("registry.k8s.io/metrics-server/metrics-server", size=19_000_000, memory_bytes=20 * 2**20, log_style="klog"),
)


def normalize(image: str) -> tuple[str, str]:
    """``nginx:1.25`` -> ("docker.io/library/nginx", "1.25"), as containerd names it."""
    ref = image.strip()
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return name, digest or tag


class ImageCatalog:
    def __init__(self, entries: tuple[ImageInfo, ...] = CATALOG):
        self._by_repo = {e.repository: e for e in entries}

    def add(self, info: ImageInfo) -> None:
        self._by_repo[info.repository] = info

    def lookup(self, image: str) -> tuple[ImageInfo | None, str | None]:
        """(info, None) when the image can be pulled, else (info or None, the registry's error)."""
        repo, tag = normalize(image)
        full = f"{repo}:{tag}" if not tag.startswith("sha256:") else f"{repo}@{tag}"
        info = self._by_repo.get(repo)
        if info is None:
            return None, (f'rpc error: code = Unknown desc = failed to pull and unpack image "{full}": failed to '
                          f'resolve reference "{full}": pull access denied, repository does not exist or may '
                          "require authorization: server message: insufficient_scope: authorization failed")
        ok = tag.startswith("sha256:") or (tag in info.tags if info.tags else bool(RELEASE_TAG.match(tag)))
        if not ok:
            return info, (f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": failed '
                          f'to resolve reference "{full}": {full}: not found')
        return info, None


def image_id(image: str) -> str:
    repo, _ = normalize(image)
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
