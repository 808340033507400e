"""The federated training and AL budget protocol (reference-spec §2, §4.1); defaults are the paper's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fal.config.algorithms import PROTOCOL_ALGORITHMS
from fal.config.base import build_config, check, is_number
from fal.config.budgets import BUDGET_RULES, cycle_ratios


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
    """Federated training and AL budget protocol (reference-spec §2, §4.1). Defaults are the paper's."""

    num_clients: int = 10
    client_fraction: float = 1.0
    rounds: int = 100
    local_epochs: int = 5
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay: float = 0.1
    lr_decay_at: float = 0.75
    initial_ratio: float = 0.05
    query_ratio: float = 0.05
    end_ratio: float = 0.45
    model: str = "cnn4conv"
    fl_algorithm: str = "fedavg"
    """An algorithm of fal/config/algorithms.py chosen by the protocol (FL_ALGORITHMS)."""
    fedprox_mu: float = 0.01
    """FedProx's μ; the official default (the paper does not state it). Used only by fedprox."""
    local_model: LocalModelConfig = field(default_factory=LocalModelConfig)
    # The federated schedule (reference-spec §4.1 for FairFAL's, §7.2 for KAFAL's native one; see
    # FEDERATED_SCHEDULES). Defaults are FairFAL's.
    schedule: str = "fairfal"
    """Name of the schedule whose values fill in what the study's protocol block does not set."""
    optimizer_scope: str = "round"
    """"round": a fresh client optimiser every round (FairFAL); "cycle": each client's optimiser, with its
    momentum buffers, persists across the rounds of a cycle (KAFAL's code, §7.2)."""
    lr_schedule: str = "round"
    """"round": lr × lr_decay after lr_decay_at of the rounds (FairFAL); "client_epoch": a MultiStepLR
    stepped before each local epoch of a client, × lr_decay at each of lr_milestones of that client's
    local epochs in the cycle (KAFAL's code, §7.2)."""
    lr_milestones: tuple[int, ...] = (260,)
    """Client-epoch milestones of lr_schedule "client_epoch"."""
    last_round_all_clients: bool = False
    """Every client trains in the cycle's last round, whatever client_fraction (KAFAL's code, §7.2)."""
    transform: str = "fairfal"
    """The images' training transform and normalisation (TRANSFORMS): "fairfal" = random horizontal flip,
    the dataset's own mean/std (§1.2); "kafal" = flip + RandomCrop(32, padding=4) on the training batches
    (labelled and distillation alike) and CIFAR's mean/std everywhere (KAFAL's code, §1.2)."""
    budget_rule: str = "equal"
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
            self.fl_algorithm in FL_ALGORITHMS,
            f"{where}.fl_algorithm",
            f"must be one of {list(FL_ALGORITHMS)}, got {self.fl_algorithm!r}",
        )
        check(
            is_number(self.fedprox_mu) and self.fedprox_mu >= 0,
            f"{where}.fedprox_mu",
            f"must be >= 0, got {self.fedprox_mu!r}",
        )
        for key, allowed in SCHEDULE_CHOICES.items():
            check(
                getattr(self, key) in allowed,
                f"{where}.{key}",
                f"must be one of {list(allowed)}, got {getattr(self, key)!r}",
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

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict. The schedule fields are left out while they hold FairFAL's defaults, so that
        protocols that existed before them keep their params (and rerun nothing)."""
        out = dataclasses.asdict(self)
        for key in SCHEDULE_KEYS:
            if out[key] == getattr(FAIRFAL_SCHEDULE_DEFAULTS, key):
                del out[key]
        if "lr_milestones" in out:
            out["lr_milestones"] = list(out["lr_milestones"])
        return out

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

MODELS = {"cnn4conv", "mobilenet", "resnet18", "kafal_resnet8", "mnist_2nn", "resnet50"}
CONVOLUTIONAL_MODELS = MODELS - {"mnist_2nn"}
"""Models with feature maps, which LL4AL's loss-prediction module taps (fal.federated.loss_prediction)."""
"""Models of reference-spec §3.1–§3.4 (built by fal.federated.models.build_model)."""
FL_ALGORITHMS = PROTOCOL_ALGORITHMS
"""Choices of protocol.fl_algorithm, from the algorithm registry (fal/config/algorithms.py)."""


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
    "schedule": (),  # the names of FEDERATED_SCHEDULES, filled in below
    "optimizer_scope": ("round", "cycle"),
    "lr_schedule": ("round", "client_epoch"),
    "transform": tuple(TRANSFORMS),
    "budget_rule": BUDGET_RULES,
    "last_round_all_clients": (False, True),
}
FAIRFAL_SCHEDULE_DEFAULTS = ProtocolConfig()

FEDERATED_SCHEDULES: dict[str, dict[str, Any]] = {
    "fairfal": {},  # ProtocolConfig's defaults (reference-spec §2, §4.1)
    # KAFAL's native setting (reference-spec §7.2, KA:config.py and main.py): ResNet-8, 10 clients,
    # 50 rounds of 40 local epochs, SGD lr 0.1 / momentum 0.9 / wd 5e-4, batch 128, 8 of 10 clients a
    # round and all 10 in the last, per-client optimisers persisting across rounds, MultiStepLR([260])
    # stepped before every local epoch, 10% initial labels then 5% per cycle up to 35%.
    "kafal": {
        "schedule": "kafal",
        "model": "kafal_resnet8",
        "num_clients": 10,
        "client_fraction": 0.8,
        "rounds": 50,
        "local_epochs": 40,
        "batch_size": 128,
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "lr_decay": 0.1,
        "optimizer_scope": "cycle",
        "lr_schedule": "client_epoch",
        "lr_milestones": [260],
        "last_round_all_clients": True,
        "transform": "kafal",
        "budget_rule": "per_client",
        "initial_ratio": 0.1,
        "query_ratio": 0.05,
        "end_ratio": 0.35,
    },
}
# KAFAL's MNIST appendix (A.7, Fig. 11): its schedule with McMahan et al.'s 2NN and 10 rounds of 10
# local epochs per cycle; MNIST keeps its own normalisation and no crops (KAFAL's transform is CIFAR's).
FEDERATED_SCHEDULES["kafal_mnist"] = {
    **FEDERATED_SCHEDULES["kafal"],
    "schedule": "kafal_mnist",
    "model": "mnist_2nn",
    "rounds": 10,
    "local_epochs": 10,
    "transform": "fairfal",
}
# KAFAL's chest X-ray appendix (A.6, Table 4): ResNet-50, 5 clients with 80 % a round, 5 rounds of 2
# local epochs per cycle at lr 0.0005, 10 % initial labels then 5 % per cycle up to 20 %; the rest of
# its schedule (optimiser, batch, per-client budgets) as on CIFAR, which the appendix does not restate.
# The X-rays keep their own normalisation and get no 32-px crops.
FEDERATED_SCHEDULES["kafal_chestxray"] = {
    **FEDERATED_SCHEDULES["kafal"],
    "schedule": "kafal_chestxray",
    "model": "resnet50",
    "num_clients": 5,
    "rounds": 5,
    "local_epochs": 2,
    "lr": 0.0005,
    "transform": "fairfal",
    "end_ratio": 0.2,
}
"""Named federated schedules: a study's ``protocol: {schedule: kafal}`` starts from these values (its
other protocol keys still override them)."""
SCHEDULE_CHOICES["schedule"] = tuple(sorted(FEDERATED_SCHEDULES))
