"""Training configuration: pydantic settings for LoRA, SFT and GRPO, loadable from YAML and overridable from the
command line. They turn into PEFT's ``LoraConfig`` and TRL's ``SFTConfig``/``GRPOConfig`` only when a run starts,
so this module imports without the ``train`` extra.

Defaults are chosen for a small model on one machine; TRL 1.16's own defaults that changed (GRPO ``beta=0.0``,
``loss_type="dapo"``, ``learning_rate=1e-6``, ``bf16`` on by default) are set explicitly here, so a run says what it
did whatever TRL's defaults are.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# TRL 1.16 declares vllm>=0.22.0,<=0.31.0 (see shared/reference/libraries.md §3); outside it generation is untested.
VLLM_WINDOW = ((0, 22, 0), (0, 31, 0))


class ConfigError(ValueError):
    """A settings file or value that cannot be used; the message says what to fix."""


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    # module names, or "all-linear" (PEFT: every linear layer but the output head)
    target_modules: list[str] | str = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])

    def to_peft(self) -> Any:
        from peft import LoraConfig

        modules = self.target_modules if isinstance(self.target_modules, str) else list(self.target_modules)
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=modules,
                          task_type="CAUSAL_LM")


class RunSettings(BaseModel):
    """What SFT and GRPO share: the model, the data, the output, seeds, device, schedule and checkpoints."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., description="a causal LM: hub id or local directory")
    dataset: Path = Field(..., description="a dataset directory written by `aoi train data` (or a .jsonl file)")
    output_dir: Path
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "auto"
    bf16: bool | None = None  # None: on for cuda, off for cpu
    learning_rate: float = Field(2e-4, gt=0)
    max_steps: int = Field(20, ge=1)
    batch_size: int = Field(2, ge=1)
    grad_accum: int = Field(1, ge=1)
    warmup_steps: int = Field(0, ge=0)
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(10, ge=1)
    save_total_limit: int | None = 2
    gradient_checkpointing: bool = False  # on CPU with a small model it only costs time
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None: torch's default); a tiny model "
                                "on a shared machine runs faster on one")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    init_adapter: Path | None = None  # continue training this LoRA adapter (e.g. GRPO after SFT)
    limit: int | None = Field(None, ge=1, description="use only the first N examples")

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        try:
            import torch
        except ImportError:
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"

    def use_bf16(self) -> bool:
        return self.bf16 if self.bf16 is not None else self.resolved_device() == "cuda"

    def trainer_kwargs(self) -> dict[str, Any]:
        """TrainingArguments shared by SFTConfig and GRPOConfig."""
        device = self.resolved_device()
        if device == "cuda":
            try:
                import torch
            except ImportError:
                torch = None  # type: ignore[assignment]
            if torch is None or not torch.cuda.is_available():
                raise ConfigError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu")
        return dict(output_dir=str(self.output_dir / "checkpoints"), seed=self.seed, data_seed=self.seed,
                    learning_rate=self.learning_rate, max_steps=self.max_steps,
                    per_device_train_batch_size=self.batch_size, gradient_accumulation_steps=self.grad_accum,
                    warmup_steps=self.warmup_steps, logging_steps=self.logging_steps, save_strategy="steps",
                    save_steps=self.save_steps, save_total_limit=self.save_total_limit, report_to="none",
                    use_cpu=device == "cpu", bf16=self.use_bf16(), gradient_checkpointing=self.gradient_checkpointing,
                    disable_tqdm=True)


class SFTSettings(RunSettings):
    max_length: int = Field(8192, ge=16, description="tokens per conversation; longer ones are left out")
    assistant_only_loss: bool = True  # learn the Observer's turns, not the tool output it read
    epochs: float | None = None  # set: train this many epochs instead of max_steps
    # what a step row's decision teaches: "full" the verified reply as the Observer wrote it (status lines and the
    # call); "call" the tool call alone, the shortest reply the Observer's parser accepts (status lines are optional:
    # phase and hypothesis then carry over), so a small model spends its capacity on the call
    reply: Literal["full", "call"] = "full"


class GRPOSettings(RunSettings):
    mode: Literal["step", "episode"] = "step"
    learning_rate: float = Field(1e-5, gt=0)
    batch_size: int = Field(4, ge=1)
    num_generations: int = Field(4, ge=2)
    max_completion_length: int = Field(128, ge=1)
    max_prompt_tokens: int | None = Field(6144, ge=16, description="step prompts longer than this are left out")
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0.0, description="KL coefficient (0: no reference model)")
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    rewards: dict[str, Any] = Field(default_factory=dict,
                                    description="training.rewards.RewardConfig fields: weights and budgets")
    max_tool_calling_iterations: int | None = Field(8, ge=1, description="episode mode: tool turns per rollout")
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_server_base_url: str | None = None

    def vllm_kwargs(self) -> tuple[dict[str, Any], str | None]:
        """GRPOConfig's vLLM arguments and a note when vLLM was asked for but cannot be used (then transformers
        generation runs instead)."""
        if not self.use_vllm:
            return {}, None
        ok, note = vllm_support()
        if not ok:
            return {}, f"use_vllm was asked for but {note}; generating with transformers instead"
        kw: dict[str, Any] = {"use_vllm": True, "vllm_mode": self.vllm_mode}
        if self.vllm_server_base_url:
            kw["vllm_server_base_url"] = self.vllm_server_base_url
        return kw, None


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def vllm_support() -> tuple[bool, str]:
    """Whether GRPO may generate with vLLM here: vllm installed and inside the window the installed TRL supports."""
    try:
        trl_v = metadata.version("trl")
    except metadata.PackageNotFoundError:
        return False, "trl is not installed"
    try:
        v = metadata.version("vllm")
    except metadata.PackageNotFoundError:
        return False, "vllm is not installed in this environment (it needs its own GPU environment)"
    lo, hi = VLLM_WINDOW
    if not (lo <= _version_tuple(v) <= hi):
        return False, (f"vllm {v} is outside the window trl {trl_v} supports "
                       f"({'.'.join(map(str, lo))} to {'.'.join(map(str, hi))})")
    return True, f"vllm {v} with trl {trl_v}"


def load_settings(cls: type[RunSettings], path: Path | None, overrides: dict[str, Any]) -> Any:
    """``cls`` from a YAML file (optional) with the command line's values on top (None values are ignored)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings (model:, dataset:, output_dir:, ...)")
        data.update(loaded)
    for key, value in overrides.items():
        if value is None:
            continue
        if key.startswith("lora_"):
            data.setdefault("lora", {})[key[5:]] = value
        else:
            data[key] = value
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'settings'}: {err['msg']}" for err in e.errors())
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid {cls.__name__}{where}: {msgs}") from None
