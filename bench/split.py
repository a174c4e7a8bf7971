"""The fault-family split (``bench/data/family_split.yaml`` by default): families to learn from (``evolving``)
and families held out for evaluation (``held_out``). The evolver distils guidance only from evolving families;
training never sees a held-out family. Both read the split through here, so they cannot disagree."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from cluster.sim.faults.families import FAMILIES

DEFAULT_SPLIT = Path(__file__).parent / "data" / "family_split.yaml"


class SplitError(ValueError):
    """A split file that cannot be used; the message says what is wrong with it."""


class FamilySplit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "custom"
    evolving: tuple[str, ...]
    held_out: tuple[str, ...]

    @model_validator(mode="after")
    def _check(self) -> FamilySplit:
        unknown = sorted(set(self.evolving + self.held_out) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown fault families: {', '.join(unknown)}")
        both = sorted(set(self.evolving) & set(self.held_out))
        if both:
            raise ValueError(f"families on both sides of the split: {', '.join(both)}")
        return self

    def side(self, family: str) -> str | None:
        """``evolving``, ``held_out`` or None (a family the split does not name)."""
        if family in self.evolving:
            return "evolving"
        if family in self.held_out:
            return "held_out"
        return None

    def is_held_out(self, family: str) -> bool:
        return family in self.held_out

    def may_learn_from(self, family: str) -> bool:
        """Only evolving families feed guidance and training data; unknown families never do."""
        return family in self.evolving


def load_split(path: Path | None = None) -> FamilySplit:
    path = Path(path) if path else DEFAULT_SPLIT
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SplitError(f"cannot read split file {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise SplitError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SplitError(f"{path}: expected a mapping with `evolving:` and `held_out:` lists of fault families")
    try:
        return FamilySplit.model_validate(data)
    except ValueError as e:
        raise SplitError(f"{path}: {e}") from None
