"""``ClusterEnv`` driven directly, without a model: reset from an episode-level row, tool calls through the
Observer's loop on the simulator, submit, and the benchmark grade as the reward."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tests.training.fixtures import TRAIN_SKIP

datasets = pytest.importorskip("datasets", reason=TRAIN_SKIP)


def tool_methods() -> list[str]:
    """What TRL offers the model: the public methods other than reset and get_reward."""
    from training.env import ClusterEnv

    return [n for n, _ in inspect.getmembers(ClusterEnv, predicate=inspect.isfunction)
            if not n.startswith("_") and n not in ("reset", "get_reward")]


def test_tools_match_the_loop_and_render_as_schemas() -> None:
    pytest.importorskip("transformers", reason=TRAIN_SKIP)
    from transformers.utils import get_json_schema

    from training.env import ClusterEnv
    from training.sim_session import SimSession

    env = ClusterEnv()
    with SimSession("scale_pod_zero_social_net-detection-1") as s:
        offered = {t.name: t for t in s.tools}
    assert set(tool_methods()) == set(offered)  # every tool the Observer's loop offers, and nothing else
    for name in tool_methods():
        params = set(get_json_schema(getattr(env, name))["function"]["parameters"]["properties"])
        schema = set((offered[name].input_schema or {}).get("properties") or {})
        assert params <= schema, f"{name}: {sorted(params - schema)} are not arguments of the real tool"


def test_an_episode_with_a_right_answer_and_one_without_an_answer(built_data: Path, tmp_path: Path) -> None:
    from training.env import ClusterEnv, EnvConfig
    from transcripts import TranscriptStore

    rows = datasets.load_from_disk(str(built_data / "episodes"))
    row = next(r for r in rows if r["problem_id"] == "scale_pod_zero_social_net-localization-1")
    env = ClusterEnv(EnvConfig(transcripts=tmp_path / "rollouts.db"))
    assert env.reset(**row) is None  # the row's prompt already carries the task text
    ns = "test-social-network"
    overview = env.cluster_overview(namespace=ns)
    assert "deployment/user-service" in overview and "scaled to 0" in overview
    assert "Error" in env.describe(kind="deployment", name="no-such-service", namespace=ns)
    assert "invalid answer" in env.submit(answer={"system_level": "Application"})  # not a localization answer
    assert "episode is over" in env.submit(answer=["user-service"])
    assert "episode is over" in env.topology(namespace=ns)
    assert env.get_reward() == 1.0 and env.last_grade["success"]

    text = env.reset(problem_id=row["problem_id"], seed=0, prompt=[{"role": "user", "content": ""}])
    assert text and "localize faults" in text  # no prompt with the task: reset returns it for TRL to append
    env.cluster_overview()
    assert env.get_reward() == 0.0  # never submitted
    env._close()
    with TranscriptStore(tmp_path / "rollouts.db", create=False) as store:
        eps = sorted(store.episodes(limit=None), key=lambda e: e.started_at)
        assert [(e.policy, e.success, e.n_steps) for e in eps] == [("grpo", True, 5), ("grpo", False, 3)]


def test_reset_refuses_what_it_cannot_run() -> None:
    from training.env import ClusterEnv, EnvConfig, EnvError

    with pytest.raises(EnvError, match="no problem_id"):
        ClusterEnv().reset(prompt=[{"role": "user", "content": ""}])
    with pytest.raises(EnvError, match="not one training may learn from"):
        ClusterEnv(EnvConfig(problems=["k8s_target_port-misconfig-detection-1"])).reset()
