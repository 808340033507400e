"""The federated training and AL budget protocol (reference-spec §2, §4.1); defaults are the paper's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.base import build_config, check, is_number
from fal.config.budgets import BUDGET_RULES, cycle_ratios
from fal.registry import Option


def key(default: Any, read_by: tuple[str, ...], when: tuple[tuple[str, str, Any], ...] = ()) -> Any:
    """A ``ProtocolConfig`` field: its default, the stages that read it and the conditions under which
    they do (an ``Option`` in the field's metadata)."""
    declared = Option("", default, "", read_by=read_by, when=when)
    if isinstance(default, LocalModelConfig):
        return field(default_factory=LocalModelConfig, metadata={"key": declared})
    return field(default=default, metadata={"key": declared})


@dataclass(frozen=True)
class LocalModelConfig:
    """Local-only query model trained from a shared random init (reference-spec §5.1)."""

    epochs: int = 50
    stop_train_acc: float = 0.99
    lr_milestone: int = 37
    """Optimizer steps (or epochs, see fidelity.local_lr_milestone_unit) after which lr is ×lr_decay."""

    def validate(self, where: str) -> None:
        check(
            isinstance(self.epochs, int) and self.epochs >= 1,
            f"{where}.epochs",
            f"must be an integer >= 1, got {self.epochs!r}",
        )
        check(
            is_number(self.stop_train_acc) and 0 < self.stop_train_acc <= 1.0,
            f"{where}.stop_train_acc",
            f"must be in (0, 1], got {self.stop_train_acc!r}",
        )
        check(
            isinstance(self.lr_milestone, int) and self.lr_milestone >= 0,
            f"{where}.lr_milestone",
            f"must be an integer >= 0, got {self.lr_milestone!r}",
        )


@dataclass(frozen=True)
class ProtocolConfig:
    """Federated training and AL budget protocol (reference-spec §2, §4.1). Defaults are the paper's.

    Each key declares, in its field's metadata (``key``), the stages that compute with it and the
    conditions under which they do: a job's params carry exactly those (``read_by``)."""

    num_clients: int = key(10, ())  # the setting carries it (and the path)
    client_fraction: float = key(1.0, ("train", "analysis"))
    rounds: int = key(100, ("train", "analysis"))
    local_epochs: int = key(5, ("train", "analysis"))
    batch_size: int = key(64, ("train", "query", "analysis"))  # query: the local models trained at query time
    lr: float = key(0.01, ("train", "query", "analysis"))
    momentum: float = key(0.9, ("train", "query"))
    weight_decay: float = key(1e-5, ("train", "query"))
    lr_decay: float = key(0.1, ("train", "query"))
    lr_decay_at: float = key(0.75, ("train",), when=(("lr_schedule", "==", "round"),))
    initial_ratio: float = key(0.05, ("partition", "metrics", "analysis"))
    query_ratio: float = key(0.05, ("query", "metrics", "analysis"))
    end_ratio: float = key(0.45, ("analysis",))  # how many cycles run: the DAG's shape (and the captions' words)
    model: str = key("cnn4conv", ("train", "query", "analysis"))
    fl_algorithm: str = key("fedavg", ("train", "analysis"))
    """An FL algorithm chosen by the protocol (``chosen_by: protocol`` in its declaration)."""
    fedprox_mu: float = key(0.01, ("train",), when=(("fl_algorithm", "==", "fedprox"),))
    """FedProx's μ; the official default (the paper does not state it). Used only by fedprox."""
    local_model: LocalModelConfig = key(LocalModelConfig(), ("query",))
    # The federated schedule (reference-spec §4.1 for FairFAL's, §7.2 for KAFAL's native one; see
    # fal.plan.schedules). Defaults are FairFAL's.
    schedule: str = key("fairfal", ())  # a name whose values fill in the others
    """Name of the schedule whose values fill in what the study's protocol block does not set."""
    optimizer_scope: str = key("round", ("train",))
    """"round": a fresh client optimiser every round (FairFAL); "cycle": each client's optimiser, with its
    momentum buffers, persists across the rounds of a cycle (KAFAL's code, §7.2)."""
    lr_schedule: str = key("round", ("train",))
    """"round": lr × lr_decay after lr_decay_at of the rounds (FairFAL); "client_epoch": a MultiStepLR
    stepped before each local epoch of a client, × lr_decay at each of lr_milestones of that client's
    local epochs in the cycle (KAFAL's code, §7.2)."""
    lr_milestones: tuple[int, ...] = key((260,), ("train",), when=(("lr_schedule", "==", "client_epoch"),))
    """Client-epoch milestones of lr_schedule "client_epoch"."""
    # with every client in every round, "every client in the last round" changes nothing
    last_round_all_clients: bool = key(False, ("train",), when=(("client_fraction", "<", 1),))
    """Every client trains in the cycle's last round, whatever client_fraction (KAFAL's code, §7.2)."""
    transform: str = key("fairfal", ("train", "query"))
    """The images' training transform and normalisation (TRANSFORMS): "fairfal" = random horizontal flip,
    the dataset's own mean/std (§1.2); "kafal" = flip + RandomCrop(32, padding=4) on the training batches
    (labelled and distillation alike) and CIFAR's mean/std everywhere (KAFAL's code, §1.2)."""
    budget_rule: str = key("equal", ("partition", "query", "metrics"))
    """How many samples each client labels (BUDGET_RULES): "equal" = int(R·ratio/K) for every client, R the
    training-set size rounded to hundreds (FairFAL, §2.1); "per_client" = ceil(ratio·n_c), n_c the
    client's training images (KAFAL's code: 10 % then 5 % of each client's data)."""

    def validate(self, where: str) -> None:
        for key in ("num_clients", "rounds", "local_epochs", "batch_size"):
            value = getattr(self, key)
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{where}.{key}",
                f"must be an integer >= 1, got {value!r}",
            )
        for key in ("lr", "lr_decay"):
            value = getattr(self, key)
            check(is_number(value) and value > 0, f"{where}.{key}", f"must be > 0, got {value!r}")
        for key in ("momentum", "weight_decay"):
            value = getattr(self, key)
            check(is_number(value) and value >= 0, f"{where}.{key}", f"must be >= 0, got {value!r}")
        for key in ("client_fraction", "lr_decay_at", "initial_ratio", "query_ratio", "end_ratio"):
            value = getattr(self, key)
            check(is_number(value) and 0 < value <= 1, f"{where}.{key}", f"must be in (0, 1], got {value!r}")
        check(
            self.end_ratio >= self.initial_ratio,
            f"{where}.end_ratio",
            f"({self.end_ratio}) must be >= initial_ratio ({self.initial_ratio})",
        )
        check(self.model in MODELS, f"{where}.model", f"unknown model {self.model!r}; available: {sorted(MODELS)}")
        check(
            is_number(self.fedprox_mu) and self.fedprox_mu >= 0,
            f"{where}.fedprox_mu",
            f"must be >= 0, got {self.fedprox_mu!r}",
        )
        for name, allowed in SCHEDULE_CHOICES.items():
            check(
                getattr(self, name) in allowed,
                f"{where}.{name}",
                f"must be one of {list(allowed)}, got {getattr(self, name)!r}",
            )
        check(
            all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in self.lr_milestones),
            f"{where}.lr_milestones",
            f"must be whole numbers >= 1, got {list(self.lr_milestones)}",
        )

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None, where: str = "protocol") -> ProtocolConfig:
        mapping = dict(mapping or {})
        local = build_config(LocalModelConfig, mapping.pop("local_model", None), f"{where}.local_model")
        if "lr_milestones" in mapping and isinstance(mapping["lr_milestones"], list):
            mapping["lr_milestones"] = tuple(mapping["lr_milestones"])
        obj = build_config(cls, mapping, where)
        return dataclasses.replace(obj, local_model=local)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ProtocolConfig:
        """A job's protocol from its params; the keys its stage does not read take their defaults (and are
        never read), so cross-key checks are left to the configuration that produced the params."""
        values = dict(params)
        if "lr_milestones" in values:
            values["lr_milestones"] = tuple(values["lr_milestones"])
        if "local_model" in values:
            values["local_model"] = LocalModelConfig(**values["local_model"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict. The schedule fields are left out while they hold FairFAL's defaults, so that
        protocols that existed before them keep their captions and analysis params."""
        out = dataclasses.asdict(self)
        for name in SCHEDULE_KEYS:
            if out[name] == getattr(FAIRFAL_SCHEDULE_DEFAULTS, name):
                del out[name]
        if "lr_milestones" in out:
            out["lr_milestones"] = list(out["lr_milestones"])
        return out

    def read_by(self, stage: str, **job: Any) -> dict[str, Any]:
        """The keys a job of ``stage`` computes with (JSON-friendly: lists, not tuples); ``job``: the job's
        attributes that conditions may name besides the protocol's own keys."""
        values = dataclasses.asdict(self)
        values["lr_milestones"] = list(values["lr_milestones"])
        return {
            name: values[name]
            for name, declared in KEYS.items()
            if stage in declared.read_by and declared.applies({**values, **job})
        }

    def num_cycles(self) -> int:
        return len(cycle_ratios(self.initial_ratio, self.query_ratio, self.end_ratio))


@dataclass(frozen=True)
class Transform:
    """How training batches are augmented and every image normalised (reference-spec §1.2)."""

    crop_padding: int
    """RandomCrop(size, padding=crop_padding) on the training batches: zero padding of the uint8 image,
    then a crop at offsets uniform in 0..2·padding per sample; 0 = no crop."""
    mean: tuple[float, ...] | None
    """Normalisation mean per channel; None = the dataset's own (DatasetSpec). KAFAL's code is CIFAR-only:
    on data with another number of channels the dataset's own statistics are used (``normalisation``)."""
    std: tuple[float, ...] | None

    def normalisation(self, spec_mean: tuple[float, ...], spec_std: tuple[float, ...]) -> tuple[tuple, tuple]:
        """(mean, std) for a dataset whose own statistics are ``spec_mean``, ``spec_std``."""
        if self.mean is None or self.std is None or len(self.mean) != len(spec_mean):
            return spec_mean, spec_std
        return self.mean, self.std


TRANSFORMS: dict[str, Transform] = {
    "fairfal": Transform(crop_padding=0, mean=None, std=None),  # flip, the dataset's statistics
    "kafal": Transform(crop_padding=4, mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010)),  # KA:main.py
}
"""Every ``protocol.transform``; all of them flip the training batches at random."""

MODELS = ("cnn4conv", "mobilenet", "resnet18", "kafal_resnet8", "mnist_2nn", "resnet50")
"""Models of reference-spec §3.1–§3.4 (built by fal.federated.models.build_model)."""
CONVOLUTIONAL_MODELS = tuple(m for m in MODELS if m != "mnist_2nn")
"""Models with feature maps, which LL4AL's loss-prediction module taps (fal.federated.loss_prediction)."""

KEYS: dict[str, Option] = {f.name: f.metadata["key"] for f in dataclasses.fields(ProtocolConfig)}
"""Every protocol key's declaration (the stages that read it and when), by name."""

SCHEDULE_KEYS = (
    "schedule",
    "optimizer_scope",
    "lr_schedule",
    "lr_milestones",
    "last_round_all_clients",
    "transform",
    "budget_rule",
)
SCHEDULE_CHOICES: dict[str, tuple] = {
    "optimizer_scope": ("round", "cycle"),
    "lr_schedule": ("round", "client_epoch"),
    "transform": tuple(TRANSFORMS),
    "budget_rule": BUDGET_RULES,
    "last_round_all_clients": (False, True),
}
"""Allowed values of the schedule keys (``schedule``'s names: fal.plan.schedules)."""
FAIRFAL_SCHEDULE_DEFAULTS = ProtocolConfig()
