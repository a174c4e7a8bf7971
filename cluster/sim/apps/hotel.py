"""HotelReservation (DeathStarBench, Go + gRPC) as AIOpsLab deploys it in ``test-hotel-reservation``."""

from __future__ import annotations

from cluster.sim.apps.model import AppModel, Call, Component, MongoUser, Port, RequestType

IMAGE = "yinfangchen/hotelreservation:latest"
MONGO = "mongo:4.4.6"
MEMCACHED = "memcached:1.6.7"

# (service, port, downstream services, datastores)
LOGIC = [
    ("frontend", 5000, ("search", "profile", "recommendation", "user", "reservation"), ()),
    ("search", 8082, ("geo", "rate"), ()),
    ("geo", 8083, (), ("mongodb-geo",)),
    ("profile", 8081, (), ("mongodb-profile", "memcached-profile")),
    ("rate", 8084, (), ("mongodb-rate", "memcached-rate")),
    ("recommendation", 8085, (), ("mongodb-recommendation",)),
    ("reservation", 8087, (), ("mongodb-reservation", "memcached-reserve")),
    ("user", 8086, (), ("mongodb-user",)),
]
# MongoDB instance -> (database, PersistentVolume)
MONGOS = {
    "geo": "geo-db",
    "profile": "profile-db",
    "rate": "rate-db",
    "recommendation": "recommendation-db",
    "reservation": "reservation-db",
    "user": "user-db",
}
MEMCACHEDS = {"profile": "profile", "rate": "rate", "reserve": "reservation"}


def _components() -> tuple[Component, ...]:
    out: list[Component] = []
    for name, port, calls, stores in LOGIC:
        out.append(
            Component(
                name=name,
                role="gateway" if name == "frontend" else "logic",
                image=IMAGE,
                container=f"hotel-reserv-{name}",
                command=(name,),
                ports=(Port(port=port, name=str(port)),),
                calls=calls,
                stores=stores,
                log_style="zerolog",
                language="go",
                base_latency_ms=1.5 if name != "frontend" else 3.0,
                cpu_cores=0.02 if name == "frontend" else 0.008,
                memory_mib=14,
                env={"JAEGER_SAMPLE_RATIO": "1", "MEMC_TIMEOUT": "2", "GC": "100"},
            )
        )
    for svc, db in MONGOS.items():
        cms: tuple[tuple[str, str], ...] = ()
        if svc in ("geo", "rate"):
            cms = ((f"mongo-{svc}-script", "/docker-entrypoint-initdb.d"), (f"failure-admin-{svc}", "/scripts"))
        out.append(
            Component(
                name=f"mongodb-{svc}",
                role="mongodb",
                image=MONGO,
                container=f"hotel-reserv-{svc}-mongo",
                args=("--auth",),
                ports=(Port(port=27017, name="mongodb-" + svc),),
                log_style="mongod",
                language="c++",
                database=db,
                volume=svc,
                config_maps=cms,
                base_latency_ms=0.8,
                cpu_cores=0.01,
                memory_mib=110,
            )
        )
    for svc, owner in MEMCACHEDS.items():
        out.append(
            Component(
                name=f"memcached-{svc}",
                role="memcached",
                image=MEMCACHED,
                container=f"hotel-reserv-{owner}-mmc",
                ports=(Port(port=11211, name=f"memcached-{svc}"),),
                log_style="memcached",
                language="c",
                env={"MEMCACHED_CACHE_SIZE": "128", "MEMCACHED_THREADS": "2"},
                base_latency_ms=0.3,
                memory_mib=6,
            )
        )
    out.append(
        Component(
            name="consul",
            role="discovery",
            image="hashicorp/consul:1.13.2",
            container="consul",
            ports=(
                Port(port=8300, name="8300"),
                Port(port=8400, name="8400"),
                Port(port=8500, name="8500"),
                Port(port=8600, name="8600", protocol="UDP"),
            ),
            log_style="consul",
            language="go",
            memory_mib=40,
        )
    )
    out.append(
        Component(
            name="jaeger",
            role="tracing",
            image="jaegertracing/all-in-one:1.57",
            container="hotel-reserv-jaeger",
            ports=(
                Port(port=14269, name="14269"),
                Port(port=5778, name="5778"),
                Port(port=14268, name="14268"),
                Port(port=14267, name="14267"),
                Port(port=16686, name="16686"),
                Port(port=5775, name="5775", protocol="UDP"),
                Port(port=6831, name="6831", protocol="UDP"),
                Port(port=6832, name="6832", protocol="UDP"),
            ),
            log_style="jaeger",
            language="go",
            memory_mib=60,
        )
    )
    return tuple(out)


def _mongo(svc: str, op: str = "find") -> Call:
    return Call(service=f"mongodb-{svc}", operation=op)


def _memc(svc: str) -> Call:
    return Call(service=f"memcached-{svc}", operation="get")


PROFILES = Call(
    service="profile", operation="/profile.Profile/GetProfiles", children=(_memc("profile"), _mongo("profile"))
)
CHECK_USER = Call(service="user", operation="/user.User/CheckUser", children=(_mongo("user"),))

# mixed-workload_type_1.lua: search 60%, recommend 39%, login 0.5%, reserve 0.5%.
REQUESTS = (
    RequestType(
        name="search_hotel",
        weight=0.60,
        root=Call(
            service="frontend",
            operation="HTTP GET /hotels",
            children=(
                Call(
                    service="search",
                    operation="/search.Search/Nearby",
                    children=(
                        Call(service="geo", operation="/geo.Geo/Nearby", children=(_mongo("geo"),)),
                        Call(service="rate", operation="/rate.Rate/GetRates", children=(_memc("rate"), _mongo("rate"))),
                    ),
                ),
                Call(
                    service="reservation",
                    operation="/reservation.Reservation/CheckAvailability",
                    children=(_memc("reserve"), _mongo("reservation")),
                ),
                PROFILES,
            ),
        ),
    ),
    RequestType(
        name="recommend",
        weight=0.39,
        root=Call(
            service="frontend",
            operation="HTTP GET /recommendations",
            children=(
                Call(
                    service="recommendation",
                    operation="/recommendation.Recommendation/GetRecommendations",
                    children=(_mongo("recommendation"),),
                ),
                PROFILES,
            ),
        ),
    ),
    RequestType(
        name="user_login",
        weight=0.005,
        root=Call(service="frontend", operation="HTTP POST /user", children=(CHECK_USER,)),
    ),
    RequestType(
        name="reserve",
        weight=0.005,
        root=Call(
            service="frontend",
            operation="HTTP POST /reservation",
            children=(
                CHECK_USER,
                Call(
                    service="reservation",
                    operation="/reservation.Reservation/MakeReservation",
                    children=(_memc("reserve"), _mongo("reservation", "insert")),
                ),
            ),
        ),
    ),
)


def _scripts(svc: str, db: str) -> dict[str, dict[str, str]]:
    init = (
        f"#!/bin/bash\n# k8s-{svc}-mongo.sh: create the service users\n"
        'ADMIN_USER="admin"\nADMIN_PWD="admin"\nROOT_USER="root"\nROOT_PWD="root"\n'
        f'TARGET_DB="{db}"\nREAD_WRITE_ROLE="readWrite"\n'
        "mongo admin --eval \"db.createUser({user: '$ADMIN_USER', pwd: '$ADMIN_PWD', "
        "roles: [{role: 'userAdminAnyDatabase', db: 'admin'}]});\"\n"
        "mongo admin --eval \"db.createUser({user: '$ROOT_USER', pwd: '$ROOT_PWD', "
        "roles: [{role: 'userAdminAnyDatabase', db: 'admin'}]});\"\n"
        "mongo admin -u $ROOT_USER -p $ROOT_PWD --authenticationDatabase admin --eval "
        "\"db.grantRolesToUser('$ADMIN_USER', [{role: '$READ_WRITE_ROLE', db: '$TARGET_DB'}]);\"\n"
    )
    revoke = (
        '#!/bin/bash\nADMIN_USER="admin"\nADMIN_PWD="admin"\n'
        f'TARGET_DB="{db}"\nREAD_WRITE_ROLE="readWrite"\n'
        "mongo admin -u $ADMIN_USER -p $ADMIN_PWD --authenticationDatabase admin --eval "
        "\"db.revokeRolesFromUser('$ADMIN_USER', [{role: '$READ_WRITE_ROLE', db: '$TARGET_DB'}]);\"\n"
    )
    mitigate = (
        '#!/bin/bash\nROOT_USER="root"\nROOT_PWD="root"\nADMIN_USER="admin"\n'
        f'TARGET_DB="{db}"\nREAD_WRITE_ROLE="readWrite"\n'
        "mongo admin -u $ROOT_USER -p $ROOT_PWD --authenticationDatabase admin --eval "
        "\"db.grantRolesToUser('$ADMIN_USER', [{role: '$READ_WRITE_ROLE', db: '$TARGET_DB'}]);\"\n"
    )
    remove = (
        '#!/bin/bash\nROOT_USER="root"\nROOT_PWD="root"\nADMIN_USER="admin"\n'
        "mongo admin -u $ROOT_USER -p $ROOT_PWD --authenticationDatabase admin --eval "
        "\"db.dropUser('$ADMIN_USER');\"\n"
    )
    remove_mitigate = (
        '#!/bin/bash\nROOT_USER="root"\nROOT_PWD="root"\nADMIN_USER="admin"\nADMIN_PWD="admin"\n'
        f'TARGET_DB="{db}"\n'
        "mongo admin -u $ROOT_USER -p $ROOT_PWD --authenticationDatabase admin --eval "
        "\"db.createUser({user: '$ADMIN_USER', pwd: '$ADMIN_PWD', roles: [{role: 'userAdminAnyDatabase', "
        "db: 'admin'}, {role: 'readWrite', db: '$TARGET_DB'}]});\"\n"
    )
    return {
        f"mongo-{svc}-script": {f"k8s-{svc}-mongo.sh": init},
        f"failure-admin-{svc}": {
            f"revoke-admin-{svc}-mongo.sh": revoke,
            f"revoke-mitigate-admin-{svc}-mongo.sh": mitigate,
            "remove-admin-mongo.sh": remove,
            f"remove-mitigate-admin-{svc}-mongo.sh": remove_mitigate,
        },
    }


HOTEL = AppModel(
    name="hotel-reservation",
    title="Hotel Reservation",
    namespace="test-hotel-reservation",
    label_key="io.kompose.service",
    pod_labels="kompose",
    description="Go + gRPC; hotel search with profiles and rates, recommendations, reservations",
    components=_components(),
    requests=REQUESTS,
    entry="frontend",
    request_rate=10.0,
    mongo_users=(
        MongoUser(user="admin", password="admin", roles=[("userAdminAnyDatabase", "admin"), ("readWrite", "{db}")]),
        MongoUser(user="root", password="root", roles=[("userAdminAnyDatabase", "admin"), ("readWrite", "{db}")]),
    ),
    config_maps={**_scripts("geo", "geo-db"), **_scripts("rate", "rate-db")},
)
