"""Named federated schedules: a study's ``protocol: {schedule: kafal}`` starts from these values (its
other protocol keys still override them), and whether a protocol trains with a paper's constants."""

from __future__ import annotations

import dataclasses
from typing import Any

from fal.config.protocol import ProtocolConfig

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

SCHEDULES = tuple(sorted(FEDERATED_SCHEDULES))
"""The choices of ``protocol.schedule``."""

PAPER_AXES = ("initial_ratio", "query_ratio", "end_ratio", "num_clients", "fl_algorithm", "model", "client_fraction")
"""Protocol keys the papers themselves vary between tables (budgets, FairFAL Table 9 and Figures 5 and
6, KAFAL Figures 8 and 9)."""


def runs_paper_constants(protocol: ProtocolConfig) -> bool:
    """Whether ``protocol`` trains with the paper's constants (reference-spec §2, §4.1: rounds, local
    epochs, batch, lr and its decay, momentum, weight decay, the local model's training), i.e.
    ``ProtocolConfig()``'s values, or those of its named schedule (KAFAL's paper: §7.2), whatever the
    top-level ``protocol:`` block of config.yaml says."""
    constants = ProtocolConfig.from_dict(dict(FEDERATED_SCHEDULES.get(protocol.schedule, {})))
    paper = dataclasses.replace(constants, **{key: getattr(protocol, key) for key in PAPER_AXES})
    return protocol == paper
