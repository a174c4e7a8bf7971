"""GRPO on the tiny model with the verifiable rewards: two real TRL steps on step prompts move the LoRA adapter,
log each reward dimension, and the adapter drives an Observer episode; a run continues an earlier adapter; the
episode mode runs rollouts on the simulator through ClusterEnv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.training.fixtures import PROBLEM, TRAIN_PROBLEM, run_episode

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::RuntimeWarning")


def variety(completions: list[Any], **kwargs: Any) -> list[float]:
    """A tie-breaker: a random model's completions all score 0 on the real rewards, which leaves GRPO no
    advantage to follow; distinct characters differ between any two samples."""
    return [len(set(c if isinstance(c, str) else json.dumps(c))) / 100 for c in completions]


def settings(model: Path, data: Path, out: Path, **kw: Any) -> Any:
    from training.config import GRPOSettings

    base: dict[str, Any] = dict(model=str(model), dataset=data / "steps", output_dir=out, device="cpu", max_steps=2,
                                batch_size=2, num_generations=2, max_completion_length=12, learning_rate=5e-2,
                                beta=0.04, save_steps=2, lora={"rank": 4, "alpha": 8, "dropout": 0.0},
                                temperature=3.0)  # a random model is peaked (see build_tiny): sample widely
    base.update(kw)
    return GRPOSettings(**base)


def real_rewards_and_variety(s: Any) -> tuple[list[Any], list[float]]:
    from training.grpo import default_rewards

    funcs, weights = default_rewards(s)
    return [*funcs, variety], [*weights, 0.5]


def test_two_grpo_steps_move_the_adapter_and_log_each_reward(tiny_model: Path, data_dir: Path,
                                                            tmp_path: Path) -> None:
    from training.grpo import run_grpo
    from training.modeling import lora_b_norms

    s = settings(tiny_model, data_dir, tmp_path / "grpo")
    result = run_grpo(s, rewards=real_rewards_and_variety(s))
    assert result.steps == 2 and result.examples == 4
    norms = lora_b_norms(result.adapter)  # zero at init
    assert norms and all(v > 0 for v in norms.values())
    rows = [json.loads(x) for x in result.metrics.read_text().splitlines()]
    logged = {k for r in rows for k in r}
    for name in ("format_reward", "step_reward", "cost_reward", "safety_reward", "variety"):
        assert f"rewards/{name}/mean" in logged, name
    assert {"kl", "loss", "completions/mean_length", "reward"} <= logged
    assert "rewards/outcome_reward/mean" not in logged  # step mode: no episode grade to score
    step_rewards = [r["rewards/step_reward/mean"] for r in rows if "rewards/step_reward/mean" in r]
    assert all(0.0 <= v <= 1.0 for v in step_rewards)  # replayed in the simulator, not skipped (None -> NaN)
    card = json.loads(result.run_card.read_text())
    assert card["results"]["reward_functions"][:2] == ["format_reward", "step_reward"] and card["kind"] == "grpo"
    assert result.curves is not None and result.curves.exists()

    outcome, graded, ep = run_episode(tiny_model, result.adapter, tmp_path / "episode")
    assert ep.id == outcome.episode_id and ep.problem_id == PROBLEM and ep.model.endswith("adapter")
    assert ep.grade is not None and "success" in graded


def test_grpo_continues_an_adapter_and_saves_only_it(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from training.config import LoraSettings
    from training.grpo import run_grpo

    init = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraSettings(rank=4, alpha=8).to_peft())
    with torch.no_grad():
        for name, p in init.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    init.save_pretrained(tmp_path / "init")
    s = settings(tiny_model, data_dir, tmp_path / "grpo", max_steps=1, init_adapter=tmp_path / "init",
                 rewards={"step_weight": 0})
    result = run_grpo(s, rewards=real_rewards_and_variety(s))
    before = load_file(str(tmp_path / "init" / "adapter_model.safetensors"))
    after = load_file(str(result.adapter / "adapter_model.safetensors"))
    assert set(before) == set(after)  # the same adapter, continued
    assert any(not torch.equal(before[k], after[k]) for k in before if "lora_B" in k)
    assert not (result.adapter / "ref").exists()  # TRL's frozen reference copy is not part of the result


def test_episode_mode_rolls_out_on_the_simulator(tiny_model: Path, tmp_path: Path) -> None:
    from datasets import Dataset

    from tests.training.fixtures import conversation
    from training.env import ClusterEnv, EnvConfig
    from training.grpo import run_grpo

    Dataset.from_list([{"prompt": conversation(False)[:2], "problem_id": TRAIN_PROBLEM, "seed": 0}] * 2
                      ).save_to_disk(str(tmp_path / "episodes"))
    s = settings(tiny_model, tmp_path, tmp_path / "grpo", dataset=tmp_path / "episodes", mode="episode",
                 max_steps=1, max_completion_length=8, max_tool_calling_iterations=1, beta=0.0)
    result = run_grpo(s, rewards=([variety], [1.0]),
                      environment_factory=ClusterEnv.factory(EnvConfig(max_steps=2)))
    rows = [json.loads(x) for x in result.metrics.read_text().splitlines()]
    logged = {k for r in rows for k in r}
    assert "rewards/ClusterEnv/mean" in logged and "tools/call_frequency" in logged  # the grade, as TRL's column
    assert result.steps == 1
