"""Deterministic identifiers: uids, name suffixes, IP addresses, hashes, all from the cluster's seed."""

from __future__ import annotations

import hashlib
import ipaddress
import random
import uuid

# Kubernetes' rand.String alphabet: no vowels or look-alike digits, so names never spell words.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


class IdSource:
    def __init__(self, seed: int):
        self.seed = seed
        self._rng = random.Random(seed)

    def uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def suffix(self, n: int = 5) -> str:
        return "".join(self._rng.choice(_ALPHANUMS) for _ in range(n))

    def random(self) -> random.Random:
        return self._rng

    def getstate(self) -> object:
        return self._rng.getstate()

    def setstate(self, state: object) -> None:
        self._rng.setstate(state)  # type: ignore[arg-type]


def template_hash(template: dict) -> str:
    """A stable short hash of a pod template (what pod-template-hash is for)."""
    import orjson

    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).digest()
    n = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(10):
        out += _ALPHANUMS[n % len(_ALPHANUMS)]
        n //= len(_ALPHANUMS)
    return out


class IpPool:
    """Hands out addresses from a CIDR in order, skipping the network address; deterministic."""

    def __init__(self, cidr: str, skip: int = 1):
        self.net = ipaddress.ip_network(cidr)
        self.next = skip
        self.used: set[str] = set()

    def allocate(self) -> str:
        while True:
            ip = str(self.net.network_address + self.next)
            self.next += 1
            if ip not in self.used:
                self.used.add(ip)
                return ip

    def release(self, ip: str) -> None:
        self.used.discard(ip)


class PortPool:
    """NodePorts, handed out in order from the default 30000-32767 range."""

    def __init__(self, first: int = 30000, last: int = 32767):
        self.first, self.last = first, last
        self.used: set[int] = set()

    def allocate_port(self) -> int:
        for p in range(self.first, self.last + 1):
            if p not in self.used:
                self.used.add(p)
                return p
        raise RuntimeError("no NodePorts left")
