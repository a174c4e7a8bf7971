"""AstronomyShop (the OpenTelemetry demo) as AIOpsLab deploys it in ``astronomy-shop``."""

from __future__ import annotations

import json

from cluster.sim.apps.model import AppModel, Call, Component, Port, RequestType

DEMO = "ghcr.io/open-telemetry/demo:2.0.2"

# (service, port, language, downstream, stores)
SERVICES = [
    ("frontend-proxy", 8080, "envoy", ("frontend", "image-provider", "flagd"), ()),
    (
        "frontend",
        8080,
        "typescript",
        ("ad", "cart", "checkout", "currency", "product-catalog", "recommendation", "shipping"),
        (),
    ),
    ("ad", 8080, "java", ("flagd",), ()),
    ("cart", 8080, "dotnet", ("flagd",), ("valkey-cart",)),
    ("checkout", 8080, "go", ("cart", "currency", "email", "payment", "product-catalog", "shipping", "kafka"), ()),
    ("currency", 8080, "cpp", (), ()),
    ("email", 8080, "ruby", (), ()),
    ("payment", 8080, "javascript", ("flagd",), ()),
    ("product-catalog", 8080, "go", ("flagd",), ()),
    ("quote", 8080, "php", (), ()),
    ("recommendation", 8080, "python", ("product-catalog", "flagd"), ()),
    ("shipping", 8080, "rust", ("quote",), ()),
    ("image-provider", 8081, "nginx", (), ()),
]
CONSUMERS = [("accounting", "dotnet"), ("fraud-detection", "kotlin")]

FLAGS: dict[str, dict] = {
    "adFailure": {"on": True, "off": False},
    "adHighCpu": {"on": True, "off": False},
    "adManualGc": {"on": True, "off": False},
    "cartFailure": {"on": True, "off": False},
    "imageSlowLoad": {"10sec": 10000, "5sec": 5000, "off": 0},
    "kafkaQueueProblems": {"on": 100, "off": 0},
    "loadGeneratorFloodHomepage": {"on": 100, "off": 0},
    "paymentFailure": {"100%": 1, "90%": 0.95, "75%": 0.75, "50%": 0.5, "25%": 0.25, "10%": 0.1, "off": 0},
    "paymentUnreachable": {"on": True, "off": False},
    "productCatalogFailure": {"on": True, "off": False},
    "recommendationCacheFailure": {"on": True, "off": False},
}
FLAG_DESCRIPTIONS = {
    "adFailure": "Fail ad service",
    "adHighCpu": "Triggers high cpu load in the ad service",
    "adManualGc": "Triggers full manual garbage collections in the ad service",
    "cartFailure": "Fail cart service",
    "imageSlowLoad": "slow loading images in the frontend",
    "kafkaQueueProblems": "Overloads Kafka queue while simultaneously introducing a consumer side delay leading to "
    "a lag spike",
    "loadGeneratorFloodHomepage": "Flood the frontend with a large amount of requests.",
    "paymentFailure": "Fail payment service charge requests n%",
    "paymentUnreachable": "Payment service is unavailable",
    "productCatalogFailure": "Fail product catalog service on a specific product",
    "recommendationCacheFailure": "Fail recommendation service cache",
}


def flagd_config() -> str:
    flags = {
        name: {
            "description": FLAG_DESCRIPTIONS[name],
            "state": "ENABLED",
            "variants": variants,
            "defaultVariant": "off",
        }
        for name, variants in FLAGS.items()
    }
    return json.dumps({"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": flags}, indent=2)


def _components() -> tuple[Component, ...]:
    out: list[Component] = []
    for name, port, lang, calls, stores in SERVICES:
        image = f"{DEMO}-{name}"
        out.append(
            Component(
                name=name,
                role="gateway" if name == "frontend-proxy" else "logic",
                image=image,
                container=name,
                ports=(Port(port=port, name="tcp-service"),),
                calls=calls,
                stores=stores,
                log_style=f"otel-{lang}",
                language=lang,
                env={"OTEL_SERVICE_NAME": name, "FLAGD_HOST": "flagd", "FLAGD_PORT": "8013"},
                base_latency_ms={"frontend": 8.0, "checkout": 6.0, "ad": 3.0, "recommendation": 4.0}.get(name, 2.0),
                cpu_cores=0.02 if name in ("frontend", "ad", "frontend-proxy") else 0.008,
                memory_mib={"ad": 280, "frontend": 120, "cart": 90, "fraud-detection": 300}.get(name, 40),
            )
        )
    for name, lang in CONSUMERS:
        out.append(
            Component(
                name=name,
                role="logic",
                image=f"{DEMO}-{name}",
                container=name,
                service=False,
                stores=("kafka",),
                log_style=f"otel-{lang}",
                language=lang,
                env={"OTEL_SERVICE_NAME": name, "KAFKA_ADDR": "kafka:9092"},
                memory_mib=250 if lang == "kotlin" else 90,
            )
        )
    out += [
        Component(
            name="flagd",
            role="flags",
            image="ghcr.io/open-feature/flagd:v0.12.8",
            container="flagd",
            command=("/flagd-build",),
            args=("start", "--port", "8013", "--ofrep-port", "8016", "--uri", "file:./etc/flagd/demo.flagd.json"),
            ports=(Port(port=8013, name="rpc"), Port(port=8016, name="ofrep"), Port(port=4000, name="tcp-service")),
            config_maps=(("flagd-config", "/etc/flagd"),),
            log_style="flagd",
            language="go",
            memory_mib=30,
        ),
        Component(
            name="kafka",
            role="queue",
            image=f"{DEMO}-kafka",
            container="kafka",
            ports=(Port(port=9092, name="plaintext"), Port(port=9093, name="controller")),
            log_style="kafka",
            language="java",
            memory_mib=450,
            base_latency_ms=1.0,
        ),
        Component(
            name="valkey-cart",
            role="redis",
            image="valkey/valkey:8.1.1-alpine",
            container="valkey-cart",
            ports=(Port(port=6379, name="valkey-cart"),),
            log_style="redis",
            language="c",
            memory_mib=8,
            base_latency_ms=0.2,
        ),
        Component(
            name="load-generator",
            role="loadgen",
            image=f"{DEMO}-load-generator",
            container="load-generator",
            ports=(Port(port=8089, name="tcp-service"),),
            calls=("frontend-proxy",),
            log_style="otel-locust",
            language="python",
            env={"LOCUST_USERS": "10", "LOCUST_HOST": "http://frontend-proxy:8080", "LOCUST_AUTOSTART": "true"},
            memory_mib=120,
        ),
        Component(
            name="otel-collector",
            role="collector",
            image="otel/opentelemetry-collector-contrib:0.120.0",
            container="opentelemetry-collector",
            ports=(Port(port=4317, name="otlp"), Port(port=4318, name="otlp-http")),
            log_style="generic",
            language="go",
            memory_mib=100,
        ),
        Component(
            name="jaeger",
            role="tracing",
            image="jaegertracing/all-in-one:1.57",
            container="jaeger",
            ports=(Port(port=16686, name="http-query"), Port(port=4317, name="grpc-otlp")),
            log_style="jaeger",
            language="go",
            memory_mib=150,
        ),
    ]
    return tuple(out)


def _c(svc: str, op: str, *children: Call) -> Call:
    return Call(service=svc, operation=op, children=children)


def _flag(svc: str, flag: str) -> Call:
    return _c("flagd", f"flagd.evaluation.v1.Service/ResolveBoolean {flag}")


GET_PRODUCT = _c(
    "product-catalog", "oteldemo.ProductCatalogService/GetProduct", _flag("product-catalog", "productCatalogFailure")
)
ADS = _c("ad", "oteldemo.AdService/GetAds", _flag("ad", "adFailure"))
RECS = _c(
    "recommendation",
    "oteldemo.RecommendationService/ListRecommendations",
    _c("product-catalog", "oteldemo.ProductCatalogService/ListProducts"),
    _flag("recommendation", "recommendationCacheFailure"),
)
CART = _c("cart", "oteldemo.CartService/GetCart", _c("valkey-cart", "HGET"), _flag("cart", "cartFailure"))
QUOTE = _c("shipping", "oteldemo.ShippingService/GetQuote", _c("quote", "POST /getquote"))


def _front(route: str, *children: Call) -> Call:
    return _c("frontend-proxy", "ingress", _c("frontend", route, *children))


# The load generator's locust tasks and their weights.
REQUESTS = (
    RequestType(
        name="index",
        weight=1,
        root=_front(
            "GET /",
            _c("currency", "oteldemo.CurrencyService/GetSupportedCurrencies"),
            _c("product-catalog", "oteldemo.ProductCatalogService/ListProducts"),
        ),
    ),
    RequestType(name="browse_product", weight=10, root=_front("GET /api/products/{productId}", GET_PRODUCT)),
    RequestType(name="get_recommendations", weight=3, root=_front("GET /api/recommendations", RECS)),
    RequestType(name="get_ads", weight=3, root=_front("GET /api/data", ADS)),
    RequestType(name="view_cart", weight=3, root=_front("GET /api/cart", CART, QUOTE)),
    RequestType(
        name="add_to_cart",
        weight=2,
        root=_front(
            "POST /api/cart", GET_PRODUCT, _c("cart", "oteldemo.CartService/AddItem", _c("valkey-cart", "HSET"))
        ),
    ),
    RequestType(
        name="checkout",
        weight=1,
        root=_front(
            "POST /api/checkout",
            _c(
                "checkout",
                "oteldemo.CheckoutService/PlaceOrder",
                CART,
                GET_PRODUCT,
                _c("currency", "oteldemo.CurrencyService/Convert"),
                QUOTE,
                _c("payment", "oteldemo.PaymentService/Charge", _flag("payment", "paymentFailure")),
                _c("shipping", "oteldemo.ShippingService/ShipOrder"),
                _c("cart", "oteldemo.CartService/EmptyCart", _c("valkey-cart", "DEL")),
                _c("email", "POST /send_order_confirmation"),
                _c("kafka", "orders publish"),
            ),
        ),
    ),
    RequestType(
        name="images",
        weight=4,
        root=_c("frontend-proxy", "ingress", _c("image-provider", "GET /images/products/{file}")),
    ),
)

ASTRONOMY = AppModel(
    name="astronomy-shop",
    title="OpenTelemetry Demo Astronomy Shop",
    namespace="astronomy-shop",
    label_key="app.kubernetes.io/name",
    pod_labels="otel",
    helm_release="astronomy-shop",
    description="online shop (cart, catalog, checkout, shipping quotes, recommendations, payment, email, discounts)",
    components=_components(),
    requests=REQUESTS,
    entry="frontend-proxy",
    request_rate=6.0,
    config_maps={"flagd-config": {"demo.flagd.json": flagd_config()}},
)
