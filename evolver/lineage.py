"""Reading the evolver's results back from a transcript store (for the trainer and for people).

A verified correction is an episode with ``source="evolver"`` and ``meta["evolver"]``::

    {"parent": <failed episode id>, "generator": "search" | "model", "failure_class": "B",
     "failure_name": "incomplete diagnosis", "candidates": 2, "replays": 2, "label": <the candidate that verified>,
     "budget": 30, "evidence": {...}, "attempts": [{"label", "verified", "success", "steps", "reason"}, ...]}

and its failed parent carries ``meta["failure"]`` (the class, the evidence steps, the attempts, ``corrected_by``).
"""

from __future__ import annotations

from pydantic import BaseModel

from transcripts import TranscriptStore


class Correction(BaseModel):
    episode_id: str
    parent_id: str
    problem_id: str | None
    task: str | None
    generator: str
    failure_class: str
    candidates: int


def corrections(store: TranscriptStore) -> list[Correction]:
    """Every verified correction in the store, oldest first."""
    out = []
    for s in reversed(store.episodes(source="evolver", limit=None)):
        lin = store.episode(s.id).meta.get("evolver") or {}
        if not lin.get("parent"):
            continue
        out.append(Correction(episode_id=s.id, parent_id=str(lin["parent"]), problem_id=s.problem_id, task=s.task,
                              generator=str(lin.get("generator")), failure_class=str(lin.get("failure_class")),
                              candidates=int(lin.get("candidates") or 0)))
    return out


def pairs(store: TranscriptStore) -> list[tuple[str, str]]:
    """(failed episode id, its verified correction's id): preference pairs on the same problem and seed."""
    return [(c.parent_id, c.episode_id) for c in corrections(store)]
