"""Training the Observer's model from transcripts: datasets, verifiable rewards, SFT and GRPO with TRL + PEFT LoRA,
evaluation on the benchmark, and an offline end-to-end demo on a tiny model. torch/transformers/trl/peft are imported
lazily, inside the functions that need them: without the ``train`` extra this package still imports."""
