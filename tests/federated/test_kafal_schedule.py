"""KAFAL's native federated schedule (reference-spec §7.2) against hand-traced expectations: the lr of
every local epoch (PyTorch's MultiStepLR stepped before each epoch), which clients train in which
round (8 of 10, all 10 in the last), client optimisers whose momentum persists across rounds, and a
resumed cycle equal to an uninterrupted one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml
from helpers import tiny_study_config
from test_federated import bank_and_clients, small_fl

from fal.config.base import ConfigError
from fal.config.protocol import ProtocolConfig
from fal.federated.algorithms.fedavg import FedAvg
from fal.federated.flconfig import client_epoch_lr, round_lr
from fal.federated.models import build_model
from fal.federated.sgd import LabelledSet, cross_entropy_loss, sgd_epoch
from fal.federated.training import FederatedCycle, RoundCheckpoint, TrainingHooks, train_sequential
from fal.plan.catalog import DATASETS
from fal.plan.study import resolve_study
from fal.seeding import torch_generator

SPEC = DATASETS["octmnist"]


def kafal_fl(**changes):
    cfg = dataclasses.replace(
        small_fl(rounds=2),
        local_epochs=2,
        lr=0.1,
        optimizer_scope="cycle",
        lr_schedule="client_epoch",
        lr_milestones=(3,),
        last_round_all_clients=True,
    )
    return dataclasses.replace(cfg, **changes)


def test_client_epoch_lr_is_pytorchs_multisteplr_stepped_before_each_epoch():
    cfg = kafal_fl(lr_milestones=(3, 5))
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3, 5], gamma=cfg.lr_decay)
    for epoch in range(1, 8):
        optimizer.step()  # (keeps PyTorch from warning about the order)
        scheduler.step()  # KAFAL steps it before the epoch runs
        assert client_epoch_lr(cfg, epoch) == pytest.approx(optimizer.param_groups[0]["lr"]), epoch
    assert [client_epoch_lr(cfg, e) for e in (1, 2, 3, 4, 5)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    assert round_lr(cfg, 1) == cfg.lr  # no round-based decay under this schedule


class Recorder(FedAvg):
    """FedAvg that records (round, client, lr of each epoch) instead of training."""

    def __init__(self, cfg, context=None):
        super().__init__(cfg, context)
        self.calls = []

    def client_update(
        self, model, k, client, bank, *, round_index, lr, global_model, generator, where, correction=None
    ):
        optimizer, before_epoch = self.local_optimizer(model, k, lr)
        lrs = []
        for epoch in range(self.cfg.local_epochs):
            if before_epoch:
                before_epoch(epoch)
            lrs.append(optimizer.param_groups[0]["lr"])
        self.calls.append((round_index, k, lrs))
        self.finish_client(k, optimizer, model)
        return 0.0


def test_participation_and_per_client_epoch_lr():
    arrays, bank, test_bank, clients = bank_and_clients(num_clients=10, per_client=8)
    cfg = kafal_fl(rounds=3, client_fraction=0.8)
    algorithm = Recorder(cfg)
    train_sequential(
        FederatedCycle(
            build_model("cnn4conv", SPEC, 0),
            clients,
            bank,
            test_bank,
            arrays.test_labels,
            4,
            cfg,
            seed_keys=(3,),
            algorithm=algorithm,
        )
    )
    per_round = [[k for r, k, _ in algorithm.calls if r == rnd] for rnd in range(3)]
    assert [len(ks) for ks in per_round] == [8, 8, 10]  # int(10 · 0.8), then everyone in the last round
    # each client's epochs count on across the rounds it trained in; milestone 3 → lr 0.01 from its 3rd epoch
    seen = {}
    for _, k, lrs in algorithm.calls:
        before = seen.get(k, 0)
        expected = [0.1 if before + e + 1 < 3 else 0.1 * 0.1 for e in range(2)]
        assert lrs == pytest.approx(expected), (k, before)
        seen[k] = before + 2
    assert algorithm.client_epochs == seen


def manual_persistent_run(cfg, clients, bank, model_seed, seed_keys):
    """One client trained as KAFAL's code does: one SGD optimiser for the whole cycle (momentum kept),
    the model reset to the broadcast global each round, lr per epoch from the client's epoch count."""
    model = build_model("cnn4conv", SPEC, model_seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    data = LabelledSet.of(clients[0].positions, clients[0].labels, bank)
    epochs = 0
    for r in range(cfg.rounds):
        generator = torch_generator(*seed_keys, "fl_client", r, 0)
        for _ in range(cfg.local_epochs):
            epochs += 1
            for group in optimizer.param_groups:
                group["lr"] = client_epoch_lr(cfg, epochs)
            sgd_epoch(model, optimizer, data, cfg.batch_size, generator, cross_entropy_loss, "manual")
        # one client: the aggregate is its own state, broadcast back unchanged
    return model.state_dict()


def test_persistent_optimiser_equals_one_optimiser_across_rounds():
    arrays, bank, test_bank, clients = bank_and_clients(num_clients=1, per_client=24)
    cfg = kafal_fl(rounds=2, local_epochs=2)
    result = train_sequential(
        FederatedCycle(
            build_model("cnn4conv", SPEC, 5), clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(8,)
        )
    )
    manual = manual_persistent_run(cfg, clients, bank, 5, (8,))
    for key, value in manual.items():
        assert torch.allclose(value.float(), result.state_dict[key].float(), atol=1e-6), key
    fresh = train_sequential(
        FederatedCycle(
            build_model("cnn4conv", SPEC, 5),
            clients,
            bank,
            test_bank,
            arrays.test_labels,
            4,
            dataclasses.replace(cfg, optimizer_scope="round"),
            seed_keys=(8,),
        )
    )
    assert not all(torch.equal(fresh.state_dict[k], result.state_dict[k]) for k in manual)  # momentum mattered


def test_resumed_cycle_equals_uninterrupted(tmp_path):
    arrays, bank, test_bank, clients = bank_and_clients(num_clients=3, per_client=16)
    cfg = kafal_fl(rounds=3, client_fraction=0.7)
    path = tmp_path / "ck.pt"

    def run(on_resume=None):
        return train_sequential(
            FederatedCycle(
                build_model("cnn4conv", SPEC, 1), clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(2,)
            ),
            TrainingHooks(checkpoint=RoundCheckpoint(path, 1, "job"), on_resume=on_resume),
        )

    full = run()
    assert path.exists()  # saved after round 2: the resumed run below does round 3 only
    resumed_from = []
    resumed = run(on_resume=resumed_from.append)
    assert resumed_from == [2]
    for key in full.state_dict:
        assert torch.equal(full.state_dict[key], resumed.state_dict[key]), key


def test_kafal_schedule_in_a_study():
    config = tiny_study_config("axes")
    study = resolve_study(config, "axes_kafal_schedule")
    p = study.protocol
    assert (p.schedule, p.optimizer_scope, p.lr_schedule, p.last_round_all_clients) == (
        "kafal",
        "cycle",
        "client_epoch",
        True,
    )
    assert (p.lr, p.weight_decay, p.client_fraction, p.batch_size) == (0.05, 5e-4, 0.8, 32)  # lr, batch: the study's
    assert p.rounds == 2 and p.model == "cnn4conv"  # the study's own keys override the schedule's
    assert {"schedule", "optimizer_scope", "lr_milestones"} <= set(p.to_dict())
    assert "schedule" not in ProtocolConfig().to_dict()  # FairFAL protocols keep their old params
    bad = yaml.safe_load(yaml.safe_dump(config))
    bad["studies"]["axes_kafal_schedule"]["protocol"]["schedule"] = "kafall"
    with pytest.raises(ConfigError, match="unknown federated schedule 'kafall'"):
        resolve_study(bad, "axes_kafal_schedule")
    np.testing.assert_equal(resolve_study(config, "axes_kafal_schedule").num_cycles, 3)
