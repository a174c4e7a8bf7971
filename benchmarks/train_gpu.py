"""Training throughput on one GPU for a few-hundred-million-parameter Qwen-style model built from a config (random
weights, nothing downloaded): generation tokens/s (transformers ``generate``, bf16), GRPO steps/s and SFT steps/s
with a LoRA adapter (TRL 1.16, PEFT). Sized to finish in about ten minutes on an H100/H200; ``--small`` runs the
same code on a tiny model on CPU in about a minute, as a smoke check. Prints one JSON object.

    .venv/bin/python benchmarks/train_gpu.py                 # GPU: ~317M parameters, bf16
    .venv/bin/python benchmarks/train_gpu.py --small         # CPU smoke check
    .venv/bin/python benchmarks/train_gpu.py --json out.json

GRPO's reward here is a cheap function of the text (it measures the trainer, not the simulator: the verifiable
rewards of ``training.rewards`` add about 1-2 s of CPU per group of completions, which overlaps nothing here).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {
    # ~317M parameters: Qwen2.5-0.5B's shape narrowed (hidden 1024, 24 layers, GQA 16/8 heads), vocab 32k
    "gpu": dict(hidden=1024, layers=24, heads=16, kv_heads=8, intermediate=2816, vocab=32768, prompt=256,
                gen_batch=32, new_tokens=128, grpo_prompts=4, generations=8, grpo_steps=6, sft_batch=8,
                sft_len=2048, sft_steps=8),
    "small": dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=1024, prompt=64, gen_batch=4,
                  new_tokens=16, grpo_prompts=2, generations=2, grpo_steps=2, sft_batch=2, sft_len=128,
                  sft_steps=2),
}


def build(out: Path, size: dict[str, Any], dtype: Any, device: str) -> tuple[Any, Any, int]:
    """A random Qwen2 of ``size`` and a tokenizer padded to its vocabulary (so any sampled id decodes)."""
    import torch
    import transformers

    from training.tiny import SEED_CORPUS, build_tokenizer

    tok = build_tokenizer(SEED_CORPUS * 4, vocab=min(size["vocab"], 2048), pretokenizer="qwen2")
    tok.add_tokens([f"<|x{i}|>" for i in range(size["vocab"] - len(tok))])
    cfg = transformers.Qwen2Config(vocab_size=len(tok), hidden_size=size["hidden"], num_hidden_layers=size["layers"],
                                   num_attention_heads=size["heads"], num_key_value_heads=size["kv_heads"],
                                   intermediate_size=size["intermediate"], max_position_embeddings=4096,
                                   tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                                   pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    with torch.device(device):  # random init of ~300M parameters is minutes on a CPU, seconds on the GPU
        model = transformers.Qwen2ForCausalLM(cfg).to(dtype)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    tok.save_pretrained(out)
    model.save_pretrained(out)
    return model, tok, sum(p.numel() for p in model.parameters())


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def bench_generate(model: Any, size: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    model = model.to(device).eval()
    b, p, n = size["gen_batch"], size["prompt"], size["new_tokens"]
    ids = torch.randint(10, model.config.vocab_size, (b, p), device=device)
    kw = dict(max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0,
              attention_mask=torch.ones_like(ids), pad_token_id=model.config.pad_token_id)
    with torch.no_grad():
        model.generate(ids[:, :16], **{**kw, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        sync(device)
        t0 = time.perf_counter()
        model.generate(ids, **kw)
        sync(device)
        dt = time.perf_counter() - t0
    model.to("cpu")
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"batch": b, "prompt_tokens": p, "new_tokens": n, "seconds": round(dt, 3),
            "tokens_per_s": round(b * n / dt, 1)}


def step_timer() -> Any:
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.ends.append(time.perf_counter())

    return Timer()


def timed(trainer: Any, t0: float) -> dict[str, Any]:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # keep stdout for the JSON
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    ends = [t0, *timer.ends]
    steps = [b - a for a, b in itertools.pairwise(ends)]
    later = steps[1:] or steps  # the first step also compiles and warms caches
    mean = sum(later) / len(later)
    return {"steps": len(steps), "first_step_s": round(steps[0], 3), "s_per_step": round(mean, 3),
            "steps_per_s": round(1 / mean, 4)}


def common_args(device: str, bf16: bool, out: Path, steps: int) -> dict[str, Any]:
    return dict(output_dir=str(out), max_steps=steps, logging_steps=1, report_to="none", save_strategy="no",
                use_cpu=device == "cpu", bf16=bf16, gradient_checkpointing=device == "cuda", disable_tqdm=True,
                seed=0)


def lora() -> Any:
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def bench_grpo(path: Path, tok: Any, size: dict[str, Any], device: str, bf16: bool, work: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    words = ["pod", "service", "deployment", "namespace", "logs", "events", "metrics", "traces", "error"]
    prompts = [" ".join(words[(i + j) % len(words)] for j in range(size["prompt"])) for i in range(64)]
    ds = Dataset.from_list([{"prompt": p} for p in prompts])

    def length_reward(completions: list[str], **kw: Any) -> list[float]:
        return [-abs(len(c) - 200) / 200 for c in completions]

    g, n = size["generations"], size["grpo_prompts"]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    args = GRPOConfig(per_device_train_batch_size=g * n, num_generations=g,
                      max_completion_length=size["new_tokens"], learning_rate=1e-5, beta=0.0, loss_type="dapo",
                      temperature=1.0, **common_args(device, bf16, work / "grpo", size["grpo_steps"]))
    trainer = GRPOTrainer(model=model, reward_funcs=length_reward, args=args, train_dataset=ds,
                          processing_class=tok, peft_config=lora())
    out = timed(trainer, time.perf_counter())
    out.update(prompts_per_step=n, generations=g, completions_per_step=g * n,
               max_completion_tokens=size["new_tokens"], prompt_tokens_approx=size["prompt"])
    del trainer, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def bench_sft(path: Path, tok: Any, size: dict[str, Any], device: str, bf16: bool, work: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(10, len(tok), (size["sft_len"],), generator=g).tolist()} for _ in range(64)]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    args = SFTConfig(per_device_train_batch_size=size["sft_batch"], max_length=size["sft_len"], learning_rate=1e-4,
                     **common_args(device, bf16, work / "sft", size["sft_steps"]))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=lora())
    out = timed(trainer, time.perf_counter())
    out.update(batch=size["sft_batch"], seq_len=size["sft_len"],
               tokens_per_s=round(size["sft_batch"] * size["sft_len"] * out["steps_per_s"], 1))
    del trainer, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a tiny model on CPU: a smoke check of the script")
    ap.add_argument("--device", default="auto", help="cuda, cpu or auto")
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: generate,grpo,sft")
    a = ap.parse_args()
    import torch
    import transformers
    import trl

    device = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda but torch sees no GPU")
    size = SIZES["small" if a.small else "gpu"]
    bf16 = device == "cuda"
    dtype = torch.bfloat16 if bf16 else torch.float32
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    result: dict[str, Any] = {
        "device": device, "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "cpu": platform.processor() or platform.machine(), "dtype": str(dtype).removeprefix("torch."),
        "size": "small" if a.small else "gpu", "config": size,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aoi-train-gpu-") as tmp:
        work = Path(tmp)
        model, tok, params = build(work / "model", size, dtype, device)
        result["parameters"] = params
        if "generate" not in skip:
            result["generation"] = bench_generate(model, size, device)
        del model
        if "grpo" not in skip:
            result["grpo"] = bench_grpo(work / "model", tok, size, device, bf16, work)
        if "sft" not in skip:
            result["sft"] = bench_sft(work / "model", tok, size, device, bf16, work)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
