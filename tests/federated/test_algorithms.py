"""The FL-algorithm registry and interface, and FedNova (the worked example of adding an algorithm)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import make_algorithm
from test_vectorised import fl, run

from fal.federated.algorithms.fedavg import FedAvg
from fal.federated.algorithms.fednova import FedNova, momentum_norm
from fal.federated.training import train_sequential
from fal.plan.catalog import ALGORITHMS, choose_algorithm, protocol_algorithms
from fal.registry import load_entry


def test_every_registered_algorithm_implements_the_interface():
    for name, info in ALGORITHMS.items():
        cls = load_entry(info.entry_point)
        assert issubclass(cls, FedAvg), name
        assert info.chosen_by in ("protocol", "strategy")
    assert set(protocol_algorithms()) == {n for n, i in ALGORITHMS.items() if i.chosen_by == "protocol"}
    assert protocol_algorithms()[0] == "fedavg"
    assert isinstance(make_algorithm(fl("fednova")), FedNova)


def test_one_place_chooses_the_algorithm():
    assert choose_algorithm("fedprox") == "fedprox"
    assert choose_algorithm("fedavg", "kcfu") == "kcfu"
    assert choose_algorithm("scaffold", "fedavg") == "scaffold"
    with pytest.raises(ValueError, match="runs on FedAvg aggregation, not scaffold"):
        choose_algorithm("scaffold", "kcfu")
    with pytest.raises(ValueError, match="unknown FL algorithm 'fedsgd'"):
        choose_algorithm("fedavg", "fedsgd")


def test_momentum_norm_by_hand():
    # ‖a‖₁ = Σ_t Σ_{j≤t} ρ^{t−j}: with ρ = 0.5 and 3 steps, 1 + 1.5 + 1.75
    assert momentum_norm(3, 0.5) == pytest.approx(4.25)
    assert momentum_norm(7, 0.0) == 7.0


def test_fednova_aggregate_by_hand():
    cfg = dataclasses.replace(fl("fednova"), momentum=0.0, batch_size=2, local_epochs=1)
    algorithm = FedNova(cfg)
    algorithm.parameter_keys = {"w"}
    start = {"w": torch.tensor([1.0, 2.0]), "running": torch.tensor([0.0])}
    states = [
        {"w": torch.tensor([0.0, 2.0]), "running": torch.tensor([1.0])},
        {"w": torch.tensor([1.0, 0.0]), "running": torch.tensor([3.0])},
    ]
    sizes = [2, 6]  # τ = 1 and 3 steps; p = 1/4, 3/4
    new = algorithm.aggregate(start, states, sizes, [0, 1])
    tau_eff = 0.25 * 1 + 0.75 * 3
    direction = 0.25 * (torch.tensor([1.0, 0.0]) / 1) + 0.75 * (torch.tensor([0.0, 2.0]) / 3)
    assert torch.allclose(new["w"], torch.tensor([1.0, 2.0]) - tau_eff * direction)
    assert torch.allclose(new["running"], torch.tensor([0.25 * 1.0 + 0.75 * 3.0]))  # buffers: FedAvg


def test_fednova_is_fedavg_for_equal_clients_and_differs_for_unequal():
    sizes = (16, 16, 16)
    equal_nova, equal_avg = run(train_sequential, fl("fednova"), sizes), run(train_sequential, fl("fedavg"), sizes)
    for key, value in equal_avg.state_dict.items():
        assert torch.allclose(equal_nova.state_dict[key].double(), value.double(), atol=1e-10), key
    sizes = (24, 19, 10)
    nova, avg = run(train_sequential, fl("fednova"), sizes), run(train_sequential, fl("fedavg"), sizes)
    assert not torch.allclose(nova.state_dict["linear.weight"], avg.state_dict["linear.weight"], atol=1e-6)


def test_kcfu_multilabel_losses_by_hand():
    """KCFU's multi-label forms (KAFAL Table 4): the balanced BCE shifts each label's logit by
    log(n+/n-) and skips labels with one outcome; the Bernoulli KL matches its closed form; Γ weighs
    samples by their teacher-positive labels or labels by their own weight."""
    import math

    import torch

    from fal.federated.algorithms.kcfu import (
        KCFUConfig,
        balanced_bce_loss,
        bernoulli_kl_terms,
        multilabel_compensation_loss,
    )

    logits = torch.tensor([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    targets = torch.tensor([[1, 0, 1], [0, 1, 1]])
    positives = torch.tensor([1, 3, 4])  # of 4 images: label 2 has no negative, so it is left out

    def bce(z, y):
        return -(y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z))))

    s0, s1 = math.log(1 / 3), math.log(3 / 1)
    expected = (bce(0 + s0, 1) + bce(1 + s1, 0) + bce(1 + s0, 0) + bce(-1 + s1, 1)) / 4
    assert balanced_bce_loss(logits, targets, positives, 4).item() == pytest.approx(expected, rel=1e-6)
    assert balanced_bce_loss(logits, targets, torch.tensor([0, 4, 0]), 4).item() == 0.0  # no label has both

    p, q = 1 / (1 + math.exp(-0.3)), 1 / (1 + math.exp(1.2))
    closed = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    assert bernoulli_kl_terms(torch.tensor([[0.3]]), torch.tensor([[-1.2]])).item() == pytest.approx(closed, rel=1e-5)

    class Fixed(torch.nn.Module):  # logits = the first 3 pixels, so teacher and student are known
        def __init__(self, scale):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(scale))

        def forward(self, x):
            z = x.flatten(1)[:, :3] * self.scale
            return z, z

    x = torch.tensor([[2.0, -1.0, 0.5, 0.0], [-1.0, 1.0, 3.0, 0.0]]).view(2, 1, 2, 2)
    beta, partner = torch.ones(2), torch.tensor([0, 1])  # unmixed
    teacher, student = Fixed(1.0), Fixed(0.5)
    counts = torch.tensor([1, 1, 2])
    w = (4 / (counts.double() + 1e-6)) / (4 / (counts.double() + 1e-6)).sum()  # "normalised" Γ over labels
    terms = bernoulli_kl_terms(x.flatten(1)[:, :3], 0.5 * x.flatten(1)[:, :3])
    # pseudo_labels: sample 0's teacher-positive labels are 0 and 2, sample 1's are 1 and 2
    gamma = torch.stack([(w[0] + w[2]) / 2, (w[1] + w[2]) / 2]).float()
    expected = (gamma * terms.mean(dim=1)).mean()
    cfg = KCFUConfig()
    got = multilabel_compensation_loss(student, teacher, x, beta, partner, counts, cfg)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    per_label = KCFUConfig(multilabel_gamma="per_label", kl_reduction="sum")
    expected = (terms * (w.float() * 3)).sum(dim=1).mean()
    got = multilabel_compensation_loss(student, teacher, x, beta, partner, counts, per_label)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
