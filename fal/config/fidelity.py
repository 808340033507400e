"""Fidelity switches: the official code's behaviour ("faithful") or the corrected/paper one (reference-spec §11)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.config.base import ConfigError, build_config, check


@dataclass(frozen=True)
class FidelityConfig:
    """Switches between the official code's behaviour ("faithful") and the corrected/paper behaviour.

    Each switch names one documented deviation (reference-spec §11). ``preset`` sets them all; explicit
    keys override single switches.
    """

    preset: str = "faithful"
    lt_query_view_mismatch: bool = True
    """§1.3: the LT train and query views are two different random subsets (same class blocks)."""
    partition_seed: str = "fixed"
    """§1.4: "fixed" = the official partition with internal seed 0 for every run seed; "run" = from the run seed."""
    shared_cycle1_init: bool = True
    """§1.4: the official torch reseed makes cycle 1's model init identical across run seeds."""
    fl_lr_decay: str = "official"
    """§4.1: "official" decays for rounds r > int(0.75·R) (0-based); "paper" for r >= int(0.75·R)."""
    local_lr_milestone_unit: str = "step"
    """§5.1: the local-only model's MultiStepLR is stepped per mini-batch ("step") or per epoch."""
    fairfal_m2_model: str = "official"
    """§6.13.3: gradient-embedding probabilities from L_k when γ̄ ≥ 0.5 ("official") or always from G ("paper")."""
    fairfal_prototype_similarity: str = "cosine"
    """§6.13.6: cosine to renormalised prototypes (code) or inner product with the mean of unit vectors (Eq. 10)."""
    fairfal_gamma_bar: str = "first_query"
    """§6.13.6: γ̄ fixed at the first query (code, kept in a file) or recomputed at every query."""
    pool_order: str = "official"
    """§6.0: the unlabelled pool (and so the stored labelled lists) in the official code's CPython set
    order ("official") or ascending ("ascending"). Not only a tie-breaker: FairFAL's class-balanced
    resampling draws by list position."""
    kcfu_teacher_bn: str = "train"
    """§7.2: KCFU's teacher (the global model) normalises each mixed batch with that batch's statistics
    ("train": the official server model is never put in eval mode during training, so the distillation
    term is exactly 0 at a client's first step after a broadcast) or with its running statistics ("eval")."""
    kcfu_distillation_pool: str = "initial"
    """§7.2: KCFU distils on each client's initial unlabelled pool, samples labelled since included
    ("initial": the official code appends the new loaders to a list that training reads at index [c],
    a bookkeeping bug) or on its current unlabelled pool ("current")."""

    def validate(self, where: str) -> None:
        check(
            self.preset in FIDELITY_PRESETS,
            f"{where}.preset",
            f"must be one of {sorted(FIDELITY_PRESETS)}, got {self.preset!r}",
        )
        for key, allowed in _FIDELITY_CHOICES.items():
            value = getattr(self, key)
            check(value in allowed, f"{where}.{key}", f"must be one of {sorted(map(str, allowed))}, got {value!r}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | str | None, where: str = "fidelity") -> FidelityConfig:
        if isinstance(mapping, str):
            mapping = {"preset": mapping}
        mapping = dict(mapping or {})
        preset = mapping.get("preset", "faithful")
        if preset not in FIDELITY_PRESETS:
            raise ConfigError(f"{where}.preset: must be one of {sorted(FIDELITY_PRESETS)}, got {preset!r}")
        merged = {**FIDELITY_PRESETS[preset], **mapping, "preset": preset}
        return build_config(cls, merged, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIDELITY_CHOICES: dict[str, tuple] = {
    "lt_query_view_mismatch": (True, False),
    "partition_seed": ("fixed", "run"),
    "shared_cycle1_init": (True, False),
    "fl_lr_decay": ("official", "paper"),
    "local_lr_milestone_unit": ("step", "epoch"),
    "fairfal_m2_model": ("official", "paper"),
    "fairfal_prototype_similarity": ("cosine", "inner"),
    "fairfal_gamma_bar": ("first_query", "every_query"),
    "pool_order": ("official", "ascending"),
    "kcfu_teacher_bn": ("train", "eval"),
    "kcfu_distillation_pool": ("initial", "current"),
}

FIDELITY_PRESETS: dict[str, dict[str, Any]] = {
    "faithful": {
        "lt_query_view_mismatch": True,
        "partition_seed": "fixed",
        "shared_cycle1_init": True,
        "fl_lr_decay": "official",
        "local_lr_milestone_unit": "step",
        "fairfal_m2_model": "official",
        "fairfal_prototype_similarity": "cosine",
        "fairfal_gamma_bar": "first_query",
        "pool_order": "official",
        "kcfu_teacher_bn": "train",
        "kcfu_distillation_pool": "initial",
    },
    "corrected": {
        "lt_query_view_mismatch": False,
        "partition_seed": "run",
        "shared_cycle1_init": False,
        "fl_lr_decay": "paper",
        "local_lr_milestone_unit": "step",
        "fairfal_m2_model": "paper",
        "fairfal_prototype_similarity": "cosine",
        "fairfal_gamma_bar": "first_query",
        "pool_order": "ascending",
        "kcfu_teacher_bn": "train",
        "kcfu_distillation_pool": "current",
    },
}


#
