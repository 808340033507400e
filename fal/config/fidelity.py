"""Fidelity switches: the official code's behaviour ("faithful") or the corrected/paper one (reference-spec §11).

Each switch is declared once, as a field of ``FidelityConfig`` made by ``switch(...)``: its faithful
value (the default), its value under the ``corrected`` preset, the allowed values, the stages that read
it, which jobs of those stages read it, and what it means. The presets, validation, the configuration
schema's fidelity block, each job's params and the docs' switch table all come from these fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fal.config.base import ConfigError, build_config, check

PRESETS = ("faithful", "corrected")
"""``fidelity.preset``: every switch at its official-code value, or at its corrected/paper value."""


@dataclass(frozen=True)
class Switch:
    """What a fidelity switch declares besides its name and faithful default."""

    corrected: Any
    """Its value under the ``corrected`` preset."""
    choices: tuple
    read_by: tuple[str, ...]
    """The stages that compute with it (fal.registry.STAGES)."""
    meaning: str
    cycles: tuple[int, int | None] = (1, None)
    """The job cycles that read it, first and last (None: no last): a training job's cycle, or the
    cycle a query job's labelled set is for."""
    declared: bool = False
    """Read only by the methods and FL algorithms that list it (``fidelity.<name>``) in their ``reads``
    (fal.registry.Declaration): no generic stage names them."""


def switch(faithful: Any, corrected: Any, choices: tuple, read_by: tuple[str, ...], meaning: str, **more: Any) -> Any:
    """A ``FidelityConfig`` field: the switch's faithful value as default, the rest as its metadata."""
    return dataclasses.field(
        default=faithful, metadata={"switch": Switch(corrected, choices, read_by, meaning, **more)}
    )


@dataclass(frozen=True)
class FidelityConfig:
    """Switches between the official code's behaviour ("faithful") and the corrected/paper behaviour.

    Each switch names one documented deviation (reference-spec §11). ``preset`` sets them all; explicit
    keys override single switches.
    """

    preset: str = "faithful"
    lt_query_view_mismatch: bool = switch(
        True,
        False,
        (True, False),
        ("partition",),
        "§1.3: the LT train and query views are two different random subsets (same class blocks)",
    )
    partition_seed: str = switch(
        "fixed",
        "run",
        ("fixed", "run"),
        ("partition",),
        '§1.4: "fixed" = the official partition with internal seed 0 for every run seed; "run" = from the run seed',
    )
    shared_cycle1_init: bool = switch(
        True,
        False,
        (True, False),
        ("train",),
        "§1.4: the official torch reseed makes cycle 1's model init identical across run seeds",
        cycles=(1, 1),
    )
    fl_lr_decay: str = switch(
        "official",
        "paper",
        ("official", "paper"),
        ("train",),
        '§4.1: "official" decays for rounds r > int(0.75·R) (0-based); "paper" for r >= int(0.75·R)',
    )
    local_lr_milestone_unit: str = switch(
        "step",
        "step",
        ("step", "epoch"),
        ("query",),
        '§5.1: the local-only model\'s MultiStepLR is stepped per mini-batch ("step") or per epoch',
    )
    fairfal_m2_model: str = switch(
        "official",
        "paper",
        ("official", "paper"),
        ("query",),
        '§6.13.3: gradient-embedding probabilities from L_k when γ̄ ≥ 0.5 ("official") or always from G ("paper")',
        declared=True,
    )
    fairfal_prototype_similarity: str = switch(
        "cosine",
        "cosine",
        ("cosine", "inner"),
        ("query",),
        "§6.13.6: cosine to renormalised prototypes (code) or inner product with the mean of unit vectors (Eq. 10)",
        declared=True,
    )
    fairfal_gamma_bar: str = switch(
        "first_query",
        "first_query",
        ("first_query", "every_query"),
        ("query",),
        "§6.13.6: γ̄ fixed at the first query (code, kept in a file) or recomputed at every query",
        cycles=(3, None),  # the first query computes γ̄ either way; the switch decides whether later ones keep it
        declared=True,
    )
    pool_order: str = switch(
        "official",
        "ascending",
        ("official", "ascending"),
        ("query",),
        "§6.0: the unlabelled pool (and so the stored labelled lists) in the official code's CPython set order "
        '("official") or ascending; not only a tie-breaker: FairFAL\'s class-balanced resampling draws by list position',
    )
    kcfu_teacher_bn: str = switch(
        "train",
        "train",
        ("train", "eval"),
        ("train",),
        "§7.2: KCFU's teacher normalises each mixed batch with that batch's statistics (\"train\": the official "
        "server model is never put in eval mode, so the distillation term is exactly 0 at a client's first step "
        'after a broadcast) or with its running statistics ("eval")',
        declared=True,
    )
    kcfu_distillation_pool: str = switch(
        "initial",
        "current",
        ("initial", "current"),
        ("train",),
        "§7.2: KCFU distils on each client's initial unlabelled pool, samples labelled since included "
        '("initial": the official code\'s bookkeeping bug) or on its current unlabelled pool ("current")',
        declared=True,
    )

    def validate(self, where: str) -> None:
        check(self.preset in PRESETS, f"{where}.preset", f"must be one of {list(PRESETS)}, got {self.preset!r}")
        for name, declared in SWITCHES.items():
            value = getattr(self, name)
            check(
                value in declared.choices,
                f"{where}.{name}",
                f"must be one of {[str(c) for c in declared.choices]}, got {value!r}",
            )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | str | None, where: str = "fidelity") -> FidelityConfig:
        if isinstance(mapping, str):
            mapping = {"preset": mapping}
        mapping = dict(mapping or {})
        preset = mapping.get("preset", "faithful")
        if preset not in PRESETS:
            raise ConfigError(f"{where}.preset: must be one of {list(PRESETS)}, got {preset!r}")
        return build_config(cls, {**preset_values(preset), **mapping, "preset": preset}, where)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FidelityConfig:
        """A job's switches from its params (the others keep their faithful defaults and are never read)."""
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def read_by(self, stage: str, cycle: int, reads: tuple[str, ...] = ()) -> dict[str, Any]:
        """The switches a job of ``stage`` at ``cycle`` computes with; ``reads``: what the method or FL
        algorithm it runs declares it reads (fal.registry.Declaration.reads)."""
        return {
            name: getattr(self, name)
            for name, declared in SWITCHES.items()
            if stage in declared.read_by
            and (not declared.declared or f"fidelity.{name}" in reads)
            and declared.cycles[0] <= cycle
            and (declared.cycles[1] is None or cycle <= declared.cycles[1])
        }


SWITCHES: dict[str, Switch] = {
    f.name: f.metadata["switch"] for f in dataclasses.fields(FidelityConfig) if "switch" in f.metadata
}
"""Every switch by name, in declaration order."""


def preset_values(preset: str) -> dict[str, Any]:
    """Every switch's value under ``preset``."""
    if preset == "faithful":
        return {name: f.default for f in dataclasses.fields(FidelityConfig) if (name := f.name) in SWITCHES}
    return {name: declared.corrected for name, declared in SWITCHES.items()}
