"""Policies by name: ``baseline`` (rule-based, built in) and the model back-ends.

A back-end is a module ``observer.policies.<name>`` with ``make_policy(model: str | None, **options) -> Policy``
(see ``observer.policy.Policy``). Modules are imported only when chosen, so ``vllm`` and ``transformers`` stay
optional.
"""

from __future__ import annotations

import importlib
from typing import Any

from observer.policy import Policy

BACKENDS: dict[str, str] = {
    "baseline": "observer.baseline",
    "openai": "observer.policies.openai",
    "hf": "observer.policies.hf",
    "vllm": "observer.policies.vllm",
}


class PolicyUnavailable(RuntimeError):
    """The policy's module or its dependencies are not installed (the message says what to install)."""


def make_policy(name: str, model: str | None = None, **options: Any) -> Policy:
    """A policy by name. ``options`` go to its constructor; every policy takes ``guidance`` (a guidance file from
    ``aoi evolve lessons``; None: none). A guidance file that cannot be read is reported as PolicyUnavailable."""
    from observer.guidance import GuidanceError

    try:
        return _make(name, model, **options)
    except GuidanceError as e:
        raise PolicyUnavailable(str(e)) from None


def _make(name: str, model: str | None = None, **options: Any) -> Policy:
    if name == "baseline":
        from observer.baseline import BaselinePolicy

        return BaselinePolicy(**options)
    module_name = BACKENDS.get(name)
    if module_name is None:
        raise PolicyUnavailable(f"unknown policy {name!r}; choose one of: {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise PolicyUnavailable(f"the {name!r} policy is not available in this version of AOI") from None
        raise PolicyUnavailable(f"the {name!r} policy needs {e.name!r}: install it (see README)") from None
    factory = getattr(module, "make_policy", None)
    if factory is None:
        raise PolicyUnavailable(f"{module_name} has no make_policy(model, **options)")
    return factory(model, **options)
