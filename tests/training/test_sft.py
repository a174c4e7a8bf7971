"""SFT on the tiny model: two real TRL steps with a LoRA adapter whose B matrices (zero at init) move; the adapter
is a standard PEFT directory that the Observer's hf policy loads and that drives an episode over MCP on the
simulator; metrics, curves and the run card are written; a run resumes from its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.training.fixtures import PROBLEM, run_episode

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def settings(model: Path, data: Path, out: Path, **kw: Any) -> Any:
    from training.config import SFTSettings

    base: dict[str, Any] = dict(model=str(model), dataset=data / "sft", output_dir=out, device="cpu", batch_size=2,
                                learning_rate=1e-2, max_steps=2, save_steps=2,
                                lora={"rank": 4, "alpha": 8, "dropout": 0.0})
    return SFTSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def sft_run(tiny_model: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from training.sft import run_sft

    return run_sft(settings(tiny_model, data_dir, tmp_path_factory.mktemp("sft")))


def test_two_sft_steps_move_the_adapter_and_it_drives_an_episode(sft_run: Any, tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training.modeling import lora_b_norms

    assert sft_run.steps == 2 and not sft_run.interrupted
    adapter = sft_run.adapter
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 4 and cfg["base_model_name_or_path"] == str(tiny_model)
    # LoRA B starts at zero: a fresh adapter's B norms are all 0, the trained one's are not
    fresh = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), str(adapter))
    trained = lora_b_norms(adapter)
    assert trained and all(v > 0 for v in trained.values())
    assert len(lora_b_norms(fresh)) == len(trained)
    from peft import get_peft_model

    from training.config import LoraSettings

    init = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                          LoraSettings(rank=4, alpha=8).to_peft())
    assert all(v == 0 for v in lora_b_norms(init).values())

    rows = [json.loads(x) for x in sft_run.metrics.read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert sft_run.curves is not None and sft_run.curves.read_bytes()[:4] == b"\x89PNG"
    card = json.loads(sft_run.run_card.read_text())
    assert card["kind"] == "sft" and card["config"]["lora"]["rank"] == 4 and "git_commit" in card
    assert card["libraries"]["trl"] and card["results"]["steps"] == 2

    outcome, graded, ep = run_episode(tiny_model, adapter, tmp_path)
    assert ep.id == outcome.episode_id and ep.policy == "hf" and ep.model.endswith("adapter")
    assert ep.problem_id == PROBLEM and ep.status in ("completed", "failed")  # a tiny model may fail the task
    assert ep.grade is not None and "success" in graded and ep.steps  # graded and stored, steps recorded


def test_resume_continues_from_the_checkpoint(sft_run: Any, tiny_model: Path, data_dir: Path) -> None:
    from training.sft import run_sft

    more = run_sft(settings(tiny_model, data_dir, sft_run.output_dir, max_steps=3), resume=True)
    assert more.steps == 3 and any("resumed from" in n for n in more.notes)
    rows = [json.loads(x) for x in more.metrics.read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]  # one history: earlier lines kept, none repeated
    assert [r["step"] for r in rows if "train_runtime" in r] == [3]


def test_bad_inputs_say_what_to_do(tiny_model: Path, tmp_path: Path) -> None:
    from training.config import ConfigError, GRPOSettings, SFTSettings, load_settings
    from training.grpo import run_grpo
    from training.modeling import TrainingError
    from training.sft import run_sft

    with pytest.raises(TrainingError, match="aoi train data"):
        run_sft(SFTSettings(model=str(tiny_model), dataset=tmp_path / "nope", output_dir=tmp_path / "o"))
    with pytest.raises(TrainingError, match="no checkpoint"):
        run_sft(settings(tiny_model, tmp_path, tmp_path / "o2"), resume=True)
    with pytest.raises(ConfigError, match="multiple of num_generations"):
        run_grpo(GRPOSettings(model=str(tiny_model), dataset=tmp_path, output_dir=tmp_path / "g", batch_size=3,
                              num_generations=2), rewards=([], []))
    with pytest.raises(ConfigError, match=r"lora\.rank"):
        load_settings(SFTSettings, None, {"model": "m", "dataset": "d", "output_dir": "o", "lora_rank": 0})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\ndataset: d\noutput_dir: o\nlearning_rate: 0.5\nlora: {rank: 2}\n")
    s = load_settings(SFTSettings, cfg, {"learning_rate": 0.1, "lora_alpha": 3, "seed": None})
    assert (s.learning_rate, s.lora.rank, s.lora.alpha, s.seed) == (0.1, 2, 3, 0)



def test_the_cli_trains_and_reports(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from aoi.cli import app

    runner = CliRunner()
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(f"model: {tiny_model}\ndataset: {data_dir / 'sft'}\nlearning_rate: 0.01\nlora: {{rank: 2}}\n")
    r = runner.invoke(app, ["train", "sft", "--config", str(cfg), "--out", str(tmp_path / "run"), "--steps", "1",
                            "--device", "cpu", "--lora-alpha", "4", "--target-modules", "q_proj,v_proj"])
    assert r.exit_code == 0, r.output
    assert "sft: 1 steps" in r.output and "adapter:" in r.output
    adapter_cfg = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert (adapter_cfg["r"], adapter_cfg["lora_alpha"], sorted(adapter_cfg["target_modules"])) == \
        (2, 4, ["q_proj", "v_proj"])
    r = runner.invoke(app, ["train", "eval", "--model", str(tiny_model), "--adapter", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no adapter_config.json" in " ".join(r.output.split())
    r = runner.invoke(app, ["train", "grpo", "--model", str(tiny_model), "--data", str(data_dir / "steps"),
                            "--out", str(tmp_path / "g"), "--reward", "nonsense_weight=1", "--device", "cpu"])
    assert r.exit_code == 2 and "nonsense_weight" in " ".join(r.output.split())


def test_ctrl_c_saves_a_checkpoint_that_resumes(tiny_model: Path, data_dir: Path, tmp_path: Path) -> None:
    from transformers import TrainerCallback

    from training.sft import run_sft

    class CtrlC(TrainerCallback):  # what a terminal's Ctrl-C does in the middle of step 2
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 2:
                raise KeyboardInterrupt

    stopped = run_sft(settings(tiny_model, data_dir, tmp_path, max_steps=4, save_steps=100), callbacks=[CtrlC()])
    assert stopped.interrupted and stopped.steps == 2 and (tmp_path / "checkpoints" / "checkpoint-2").is_dir()
    assert (stopped.adapter / "adapter_model.safetensors").exists()  # the adapter reached is kept too
    done = run_sft(settings(tiny_model, data_dir, tmp_path, max_steps=4, save_steps=100), resume=True)
    assert done.steps == 4 and not done.interrupted


def test_a_step_row_learns_only_its_decision(tiny_model: Path, data_dir: Path) -> None:
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from training.modeling import TrainingError
    from training.sft import tokenize_sft

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ds, dropped = tokenize_sft(load_from_disk(str(data_dir / "sft")), tok)
    row = ds[0]
    learned = tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m])
    assert '"name": "submit"' in learned and learned.rstrip().endswith("<|im_end|>") and dropped == 0
    assert "cluster_overview" not in learned  # the previous decision is context here, trained in its own row
    with pytest.raises(TrainingError, match="longer than max_length=50"):
        tokenize_sft(load_from_disk(str(data_dir / "sft")), tok, max_length=50)
    # reply="call": the same decision without its status lines, the shortest reply the Observer's parser reads
    calls, _ = tokenize_sft(load_from_disk(str(data_dir / "sft")), tok, reply="call")
    row = calls[0]
    only = tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m])
    assert only.strip().startswith("<tool_call>") and '"name": "submit"' in only and "PHASE" not in only
    assert "PHASE" in learned and len(row["input_ids"]) < len(ds[0]["input_ids"])


def test_the_format_check_judges_greedy_replies_to_step_prompts(sft_run: Any, tiny_model: Path,
                                                                 data_dir: Path) -> None:
    from training.format_check import format_check, pick_rows

    score = format_check(str(tiny_model), sft_run.adapter, data_dir / "steps", n=2, max_tokens=12)
    assert score.prompts == 2 and len(score.examples) == 2
    assert 0 <= score.valid + score.readable <= 2 and score.valid_rate == score.valid / 2
    assert sum(score.tools.values()) == score.valid
    assert pick_rows({"task": ["a", "a", "b", "b", "b"]}, 4) and sorted(pick_rows({"task": ["a", "b"]}, 5)) == [0, 1]
