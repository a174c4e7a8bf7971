"""Everything a probe tool needs, built once per server from the settings: the read-only Kubernetes reads,
the telemetry readers, the redactor, the continuation store and the output budget."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from cluster.connect import KubeHTTP, Target, connect
from servers.probe.budget import ContinuationStore, continuation_note, fit
from servers.probe.kube import Kube
from servers.probe.redact import Redactor, secret_values
from servers.probe.settings import ProbeSettings
from servers.probe.telemetry import HttpReader, ca_from_api


class ToolOutput(BaseModel):
    """What a tool returns: compact text for the model and the same facts as structured data."""

    text: str
    data: dict = Field(default_factory=dict)
    truncated: bool = False
    cursor: str | None = None


@dataclass
class ProbeContext:
    settings: ProbeSettings
    target: Target
    kube: Kube
    prometheus: HttpReader
    jaeger: HttpReader
    redactor: Redactor
    store: ContinuationStore = field(default_factory=ContinuationStore)
    _secrets_loaded: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: ProbeSettings) -> ProbeContext:
        target = connect(settings.kubeconfig, settings.context, settings.prometheus_url, settings.jaeger_url)
        ca = ca_from_api(target.api)
        ctx = cls(settings=settings, target=target,
                  kube=Kube(KubeHTTP(target.api, timeout=settings.request_timeout)),
                  prometheus=HttpReader(target.telemetry.prometheus, "Prometheus", ca, settings.request_timeout),
                  jaeger=HttpReader(target.telemetry.jaeger, "Jaeger", ca, settings.request_timeout),
                  redactor=Redactor(enabled=settings.redact))
        token = (target.api.configuration.api_key or {}).get("BearerToken", "")
        ctx.redactor.add_known([token.removeprefix("Bearer ").strip()])
        return ctx

    def refresh_known_secrets(self) -> None:
        """Learn the values of readable Secrets so they are scrubbed wherever they appear (every 60 s at most).
        Without RBAC on secrets (the recommended role) this reads nothing and patterns still apply."""
        if not self.redactor.enabled:
            return
        with self._lock:
            if time.monotonic() - self._secrets_loaded < 60:
                return
            self._secrets_loaded = time.monotonic()
        try:
            secrets = self.kube.list(self.kube.resolve("secrets"))
        except Exception:  # forbidden or unreachable: nothing to learn
            return
        for s in secrets:
            self.redactor.add_known(secret_values(s))

    def budget(self, override: int | None) -> int:
        return override or self.settings.budget_tokens

    def page(self, header: str, items: list[str], budget: int | None, unit: str = "items") -> ToolOutput:
        """Header + as many items as fit; the rest behind a cursor."""
        p = fit(header, items, self.budget(budget), self.store)
        note = continuation_note(p, unit)
        text = "\n".join([header, *p.items, *([note] if note else [])])
        return ToolOutput(text=text, data={"shown": len(p.items), "omitted": p.omitted},
                          truncated=bool(p.cursor), cursor=p.cursor)

    def resume(self, cursor: str, budget: int | None) -> ToolOutput:
        header, items = self.store.take(cursor)
        return self.page(header + " (continued)", items, budget)
