"""The three PATCH content types kube-apiserver accepts, applied to plain JSON dicts.

* ``application/merge-patch+json``      -> :func:`json_merge_patch` (RFC 7386)
* ``application/json-patch+json``       -> :func:`json_patch` (RFC 6902, JSON pointers per RFC 6901)
* ``application/strategic-merge-patch+json`` -> :func:`strategic_merge_patch`, following
  ``k8s.io/apimachinery/pkg/util/strategicpatch`` as the server runs it (``MergeParallelList`` and
  ``IgnoreUnmatchedNulls`` both on). Go reads ``patchStrategy``/``patchMergeKey`` struct tags; we read the
  declarative :data:`MERGE_KEYS` table instead, so teaching the simulator a new kind is adding rows there.

No function mutates its inputs, and every result is a fresh tree that shares nothing with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "MERGE_KEYS",
    "PatchError",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
    "supports_strategic_merge",
]


class PatchError(ValueError):
    """A patch that cannot be applied. ``str(err)`` is shown to the client in the failure Status."""


# ============================================================================================ helpers


def _copy(value: Any) -> Any:
    # JSON-only deep copy: faster than copy.deepcopy and guarantees results never alias the inputs.
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _show(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind_of(value: Any) -> str:
    # Go decodes every JSON number to float64, so ints and floats are one type; bool is not a number.
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise PatchError(f"{_show(value)} is not a JSON value")


def _ident(value: Any) -> Any:
    # A hashable identity with Go interface{} equality: 1 == 1.0, but True != 1 and "1" != 1.
    kind = _kind_of(value)
    if kind in ("map", "list"):
        return (kind, json.dumps(value, sort_keys=True))
    return (kind, value)


def _json_equal(a: Any, b: Any) -> bool:
    kind = _kind_of(a)
    if kind != _kind_of(b):
        return False
    if kind == "map":
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if kind == "list":
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# ================================================================================ RFC 7386 merge patch


def json_merge_patch(original: dict, patch: dict) -> dict:
    """Apply an RFC 7386 JSON merge patch: maps merge recursively, ``null`` deletes, lists are replaced."""
    if not isinstance(original, dict):
        raise PatchError(f"cannot merge-patch {_show(original)}: the object must be a JSON object")
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, got {_show(patch)}")
    return _merge_patch(_copy(original), patch)


def _merge_patch(target: Any, patch: Any) -> Any:
    # target is already a private copy, so it is updated in place; patch values are copied as they land.
    if not isinstance(patch, dict):
        return _copy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


# ================================================================================ RFC 6902 JSON patch

# kube-apiserver refuses JSON patches longer than this (maxJSONPatchOperations).
MAX_JSON_PATCH_OPERATIONS = 10000

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


class _OpError(PatchError):
    pass


def json_patch(original: Any, operations: list[dict]) -> Any:
    """Apply an RFC 6902 JSON patch. The operations are atomic: any failure raises and changes nothing."""
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be a JSON array of operations, got {_show(operations)}")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                         f"got {len(operations)}")
    doc = _copy(original)
    for number, operation in enumerate(operations):
        try:
            doc = _apply_operation(doc, operation)
        except _OpError as e:
            raise PatchError(f"JSON patch operation {number} {_show(operation, 120)}: {e}") from None
    return doc


def _member(operation: dict, name: str) -> Any:
    if name not in operation:
        raise _OpError(f'missing required member "{name}"')
    return operation[name]


def _pointer(operation: dict, name: str) -> list[str]:
    text = _member(operation, name)
    if not isinstance(text, str):
        raise _OpError(f'"{name}" must be a string JSON pointer, got {_show(text)}')
    if text == "":
        return []
    if not text.startswith("/"):
        raise _OpError(f'"{name}" {text!r} is not a JSON pointer: it must be empty or start with "/"')
    tokens = []
    for raw in text[1:].split("/"):
        if re.search(r"~(?![01])", raw):
            raise _OpError(f'"{name}" {text!r} has an invalid escape: "~" must be followed by 0 or 1')
        # ~1 before ~0, so "~01" decodes to "~1" and not "/" (RFC 6901 section 4).
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _render(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _index(token: str, length: int, path: list[str], *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not _ARRAY_INDEX.fullmatch(token):
        raise _OpError(f"path {_render(path)!r}: {token!r} is not a valid array index")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise _OpError(f"path {_render(path)!r}: index {index} is out of range for an array of {length}")
    return index


def _resolve(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for depth, token in enumerate(tokens):
        here = tokens[: depth + 1]
        if isinstance(node, dict):
            if token not in node:
                raise _OpError(f"path {_render(here)!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), here, allow_end=False)]
        else:
            raise _OpError(f"path {_render(here)!r} does not exist: {_render(tokens[:depth]) or 'the root'} "
                           f"is {_kind_of(node)}, not an object or array")
    return node


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), tokens, allow_end=True), value)
    else:
        raise _OpError(f"cannot add {_render(tokens)!r}: its parent is {_kind_of(parent)}, "
                       "not an object or array")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _OpError("cannot remove the whole document")
    parent = _resolve(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _OpError(f"path {_render(tokens)!r} does not exist")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(last, len(parent), tokens, allow_end=False))
    raise _OpError(f"path {_render(tokens)!r} does not exist: its parent is {_kind_of(parent)}")


def _apply_operation(doc: Any, operation: Any) -> Any:
    if not isinstance(operation, dict):
        raise _OpError("an operation must be a JSON object")
    op = _member(operation, "op")
    path = _pointer(operation, "path")
    if op == "add":
        return _add(doc, path, _copy(_member(operation, "value")))
    if op == "remove":
        _remove(doc, path)
        return doc
    if op == "replace":
        value = _copy(_member(operation, "value"))
        if not path:
            return value
        _remove(doc, path)  # replace requires an existing target (RFC 6902 4.3)
        return _add(doc, path, value)
    if op in ("move", "copy"):
        source = _pointer(operation, "from")
        if op == "copy":
            return _add(doc, path, _copy(_resolve(doc, source)))
        if path[: len(source)] == source and len(path) > len(source):
            raise _OpError(f"cannot move {_render(source)!r} into its own child {_render(path)!r}")
        if path == source:
            _resolve(doc, source)  # a no-op move still needs an existing "from"
            return doc
        return _add(doc, path, _remove(doc, source))
    if op == "test":
        expected = _member(operation, "value")
        actual = _resolve(doc, path)
        if not _json_equal(actual, expected):
            raise _OpError(f"test failed: {_render(path) or 'the document'} is {_show(actual)}, "
                           f"expected {_show(expected)}")
        return doc
    raise _OpError(f'unknown "op" {_show(op)}: expected add, remove, replace, move, copy or test')


# ============================================================================= strategic merge patch

# --- merge-key table ---------------------------------------------------------------------------------
# (kind, dotted path from the object root) -> patchMergeKey of a list with patchStrategy=merge. "*" in a
# path stands for "each item of the list". A value of None marks a list of scalars with patchStrategy=merge
# (merged as a set, e.g. finalizers). Every list not listed is atomic: the patch replaces it whole.

_OBJECT_META: dict[str, str | None] = {
    "finalizers": None,
    "ownerReferences": "uid",
}

_CONTAINER: dict[str, str | None] = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}


def _prefixed(prefix: str, rows: Mapping[str, str | None]) -> dict[str, str | None]:
    return {f"{prefix}.{path}": key for path, key in rows.items()}


_POD_SPEC: dict[str, str | None] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    **_prefixed("containers.*", _CONTAINER),
    **_prefixed("initContainers.*", _CONTAINER),
    **_prefixed("ephemeralContainers.*", _CONTAINER),
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}

# A PodTemplateSpec: its own ObjectMeta plus a PodSpec.
_POD_TEMPLATE: dict[str, str | None] = {**_prefixed("metadata", _OBJECT_META), **_prefixed("spec", _POD_SPEC)}

_CONDITIONS: dict[str, str | None] = {"status.conditions": "type"}

_WORKLOAD: dict[str, str | None] = {**_prefixed("spec.template", _POD_TEMPLATE), **_CONDITIONS}

# Kinds served by kube-apiserver from Go types, i.e. the kinds that accept strategic merge patch. Kinds with
# no merge lists beyond metadata still appear, with {}: only custom resources are absent.
_KIND_ROWS: dict[str, dict[str, str | None]] = {
    "Pod": {**_prefixed("spec", _POD_SPEC), **_CONDITIONS, "status.podIPs": "ip", "status.hostIPs": "ip",
            "status.resourceClaimStatuses": "name"},
    "PodTemplate": _prefixed("template", _POD_TEMPLATE),
    "ReplicationController": _WORKLOAD,
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "Job": _WORKLOAD,
    "CronJob": _prefixed("spec.jobTemplate.spec.template", _POD_TEMPLATE),
    "Service": {"spec.ports": "port", **_CONDITIONS},
    "Node": {"spec.podCIDRs": None, "status.conditions": "type", "status.addresses": "type"},
    "Namespace": _CONDITIONS,
    "ServiceAccount": {"secrets": "name"},
    "PersistentVolumeClaim": _CONDITIONS,
    "HorizontalPodAutoscaler": _CONDITIONS,
    "PodDisruptionBudget": _CONDITIONS,
    "Endpoints": {},  # subsets has no merge key: replaced whole
    "Event": {},
    "ConfigMap": {},
    "Secret": {},
    "PersistentVolume": {},
    "ResourceQuota": {},
    "LimitRange": {},
    "ControllerRevision": {},
    "EndpointSlice": {},
    "Ingress": {},
    "IngressClass": {},
    "NetworkPolicy": {},
    "Role": {},
    "RoleBinding": {},
    "ClusterRole": {},
    "ClusterRoleBinding": {},
    "StorageClass": {},
    "Lease": {},
    "PriorityClass": {},
    "CustomResourceDefinition": {},
    "Scale": {},  # the autoscaling/v1 Scale subresource (kubectl scale)
}

MERGE_KEYS: Mapping[tuple[str, str], str | None] = MappingProxyType({
    (kind, path): key
    for kind, rows in _KIND_ROWS.items()
    for path, key in {**_prefixed("metadata", _OBJECT_META), **rows}.items()
})

# kind -> {path tuple -> merge key}, the form the merger looks paths up in.
_RULES: dict[str, dict[tuple[str, ...], str | None]] = {}
for (_kind, _path), _key in MERGE_KEYS.items():
    _RULES.setdefault(_kind, {})[tuple(_path.split("."))] = _key


def supports_strategic_merge(kind: str) -> bool:
    """False for custom resources: kube-apiserver answers their strategic merge patches with 415."""
    return kind in _RULES


def strategic_merge_patch(original: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch to an object of ``kind`` the way kube-apiserver does."""
    rules = _RULES.get(kind)
    if rules is None:
        raise PatchError(f"strategic merge patch format is not supported for kind {kind!r}; use "
                         "application/merge-patch+json or application/json-patch+json")
    if not isinstance(original, dict):
        raise PatchError(f"cannot patch {_show(original)}: the object must be a JSON object")
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, got {_show(patch)}")
    # Both trees are private copies from here on, so the merge can work in place like the Go code.
    return _StrategicMerger(rules).merge_map(_copy(original), _copy(patch), ())


_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM_PRIMITIVES = "$deleteFromPrimitiveList"

_Path = tuple[str, ...]


def _where(path: _Path) -> str:
    return f"at {'.'.join(path)}" if path else "at the object root"


def _directive_field(key: str, prefix: str, path: _Path) -> str:
    head, slash, field = key.partition("/")
    if not slash or head != prefix or not field:
        raise PatchError(f"invalid patch directive {key!r} {_where(path)}: expected {prefix}/<field>")
    return field


def _element_kind(items: list, path: _Path) -> str:
    kinds = {_kind_of(item) for item in items}
    if "list" in kinds:
        raise PatchError(f"lists of lists are not supported {_where(path)}")
    if len(kinds) > 1:
        raise PatchError(f"list element types are not identical {_where(path)}: {_show(items)}")
    return kinds.pop()


def _is_delete_item(item: Any) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == "delete"


def _order_key(item: Any, merge_key: str, kind: str) -> Any:
    if kind == "map":
        return _ident(item.get(merge_key) if isinstance(item, dict) else None)
    return _ident(item)


def _positions(order: list, merge_key: str, kind: str) -> dict[Any, int]:
    positions: dict[Any, int] = {}
    for i, item in enumerate(order):
        positions.setdefault(_order_key(item, merge_key, kind), i)
    return positions


def _require_merge_key(items: list, merge_key: str, path: _Path) -> None:
    for item in items:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"{_show(item)} {_where(path)} does not contain declared merge key: {merge_key}")


def _partition(merged: list, by: list, merge_key: str, path: _Path) -> tuple[list, list]:
    # Items named in `by` (the patch list or $setElementOrder) vs items only the server has.
    if merge_key:
        _require_merge_key(merged, merge_key, path)
        named = {_ident(item.get(merge_key)) for item in by if isinstance(item, dict)}
        hit = [_ident(item[merge_key]) in named for item in merged]
    else:
        named = {_ident(item) for item in by}
        hit = [_ident(item) in named for item in merged]
    return ([m for m, h in zip(merged, hit, strict=True) if h],
            [m for m, h in zip(merged, hit, strict=True) if not h])


def _sort_by(items: list, order: list, merge_key: str, kind: str, path: _Path) -> list:
    # normalizeSliceOrder: stable sort by position in `order`; $patch: delete items go last.
    to_delete: list = []
    if kind == "map":
        _require_merge_key(items + order, merge_key, path)
        to_delete = [i for i in items if _is_delete_item(i)]
        items = [i for i in items if not _is_delete_item(i)]
    positions = _positions(order, merge_key, kind)
    unknown = len(order)
    return sorted(items, key=lambda i: positions.get(_order_key(i, merge_key, kind), unknown)) + to_delete


def _normalize_element_order(patch_items: list, server_only: list, patch_order: list, server_order: list,
                             merge_key: str, kind: str, path: _Path) -> list:
    # Patch items keep the patch's (or $setElementOrder's) order, server-only items keep the live order, and
    # the two are interleaved by live position where both are known (mergeSortedSlice in Go).
    right = _sort_by(patch_items, patch_order, merge_key, kind, path)
    left = _sort_by(server_only, server_order, merge_key, kind, path)
    positions = _positions(server_order, merge_key, kind)
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = positions.get(_order_key(left[i], merge_key, kind))
            ri = positions.get(_order_key(right[j], merge_key, kind))
            if li is not None and ri is not None and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _matches(item: Any, merge_key: str, target: Any) -> bool:
    return isinstance(item, dict) and merge_key in item and _ident(item[merge_key]) == target


def _same_type(a: Any, b: Any) -> bool:
    return _kind_of(a) == _kind_of(b)


class _StrategicMerger:
    """mergeMap / mergeSlice from strategicpatch, with list metadata taken from one kind's rows."""

    def __init__(self, rules: Mapping[_Path, str | None]) -> None:
        self._rules = rules

    def _list_meta(self, path: _Path) -> tuple[bool, str]:
        """(patchStrategy is merge, merge key or "" for a list of scalars)."""
        if path in self._rules:
            return True, self._rules[path] or ""
        return False, ""

    # --- maps -------------------------------------------------------------------------------------
    def merge_map(self, original: dict, patch: dict, path: _Path) -> dict:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            rest = {k: v for k, v in patch.items() if k != _DIRECTIVE}
            if directive == "replace":
                return self.merge_map({}, rest, path)
            if directive == "delete":
                # kube returns an empty map here (the key stays, its contents go), not a deleted key.
                return {}
            if directive != "merge":  # "merge" is the default behaviour; kube rejects it, we accept it
                raise PatchError(f"Unknown patch type: {_show(directive)} in map: {_show(patch)} "
                                 f"{_where(path)}")
            patch = rest
        self._apply_retain_keys(original, patch, path)
        self._apply_set_element_order(original, patch, path)
        for key, value in list(patch.items()):
            is_delete_list = False
            if key.startswith(_DELETE_FROM_PRIMITIVES):
                key = _directive_field(key, _DELETE_FROM_PRIMITIVES, path)
                is_delete_list = True
            elif key.startswith("$"):
                raise PatchError(f"unknown strategic merge patch directive {key!r} {_where(path)}")
            if value is None:
                original.pop(key, None)  # unmatched nulls are simply ignored (IgnoreUnmatchedNulls)
                continue
            field_path = (*path, key)
            if key not in original or not _same_type(original[key], value):
                # New or retyped values come from the patch, applied to nothing so no directive or null leaks
                # into the object (Go keeps them and relies on decoding into a typed struct to drop them).
                if not is_delete_list:
                    original[key] = self.normalize(value, field_path)
                continue
            current = original[key]
            if isinstance(current, dict):
                original[key] = self.merge_map(current, value, field_path)
            elif isinstance(current, list):
                original[key] = self.merge_list(current, value, field_path, is_delete_list)
            else:
                original[key] = value
        return original

    def _apply_retain_keys(self, original: dict, patch: dict, path: _Path) -> None:
        if _RETAIN_KEYS not in patch:
            return
        retain = patch.pop(_RETAIN_KEYS)
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise PatchError(f"invalid patch format of retainKeys {_where(path)}: expected a list of field "
                             f"names, got {_show(retain)}")
        keep = set(retain)
        for key, value in patch.items():
            if value is None or key.startswith((_DELETE_FROM_PRIMITIVES, _SET_ORDER)):
                continue
            if key not in keep:
                raise PatchError(f"invalid patch format of retainKeys {_where(path)}: the patch sets {key!r} "
                                 f"but $retainKeys {_show(retain)} does not list it")
        for key in list(original):
            if key not in keep:
                del original[key]

    def _apply_set_element_order(self, original: dict, patch: dict, path: _Path) -> None:
        # mergePatchIntoOriginal: merge each list named by $setElementOrder/<field> now and order it as told.
        for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
            order = patch.pop(directive)
            field = _directive_field(directive, _SET_ORDER, path)
            field_path = (*path, field)
            if not isinstance(order, list):
                raise PatchError(f"invalid patch format of setElementOrder list {_where(field_path)}: "
                                 f"{directive} must be a list, got {_show(order)}")
            in_original, in_patch = field in original, field in patch
            live = original.get(field) if in_original else []
            wanted = patch.get(field) if in_patch else []
            for what, value in (("the object", live), ("the patch", wanted)):
                if not isinstance(value, list):
                    raise PatchError(f"{directive} names {field!r}, but {field!r} in {what} is "
                                     f"{_kind_of(value)}, not a list {_where(field_path)}")
            _, merge_key = self._list_meta(field_path)
            self._validate_order(wanted, order, merge_key, field_path)
            if in_original and in_patch:
                merged = self.merge_list(live, wanted, field_path, False)
            elif in_patch:
                merged = self.normalize_list(wanted, field_path)
            elif in_original:
                merged = live
            else:
                continue
            patch.pop(field, None)  # handled here; the main loop must not merge it again
            if not live and not wanted:
                original[field] = merged
                continue
            kind = _element_kind(live + wanted, field_path)
            if kind == "map" and not merge_key:
                raise PatchError(f"{directive} {_where(path)}: {field!r} is not a list merged by key, so it "
                                 "cannot be ordered")
            patch_items, server_only = _partition(merged, order, merge_key, field_path)
            original[field] = _normalize_element_order(patch_items, server_only, order, live, merge_key, kind,
                                                       field_path)

    @staticmethod
    def _validate_order(patch_list: list, order: list, merge_key: str, path: _Path) -> None:
        # validatePatchWithSetOrderList: patch items must appear in $setElementOrder, in the same order.
        if not order or not patch_list:
            return
        items = [i for i in patch_list if not _is_delete_item(i)] if merge_key else patch_list
        pi = si = 0
        while pi < len(items) and si < len(order):
            item = items[pi]
            if isinstance(item, dict) and _DIRECTIVE in item:
                pi += 1
                continue
            if merge_key:
                _require_merge_key([item, order[si]], merge_key, path)
                equal = _ident(item[merge_key]) == _ident(order[si][merge_key])
            else:
                equal = _ident(item) == _ident(order[si])
            if equal:
                pi += 1
            si += 1
        if pi < len(items):
            raise PatchError(f"The order in patch list: {_show(patch_list)} doesn't match $setElementOrder "
                             f"list: {_show(order)} {_where(path)}")

    # --- lists ------------------------------------------------------------------------------------
    def merge_list(self, original: list, patch: list, path: _Path, is_delete_list: bool) -> list:
        is_merge, merge_key = self._list_meta(path)
        if not is_merge:
            # Atomic list: the patch value replaces it (for a $deleteFromPrimitiveList too, as in Go).
            return self.normalize_list(patch, path)
        if not original and not patch:
            return original
        kind = _element_kind(original + patch, path)
        if kind != "map":
            if is_delete_list:
                drop = {_ident(v) for v in patch}
                return [v for v in original if _ident(v) not in drop]
            merged: list = []
            seen: set = set()
            for item in original + patch:  # set union
                if _ident(item) not in seen:
                    seen.add(_ident(item))
                    merged.append(item)
        else:
            if not merge_key:
                raise PatchError(f"cannot merge lists without merge key {_where(path)}")
            original, patch, replaced = self._list_directives(original, patch, path, merge_key)
            if replaced:
                original = [self.normalize(item, (*path, "*")) for item in patch]
                patch = []
            merged = self._merge_items(original, patch, path, merge_key)
        patch_items, server_only = _partition(merged, patch, merge_key, path)
        return _normalize_element_order(patch_items, server_only, patch, original, merge_key, kind, path)

    @staticmethod
    def _list_directives(original: list, patch: list, path: _Path, merge_key: str) -> tuple[list, list, bool]:
        # mergeSliceWithSpecialElements: apply `$patch: delete` items, note `$patch: replace`, drop both.
        plain = []
        replace = False
        for item in patch:
            if _DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == "delete":
                if merge_key not in item:
                    raise PatchError(f"{_show(item)} {_where(path)} does not contain declared merge key: "
                                     f"{merge_key}")
                target = _ident(item[merge_key])
                original = [o for o in original if not _matches(o, merge_key, target)]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise PatchError(f"merging lists cannot yet be specified in the patch {_where(path)}")
            else:
                raise PatchError(f"Unknown patch type: {_show(directive)} in list item {_show(item)} "
                                 f"{_where(path)}")
        return original, plain, replace

    def _merge_items(self, original: list, patch: list, path: _Path, merge_key: str) -> list:
        merged = list(original)
        item_path = (*path, "*")
        for item in patch:
            if merge_key not in item:
                raise PatchError(f"{_show(item)} {_where(path)} does not contain declared merge key: "
                                 f"{merge_key}")
            target = _ident(item[merge_key])
            for index, existing in enumerate(merged):
                if _matches(existing, merge_key, target):
                    merged[index] = self.merge_map(existing, item, item_path)
                    break
            else:
                merged.append(self.normalize(item, item_path))
        return merged

    # --- values taken from the patch ----------------------------------------------------------------
    def normalize(self, value: Any, path: _Path) -> Any:
        """The patch value applied to nothing: directives resolved, nulls in maps dropped."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            return self.normalize_list(value, path)
        return value

    def normalize_list(self, items: list, path: _Path) -> list:
        is_merge, merge_key = self._list_meta(path)
        if is_merge and merge_key and any(isinstance(i, dict) and _DIRECTIVE in i for i in items):
            _element_kind(items, path)
            _, items, _ = self._list_directives([], items, path, merge_key)
        return [self.normalize(item, (*path, "*")) for item in items]
