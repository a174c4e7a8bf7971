"""The images the simulated applications (and Chaos Mesh) run, added to a cluster's image catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.sim.apps.hotel import LOGIC as HOTEL_LOGIC
from cluster.sim.apps.social import LOGIC as SOCIAL_LOGIC
from cluster.sim.runtime.images import ImageInfo

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

_SH = ("sh", "/bin/sh", "bash", "/bin/bash", "cat", "env", "ls", "echo", "sleep", "printenv", "hostname")

APP_IMAGES = (
    ImageInfo(
        "docker.io/yinfangchen/hotelreservation",
        binaries=(*(s for s, *_ in HOTEL_LOGIC), *_SH),
        size=28_000_000,
        memory_bytes=14 * 2**20,
        log_style="zerolog",
    ),
    # The buggy build AIOpsLab's misconfig_app fault deploys.
    ImageInfo(
        "docker.io/yinfangchen/geo",
        tags=("app3", "app2", "app1"),
        binaries=("geo", *_SH),
        size=28_000_000,
        memory_bytes=14 * 2**20,
        log_style="zerolog",
    ),
    ImageInfo(
        "docker.io/deathstarbench/social-network-microservices",
        binaries=(*(b for _, b, *_ in SOCIAL_LOGIC), *_SH),
        size=380_000_000,
        memory_bytes=9 * 2**20,
        log_style="thrift",
    ),
    ImageInfo(
        "docker.io/yg397/openresty-thrift",
        tags=("xenial", "latest"),
        size=210_000_000,
        memory_bytes=30 * 2**20,
        log_style="openresty",
    ),
    ImageInfo(
        "docker.io/yg397/media-frontend",
        tags=("xenial", "latest"),
        size=200_000_000,
        memory_bytes=20 * 2**20,
        log_style="openresty",
    ),
    ImageInfo("docker.io/hashicorp/consul", size=150_000_000, memory_bytes=40 * 2**20, log_style="consul"),
    ImageInfo("docker.io/jaegertracing/all-in-one", size=30_000_000, memory_bytes=60 * 2**20, log_style="jaeger"),
    ImageInfo("ghcr.io/open-telemetry/demo", size=150_000_000, memory_bytes=60 * 2**20, log_style="otel-go"),
    ImageInfo("ghcr.io/open-feature/flagd", size=25_000_000, memory_bytes=30 * 2**20, log_style="flagd"),
    ImageInfo("docker.io/valkey/valkey", size=15_000_000, memory_bytes=8 * 2**20, log_style="redis"),
    ImageInfo("docker.io/otel/opentelemetry-collector-contrib", size=90_000_000, memory_bytes=100 * 2**20),
    ImageInfo("gcr.io/google-containers/pause", size=300_000, memory_bytes=2**19, log_style="none"),
    ImageInfo("ghcr.io/chaos-mesh/chaos-mesh", size=60_000_000, memory_bytes=40 * 2**20, log_style="klog"),
    ImageInfo("ghcr.io/chaos-mesh/chaos-daemon", size=80_000_000, memory_bytes=30 * 2**20, log_style="klog"),
    ImageInfo("ghcr.io/chaos-mesh/chaos-dashboard", size=70_000_000, memory_bytes=30 * 2**20, log_style="klog"),
)


def register_images(cluster: SimCluster) -> None:
    for info in APP_IMAGES:
        cluster.images.add(info)
