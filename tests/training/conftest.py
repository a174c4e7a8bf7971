"""Fixtures of the training tests: a tiny Qwen3 built offline, small datasets, and real baseline transcripts with the
datasets ``aoi train data`` builds from them (session-scoped: built once per worker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training.fixtures import TOOLS, TRAIN_SKIP, conversation, write_sft, write_steps


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen3 (about 100k parameters) with a tokenizer trained on the fixture conversations."""
    pytest.importorskip("trl", reason=TRAIN_SKIP)
    pytest.importorskip("peft", reason=TRAIN_SKIP)
    from training.tiny import build_tiny

    corpus = [json.dumps(conversation(True)), json.dumps(TOOLS)] * 5
    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", corpus, arch="qwen3", hidden=64, layers=2,
                      vocab=1024, max_positions=2048)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("datasets", reason=TRAIN_SKIP)
    root = tmp_path_factory.mktemp("data")
    write_sft(root / "sft")
    write_steps(root / "steps")
    return root


# ------------------------------------------------------------------------------------------------ data and rewards
# Real transcripts: the baseline on the simulator (fixed epoch, seed 0), four problems of evolving families and one of
# a held-out family (bench/data/family_split.yaml), about a second each.
EVOLVING_PROBLEMS = ("scale_pod_zero_social_net-localization-1", "scale_pod_zero_social_net-mitigation-1",
                     "auth_miss_mongodb-detection-1", "misconfig_app_hotel_res-analysis-1")
HELD_OUT_PROBLEM = "k8s_target_port-misconfig-localization-1"


@pytest.fixture(scope="session")
def baseline_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transcript store with one graded baseline episode per problem above."""
    import anyio

    from bench.episode import run_problem
    from bench.sim import SimProblem
    from observer.baseline import BaselinePolicy
    from training.sim_session import EPOCH
    from transcripts import TranscriptStore

    root = tmp_path_factory.mktemp("baseline")
    with TranscriptStore(root / "transcripts.db") as store:
        for pid in (*EVOLVING_PROBLEMS, HELD_OUT_PROBLEM):
            with SimProblem(pid, root / pid, seed=0, epoch=EPOCH) as sim:
                anyio.run(run_problem, sim, BaselinePolicy(), store)
    return root / "transcripts.db"


@pytest.fixture(scope="session")
def built_data(baseline_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``aoi train data`` on the baseline store with the default split: the directory with sft/, steps/,
    episodes/ and card.json."""
    pytest.importorskip("datasets", reason=TRAIN_SKIP)
    from training.data import build_datasets

    out = tmp_path_factory.mktemp("built") / "data"
    build_datasets(baseline_store, out)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tiny models' matrices are too small to split across threads: on a shared 2-core machine one thread
    runs these tests about twice as fast. Restored after each module."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
