"""LL4AL's loss module inside the federated trainer: the two readings of "a loss prediction module for
each client model" (averaged with the model, or each client's own across rounds), a resumed cycle
equal to an uninterrupted one, and the vectorised trainer refusing what it cannot run."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import make_algorithm
from test_federated import bank_and_clients, small_fl

from fal.federated.loss_prediction import LossPredictionConfig, attach_loss_module
from fal.federated.models import build_model
from fal.federated.training import FederatedCycle, RoundCheckpoint, TrainingHooks, train_sequential
from fal.federated.vectorised import train_vectorised
from fal.plan.catalog import DATASETS

SPEC = DATASETS["octmnist"]


def fl(scope: str, rounds: int):
    module = LossPredictionConfig(width=8, detach_after=1.0, module_scope=scope)
    return dataclasses.replace(small_fl(rounds=rounds), local_epochs=1, extension=module)


def model():
    return attach_loss_module(build_model("cnn4conv", SPEC, 3), LossPredictionConfig(width=8), 3)


def run(cfg, data, keep_client_models=False, hooks=None):
    arrays, bank, test_bank, clients = data
    algorithm = make_algorithm(cfg)
    result = train_sequential(
        FederatedCycle(
            model(), clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(4,), algorithm=algorithm
        ),
        hooks,
        keep_client_models=keep_client_models,
    )
    return result, algorithm


@pytest.fixture(scope="module")
def data():
    return bank_and_clients(num_clients=3, per_client=16)


def test_client_scope_keeps_each_clients_own_module(data):
    one_federated, _ = run(fl("federated", 1), data)
    one_client, _ = run(fl("client", 1), data)
    for key, value in one_federated.state_dict.items():  # no history in round 1: the readings agree
        assert torch.equal(value, one_client.state_dict[key]), key
    federated, _ = run(fl("federated", 2), data, keep_client_models=True)
    client, algorithm = run(fl("client", 2), data, keep_client_models=True)
    assert not torch.equal(federated.state_dict["loss_module.out.weight"], client.state_dict["loss_module.out.weight"])
    for k, own in algorithm.client_modules.items():  # what a client keeps is what it trained last
        for name, value in own.items():
            assert torch.equal(value, client.client_states[k][f"loss_module.{name}"]), (k, name)
    # The global model's module is the size-weighted average of the clients' own (equal sizes here).
    average = sum(own["out.weight"] for own in algorithm.client_modules.values()) / 3
    assert torch.allclose(client.state_dict["loss_module.out.weight"], average, atol=1e-6)


def test_resumed_cycle_with_client_modules_equals_uninterrupted(data, tmp_path):
    cfg = fl("client", 3)
    path = tmp_path / "ck.pt"
    full, _ = run(cfg, data, hooks=TrainingHooks(checkpoint=RoundCheckpoint(path, 1, "job")))
    assert path.exists()
    resumed_from = []
    resumed, _ = run(
        cfg, data, hooks=TrainingHooks(checkpoint=RoundCheckpoint(path, 1, "job"), on_resume=resumed_from.append)
    )
    assert resumed_from == [2]
    for key in full.state_dict:
        assert torch.equal(full.state_dict[key], resumed.state_dict[key]), key


def test_vectorised_trainer_refuses_a_loss_module(data):
    arrays, bank, test_bank, clients = data
    with pytest.raises(ValueError, match="LL4AL's loss module need the sequential trainer"):
        train_vectorised(
            FederatedCycle(model(), clients, bank, test_bank, arrays.test_labels, 4, fl("federated", 1), seed_keys=(4,))
        )
