"""The default wiring: the probe and the executor as `aoi probe` / `aoi executor` stdio children."""

from __future__ import annotations

from typing import Any

from tests.observer.conftest import run
from transcripts import TranscriptStore


def test_episode_over_stdio(sim_factory: Any, store: TranscriptStore) -> None:
    sim = sim_factory("scale_pod_zero_social_net-mitigation-1", transport="stdio")
    outcome, graded = run(sim, store)
    assert outcome.stop_reason == "submitted" and graded["success"] is True, (outcome, graded)
    ep = store.episode(outcome.episode_id)
    assert ep.meta["transport"] == "stdio"
    assert ep.plans[0].status == "executed" and ep.plans[0].signer == "observer"
    # the executor child wrote its hash-chained audit log: one entry for the plan it ran
    audit = (sim.workdir / "audit.jsonl").read_text().splitlines()
    assert len(audit) == 1 and '"result": "executed"' in audit[0].replace('":"', '": "')
