"""In-memory object storage: resourceVersions, a watch history, an owner index and cached JSON.

Objects are plain JSON dicts, exactly what the API serves. The store never interprets them beyond
``metadata``; semantics (defaulting, validation, generation, controllers) live in ``apiserver`` and
``controllers``. Every write bumps one cluster-wide resourceVersion, as etcd does, and is fanned out to
watchers synchronously so that event order is deterministic.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from cluster.sim.errors import ApiError

Key = tuple[str, str]  # (namespace or "", name)


def clone(obj: Any) -> Any:
    """A deep copy of a JSON value; faster than copy.deepcopy for JSON-shaped data."""
    return orjson.loads(orjson.dumps(obj))


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    resource: str  # storage key, e.g. "pods", "deployments.apps"
    obj: dict
    rv: int


Listener = Callable[[WatchEvent], None]


class ObjectStore:
    def __init__(self, history: int = 20000):
        self._objects: dict[str, dict[Key, dict]] = {}
        self._json: dict[tuple[str, Key], bytes] = {}
        self._owners: dict[str, set[tuple[str, Key]]] = {}
        # Each resource's keys in (namespace, name) order, kept until a key is added or removed: lists are
        # the hot read (every kubectl page) and sorting 10,000 keys per page dominated them.
        self._sorted: dict[str, list[Key]] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._listeners: list[Listener] = []
        self.rv = 1

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        """The stored object itself: treat it as read-only (``clone`` it before changing it)."""
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[dict]:
        """Objects sorted by (namespace, name), as etcd's key order gives them."""
        objs = self._objects.get(resource, {})
        keys = self._sorted.get(resource)
        if keys is None:
            keys = self._sorted[resource] = sorted(objs)
        if namespace is not None:
            keys = keys[bisect_left(keys, (namespace, "")):bisect_left(keys, (namespace + "\0", ""))]
        return [objs[k] for k in keys]

    def count(self, resource: str) -> int:
        return len(self._objects.get(resource, {}))

    def resources(self) -> list[str]:
        return sorted(self._objects)

    def json(self, resource: str, obj: dict) -> bytes:
        """The serialized object, cached until it changes: big lists are joins of cached bytes."""
        key = (resource, _key(obj))
        data = self._json.get(key)
        if data is None:
            data = orjson.dumps(obj)
            self._json[key] = data
        return data

    def dependents(self, owner_uid: str) -> list[tuple[str, Key]]:
        return sorted(self._owners.get(owner_uid, ()))

    # -- writes ------------------------------------------------------------------------------------------
    def put(self, resource: str, obj: dict, event: str) -> dict:
        """Store ``obj`` (already complete) with the next resourceVersion and notify watchers."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = _key(obj)
        bucket = self._objects.setdefault(resource, {})
        old = bucket.get(key)
        if old is not None:
            self._index_owners(resource, key, old, remove=True)
        else:
            self._sorted.pop(resource, None)
        bucket[key] = obj
        self._json.pop((resource, key), None)
        self._index_owners(resource, key, obj)
        self._emit(WatchEvent(event, resource, obj, self.rv))
        return obj

    def remove(self, resource: str, namespace: str, name: str) -> dict:
        bucket = self._objects.get(resource, {})
        obj = bucket.pop((namespace, name), None)
        if obj is None:
            raise KeyError((resource, namespace, name))
        self._sorted.pop(resource, None)
        self._json.pop((resource, (namespace, name)), None)
        self._index_owners(resource, (namespace, name), obj, remove=True)
        self.rv += 1
        final = dict(obj)
        final["metadata"] = dict(obj["metadata"], resourceVersion=str(self.rv))
        self._emit(WatchEvent("DELETED", resource, final, self.rv))
        return final

    # -- watch -------------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def events_since(self, rv: int, resource: str) -> Iterable[WatchEvent]:
        """Events after ``rv`` for a resource; 410 Gone when the history no longer reaches back that far."""
        if self._history and rv < self._history[0].rv - 1 and rv < self.rv:
            raise ApiError(410, f"too old resource version: {rv} ({self._history[0].rv - 1})", reason="Expired")
        return [e for e in self._history if e.rv > rv and e.resource == resource]

    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _index_owners(self, resource: str, key: Key, obj: dict, remove: bool = False) -> None:
        for ref in obj["metadata"].get("ownerReferences") or ():
            uid = ref.get("uid")
            if not uid:
                continue
            if remove:
                deps = self._owners.get(uid)
                if deps:
                    deps.discard((resource, key))
                    if not deps:
                        del self._owners[uid]
            else:
                self._owners.setdefault(uid, set()).add((resource, key))

    # -- state -------------------------------------------------------------------------------------------
    def dump(self) -> dict:
        return {"rv": self.rv, "objects": {r: list(b.values()) for r, b in self._objects.items()}}

    def load(self, data: dict) -> None:
        self._objects.clear()
        self._json.clear()
        self._owners.clear()
        self._sorted.clear()
        self._history.clear()
        for resource, objs in data["objects"].items():
            for obj in objs:
                self._objects.setdefault(resource, {})[_key(obj)] = obj
                self._index_owners(resource, _key(obj), obj)
        self.rv = int(data["rv"])


def _key(obj: dict) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])
