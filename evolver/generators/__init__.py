"""Candidate generators behind one interface.

A generator gets a failure case (the failed episode, its problem and seed, its classification) and, for each
attempt, returns one candidate: a policy to replay on a fresh simulator, with a label that says what it tries.
It may look at the earlier attempts of the same case (their labels and whether they verified), never at the
expected answer. ``GENERATORS`` maps names to factories (``make_generator``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from bench.problems import BenchProblem
from evolver.classify import Classification
from transcripts.models import Episode


@dataclass
class FailureCase:
    episode: Episode
    problem: BenchProblem
    failure: Classification
    seed: int
    budget: int


class Attempt(BaseModel):
    """One candidate tried on a case, and what its replay showed."""

    label: str
    verified: bool
    success: bool
    steps: int
    reason: str
    episode_id: str | None = None
    wall_s: float = 0.0


@dataclass
class Candidate:
    label: str
    policy: Any  # an observer Policy; None: not replayable (``notes["problem"]`` says why)
    notes: dict[str, Any] = field(default_factory=dict)
    # After its replay: True when the generator has nothing different left to try for this case.
    exhausted: Callable[[], bool] = lambda: False


class Generator(Protocol):
    name: str

    def candidate(self, case: FailureCase, attempt: int, tried: list[Attempt]) -> Candidate | None:
        """The ``attempt``-th candidate for the case (0-based), or None when there is nothing left to try."""
        ...


def _search(**options: Any) -> Generator:
    from evolver.generators.search import SearchGenerator

    return SearchGenerator(**options)


def _model(**options: Any) -> Generator:
    from evolver.generators.model import ModelGenerator

    return ModelGenerator.from_policy(**options)


GENERATORS: dict[str, Callable[..., Generator]] = {"search": _search, "model": _model}


class GeneratorUnavailable(RuntimeError):
    """The generator cannot be built (unknown name, no model policy); the message says what to do."""


def make_generator(name: str, **options: Any) -> Generator:
    factory = GENERATORS.get(name)
    if factory is None:
        raise GeneratorUnavailable(f"unknown generator {name!r}; choose one of: {', '.join(GENERATORS)}")
    return factory(**options)
