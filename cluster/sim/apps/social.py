"""SocialNetwork (DeathStarBench, C++ / Thrift) as AIOpsLab deploys it in ``test-social-network``."""

from __future__ import annotations

from cluster.sim.apps.model import AppModel, Call, Component, Port, RequestType

IMAGE = "deathstarbench/social-network-microservices:latest"

# (service, binary, downstream services, datastores)
LOGIC = [
    (
        "compose-post-service",
        "ComposePostService",
        (
            "text-service",
            "media-service",
            "unique-id-service",
            "user-service",
            "post-storage-service",
            "user-timeline-service",
            "home-timeline-service",
        ),
        (),
    ),
    ("text-service", "TextService", ("url-shorten-service", "user-mention-service"), ()),
    ("url-shorten-service", "UrlShortenService", (), ("url-shorten-mongodb", "url-shorten-memcached")),
    ("user-mention-service", "UserMentionService", (), ("user-mongodb", "user-memcached")),
    ("user-service", "UserService", ("social-graph-service",), ("user-mongodb", "user-memcached")),
    ("social-graph-service", "SocialGraphService", ("user-service",), ("social-graph-mongodb", "social-graph-redis")),
    (
        "home-timeline-service",
        "HomeTimelineService",
        ("post-storage-service", "social-graph-service"),
        ("home-timeline-redis",),
    ),
    (
        "user-timeline-service",
        "UserTimelineService",
        ("post-storage-service",),
        ("user-timeline-mongodb", "user-timeline-redis"),
    ),
    ("post-storage-service", "PostStorageService", (), ("post-storage-mongodb", "post-storage-memcached")),
    ("media-service", "MediaService", (), ("media-mongodb", "media-memcached")),
    ("unique-id-service", "UniqueIdService", (), ()),
]
MONGOS = ("url-shorten", "user", "social-graph", "user-timeline", "post-storage", "media")
REDIS = ("home-timeline", "social-graph", "user-timeline")
MEMCACHED = ("url-shorten", "user", "post-storage", "media")


def _components() -> tuple[Component, ...]:
    out: list[Component] = [
        Component(
            name="nginx-thrift",
            role="gateway",
            image="yg397/openresty-thrift:xenial",
            container="nginx-thrift",
            ports=(Port(port=8080, name="8080"),),
            calls=(
                "compose-post-service",
                "home-timeline-service",
                "user-timeline-service",
                "user-service",
                "social-graph-service",
            ),
            log_style="openresty",
            language="lua",
            base_latency_ms=2.0,
            cpu_cores=0.02,
            memory_mib=30,
        ),
        Component(
            name="media-frontend",
            role="frontend",
            image="yg397/media-frontend:xenial",
            container="media-frontend",
            ports=(Port(port=8081, target=8080, name="8081"),),
            calls=("media-service",),
            log_style="openresty",
            language="lua",
            memory_mib=20,
        ),
    ]
    for name, binary, calls, stores in LOGIC:
        out.append(
            Component(
                name=name,
                role="logic",
                image=IMAGE,
                container=name,
                command=(binary,),
                ports=(Port(port=9090, name="9090"),),
                calls=calls,
                stores=stores,
                log_style="thrift",
                language="c++",
                base_latency_ms=0.9,
                cpu_cores=0.006,
                memory_mib=9,
            )
        )
    for db in MONGOS:
        out.append(
            Component(
                name=f"{db}-mongodb",
                role="mongodb",
                image="mongo:4.4.6",
                container=f"{db}-mongodb",
                args=("--config", "/social-network-microservices/config/mongod.conf"),
                ports=(Port(port=27017, name="27017"),),
                log_style="mongod",
                language="c++",
                database=db,
                base_latency_ms=0.7,
                memory_mib=100,
            )
        )
    for r in REDIS:
        out.append(
            Component(
                name=f"{r}-redis",
                role="redis",
                image="redis:6.2.4",
                container=f"{r}-redis",
                args=("/social-network-microservices/config/redis.conf",),
                ports=(Port(port=6379, name="6379"),),
                log_style="redis",
                language="c",
                base_latency_ms=0.2,
                memory_mib=8,
            )
        )
    for m in MEMCACHED:
        out.append(
            Component(
                name=f"{m}-memcached",
                role="memcached",
                image="memcached:1.6.7",
                container=f"{m}-memcached",
                ports=(Port(port=11211, name="11211"),),
                log_style="memcached",
                language="c",
                base_latency_ms=0.2,
                memory_mib=5,
            )
        )
    out.append(
        Component(
            name="jaeger",
            role="tracing",
            image="jaegertracing/all-in-one:1.57",
            container="jaeger",
            ports=(
                Port(port=5775, name="udp1", protocol="UDP"),
                Port(port=6831, name="tcp1", protocol="UDP"),
                Port(port=6832, name="udp2", protocol="UDP"),
                Port(port=5778, name="tcp2"),
                Port(port=16686, name="tcp3"),
                Port(port=14268, name="tcp4"),
                Port(port=9411, name="tcp5"),
            ),
            log_style="jaeger",
            language="go",
            memory_mib=60,
        )
    )
    return tuple(out)


def _c(svc: str, op: str, *children: Call) -> Call:
    return Call(service=svc, operation=op, children=children)


USER_READ = _c("user-service", "ComposeCreatorWithUserId", _c("user-memcached", "get"), _c("user-mongodb", "find"))
POSTS = _c("post-storage-service", "ReadPosts", _c("post-storage-memcached", "get"), _c("post-storage-mongodb", "find"))
# compose-post.lua / read-home-timeline.lua / read-user-timeline.lua mix (DeathStarBench mixed workload).
REQUESTS = (
    RequestType(
        name="compose_post",
        weight=0.10,
        root=_c(
            "nginx-thrift",
            "/wrk2-api/post/compose",
            _c(
                "compose-post-service",
                "ComposePost",
                _c("unique-id-service", "ComposeUniqueId"),
                _c(
                    "text-service",
                    "ComposeText",
                    _c(
                        "url-shorten-service",
                        "ComposeUrls",
                        _c("url-shorten-mongodb", "insert"),
                        _c("url-shorten-memcached", "set"),
                    ),
                    _c(
                        "user-mention-service",
                        "ComposeUserMentions",
                        _c("user-memcached", "get"),
                        _c("user-mongodb", "find"),
                    ),
                ),
                _c("media-service", "ComposeMedia"),
                USER_READ,
                _c("post-storage-service", "StorePost", _c("post-storage-mongodb", "insert")),
                _c(
                    "user-timeline-service",
                    "WriteUserTimeline",
                    _c("user-timeline-mongodb", "update"),
                    _c("user-timeline-redis", "zadd"),
                ),
                _c(
                    "home-timeline-service",
                    "WriteHomeTimeline",
                    _c(
                        "social-graph-service",
                        "GetFollowers",
                        _c("social-graph-redis", "zrange"),
                        _c("social-graph-mongodb", "find"),
                    ),
                    _c("home-timeline-redis", "zadd"),
                ),
            ),
        ),
    ),
    RequestType(
        name="read_home_timeline",
        weight=0.60,
        root=_c(
            "nginx-thrift",
            "/wrk2-api/home-timeline/read",
            _c("home-timeline-service", "ReadHomeTimeline", _c("home-timeline-redis", "zrevrange"), POSTS),
        ),
    ),
    RequestType(
        name="read_user_timeline",
        weight=0.30,
        root=_c(
            "nginx-thrift",
            "/wrk2-api/user-timeline/read",
            _c("user-timeline-service", "ReadUserTimeline", _c("user-timeline-redis", "zrevrange"), POSTS),
        ),
    ),
)

SOCIAL = AppModel(
    name="social-network",
    title="Social Network",
    namespace="test-social-network",
    label_key="app",
    pod_labels="app",
    helm_release="social-network",
    description="Thrift RPC; posts with media / URLs / mentions, timelines, follow graph, login",
    components=_components(),
    requests=REQUESTS,
    entry="nginx-thrift",
    request_rate=10.0,
)
