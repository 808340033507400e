"""LL4AL: the margin ranking loss, the joint loss's gradients, the module's size and the query's
ranking against hand computations; trained through the real training stage and queried through the
real query stage."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_query_contract, query, strategy_training, trained_setting

from fal.config.base import ConfigError
from fal.federated.loss_prediction import (
    LossPredictionConfig,
    attach_loss_module,
    joint_loss,
    logits_and_predicted_loss,
    margin_ranking_loss,
    predicted_losses,
)
from fal.federated.models import build_cycle_model, build_model
from fal.federated.sgd import cross_entropy_per_sample
from fal.plan.catalog import dataset_spec
from fal.plan.strategies import StrategyEntry
from fal.strategies.methods.ll4al import top_predicted_loss


def test_margin_ranking_loss_by_hand():
    predicted = torch.tensor([0.5, 2.0, 1.0, 0.0])
    target = torch.tensor([3.0, 1.0, 2.0, 1.0])
    # pairs (0, 3): l0 > l3 → s = +1, l̂0 − l̂3 = 0.5 → max(0, 1 − 0.5) = 0.5
    # pairs (1, 2): l1 < l2 → s = −1, l̂1 − l̂2 = 1.0 → max(0, 1 + 1.0) = 2.0
    assert margin_ranking_loss(predicted, target, 1.0).item() == pytest.approx((0.5 + 2.0) / 2)
    assert margin_ranking_loss(predicted, target, 0.25).item() == pytest.approx((0.0 + 1.25) / 2)


def test_margin_ranking_loss_ties_odd_batches_and_single_samples():
    # A tie counts as "second is larger" (s = −1), as in Yoo & Kweon's code: max(0, 1 + (2 − 0)) = 3.
    assert margin_ranking_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]), 1.0).item() == pytest.approx(3.0)
    # Odd batch: pairs (0, 2) only; the middle sample is left out. l0 > l2, l̂0 − l̂2 = 3 → 0.
    assert margin_ranking_loss(torch.tensor([4.0, 9.0, 1.0]), torch.tensor([2.0, 0.0, 1.0]), 1.0).item() == 0.0
    single = torch.tensor([1.0], requires_grad=True)
    value = margin_ranking_loss(single, torch.tensor([1.0]), 1.0)
    assert value.item() == 0.0
    value.backward()  # still part of the graph
    assert single.grad.item() == 0.0


def test_module_size_on_kafal_resnet8_is_the_papers_0_015m():
    # (16 + 32 + 64) inputs × 128 + 3 × 128 biases + (3 × 128 + 1) = 15,105 parameters ("0.015M").
    model = attach_loss_module(build_model("kafal_resnet8", dataset_spec("cifar10"), 0), LossPredictionConfig(), 0)
    assert sum(p.numel() for p in model.loss_module.parameters()) == 15_105
    # The backbone beside it: the paper's "0.078M" (stem 432, blocks 4,672 + 14,464 + 57,600, BN 128, head 650).
    assert sum(p.numel() for name, p in model.named_parameters() if not name.startswith("loss_module")) == 77_946


@pytest.mark.parametrize("name", ["cnn4conv", "kafal_resnet8", "resnet18", "mobilenet"])
def test_every_backbone_has_taps_and_an_unchanged_forward(name):
    spec = dataset_spec("cifar10")
    plain = build_model(name, spec, 3)
    with_module = build_cycle_model(name, spec, 3, "cpu", LossPredictionConfig(width=8))
    assert all(torch.equal(v, with_module.state_dict()[k]) for k, v in plain.state_dict().items())
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    plain.eval(), with_module.eval()
    logits, predicted = logits_and_predicted_loss(with_module, x)
    assert torch.equal(logits, plain(x)[0]) and predicted.shape == (4,)
    assert not with_module.loss_module._forward_hooks and all(not m._forward_hooks for m in with_module.modules())


def test_joint_loss_by_hand_and_the_detached_features_keep_the_module_out_of_the_backbone():
    cfg = LossPredictionConfig(weight=2.0, margin=1.0, width=16)
    model = attach_loss_module(build_model("cnn4conv", dataset_spec("fmnist"), 5), cfg, 5)
    model.train()
    x = torch.randn(6, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.tensor([0, 1, 2, 3, 4, 5])

    def grads(detach: bool):
        net = copy.deepcopy(model)
        value = joint_loss(net, x, y, cross_entropy_per_sample, cfg, detach)
        value.backward()
        return value, {n: p.grad.clone() for n, p in net.named_parameters()}

    value, attached = grads(False)
    probe = copy.deepcopy(model)
    logits, predicted = logits_and_predicted_loss(probe, x)
    target = F.cross_entropy(logits, y, reduction="none")
    expected = target.mean() + 2.0 * margin_ranking_loss(predicted, target, 1.0)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)

    _, detached = grads(True)
    ce_only = copy.deepcopy(model)
    F.cross_entropy(ce_only(x)[0], y).backward()
    backbone = [(n, p) for n, p in ce_only.named_parameters() if not n.startswith("loss_module")]
    for n, p in backbone:  # detached: the backbone gets only the classification loss's gradient
        assert torch.allclose(detached[n], p.grad, atol=1e-6), n
    assert any(not torch.allclose(attached[n], p.grad, atol=1e-6) for n, p in backbone)
    assert detached["loss_module.out.weight"].abs().sum() > 0  # the module itself still learns


def test_detach_round():
    cfg = LossPredictionConfig(detach_after=0.6)
    assert [cfg.detaches(r, 10) for r in range(10)] == [False] * 6 + [True] * 4
    assert not any(LossPredictionConfig(detach_after=1.0).detaches(r, 10) for r in range(10))


def test_top_predicted_loss_by_hand():
    assert top_predicted_loss(np.array([0.1, 0.9, 0.5, 0.9, 0.2]), 3).tolist() == [1, 3, 2]  # tie: pool order


def test_config():
    ll = StrategyEntry.from_dict("ll", {"method": "ll4al", "query_model": "local"}, "strategies.ll")
    assert ll.local_model_kind == "last_round" and ll.needs_client_models and ll.trains_own_cycle1
    assert ll.trains_with() == {
        "entry": "fal.federated.loss_prediction:LossPredictionConfig",
        "options": {"weight": 1.0, "margin": 1.0, "width": 128, "detach_after": 0.6, "module_scope": "federated"},
    }
    assert StrategyEntry.from_dict("e", {"method": "entropy", "query_model": "local"}, "e").trains_with() is None
    with pytest.raises(ConfigError, match="strategies.ll.local_model: method ll4al .* needs local_model: last_round"):
        StrategyEntry.from_dict(
            "ll", {"method": "ll4al", "query_model": "local", "local_model": "scratch"}, "strategies.ll"
        )
    with pytest.raises(ConfigError, match="strategies.ll.options.detach_after: must be a number in \\[0, 1\\]"):
        StrategyEntry.from_dict(
            "ll", {"method": "ll4al", "query_model": "global", "options": {"detach_after": 2}}, "strategies.ll"
        )


LL4AL_OPTIONS = {"weight": 1.0, "margin": 1.0, "width": 16, "detach_after": 0.5}


@pytest.fixture(scope="module", params=["fedavg", "kcfu"])
def trained(request):
    federated = strategy_training(
        {"method": "ll4al", "query_model": "local", "federated": {"algorithm": request.param}, "options": LL4AL_OPTIONS}
    )
    return trained_setting(
        num_clients=3,
        per_class=40,
        test_per_class=10,
        rounds=2,
        local_model_epochs=1,
        keep_client_models=True,
        federated=federated,
    )


@pytest.mark.parametrize("query_model", ["global", "local"])
def test_trained_module_through_the_query_stage(trained, query_model):
    assert any(k.startswith("loss_module.") for k in trained.state_dict)
    assert all(any(k.startswith("loss_module.") for k in s) for s in trained.client_states.values())
    spec = {"method": "ll4al", "query_model": query_model, "options": LL4AL_OPTIONS}
    out = query(trained, f"ll4al_{query_model[0]}", spec)
    assert_query_contract(trained, out)
    # The picks are the largest predicted losses of the query model, recomputed here from its state.
    from fal.data.build import labelled_lists, unlabelled_pool
    from fal.data.views import load_setting_data

    data_spec = dataset_spec(trained.setting.dataset)
    data = load_setting_data(trained.arrays, trained.part.partition, data_spec, trained.setting.num_clients, "cpu")
    before = labelled_lists(trained.part.initial_labelled, trained.setting.num_clients)
    after = labelled_lists(out.labelled, trained.setting.num_clients)
    budget = trained.part.budgets.query[0]
    for client in range(trained.setting.num_clients):
        module = LossPredictionConfig.from_dict(LL4AL_OPTIONS)
        model = build_cycle_model(trained.protocol.model, data_spec, 0, "cpu", module)
        model.load_state_dict(trained.state_dict if query_model == "global" else trained.client_states[client])
        pool = unlabelled_pool(data.pools[client], before[client], trained.fidelity.pool_order)
        scores = predicted_losses(model, data.query_bank, pool, 128).numpy()
        assert np.array_equal(after[client][:budget], pool[np.argsort(-scores, kind="stable")[:budget]])


def test_weight_zero_trains_the_backbone_as_without_the_module():
    plain = trained_setting(num_clients=3, per_class=40, test_per_class=10, rounds=2, local_model_epochs=1)
    zero = trained_setting(
        num_clients=3,
        per_class=40,
        test_per_class=10,
        rounds=2,
        local_model_epochs=1,
        federated=strategy_training(
            {"method": "ll4al", "query_model": "global", "options": {**LL4AL_OPTIONS, "weight": 0.0}}
        ),
    )
    for key, value in plain.state_dict.items():
        assert torch.allclose(value.float(), zero.state_dict[key].float(), atol=1e-5), key
