"""KAFAL (KSAS scores, KCFU's balanced loss and compensation), IFAL, the L query model kinds and the
last-round client models written by training: hand computations, strategy invariants, one tiny DAG run."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import (
    assert_query_contract,
    query,
    run_tiny_study,
    snakemake,
    strategy_training,
    trained_setting,
)
from torch import nn

from fal.config.base import ConfigError
from fal.config.protocol import ProtocolConfig
from fal.data.synthetic import synthetic_arrays
from fal.data.views import Compute, StageInputs
from fal.federated.algorithms.fedavg import train_client
from fal.federated.algorithms.kcfu import (
    KCFUConfig,
    balanced_softmax_loss,
    compensation_loss,
    gamma_class_weights,
    kcfu_client_update,
    mix_partners,
)
from fal.federated.flconfig import FLConfig, round_lr
from fal.federated.stage import run_training_stage
from fal.federated.training import ClientData, FederatedCycle, train_sequential
from fal.plan.catalog import dataset_spec
from fal.plan.strategies import StrategyEntry
from fal.seeding import torch_generator
from fal.strategies.kd_local import kd_loss
from fal.strategies.methods.ifal import ifal_select, otsu_threshold, rknn_distribution, wasserstein_rows
from fal.strategies.methods.ksas import ksas_scores

LOG = logging.getLogger("test")


# ---------------------------------------------------------------------------------------------
# KSAS (KAFAL paper Eqs. 1-3)


def _hand_ksas(local, glob, counts, lam):
    """D = Σ_y P ln(P/Q) + Q ln(Q/P) with P_y ∝ n_y^λ e^{g_y}, straight from the paper's formula."""
    out = []
    for g_l, g_g in zip(local, glob):
        keep = [c for c in range(len(counts)) if lam == 0 or counts[c] > 0]  # n^λ = 0 (or undefined) drops the class
        wl = [counts[c] ** lam * math.exp(g_l[c]) for c in keep]
        wg = [counts[c] ** lam * math.exp(g_g[c]) for c in keep]
        p = [w / sum(wl) for w in wl]
        q = [w / sum(wg) for w in wg]
        out.append(sum(pi * math.log(pi / qi) + qi * math.log(qi / pi) for pi, qi in zip(p, q)))
    return out


@pytest.mark.parametrize("lam", [1.0, 2.0, 0.0, -1.0])
def test_ksas_scores_equal_the_papers_formula(lam):
    local = [[2.0, -1.0, 0.5, 3.0], [0.1, 0.2, 0.3, -2.0], [1.0, 1.0, 1.0, 1.0]]
    glob = [[1.0, 0.0, 0.5, -1.0], [0.4, -0.3, 1.3, 0.0], [1.0, 1.0, 1.0, 1.0]]
    counts = [5, 1, 2, 0]
    got = ksas_scores(torch.tensor(local), torch.tensor(glob), np.array(counts), lam).numpy()
    np.testing.assert_allclose(got, _hand_ksas(local, glob, counts, lam), rtol=1e-6, atol=1e-9)
    assert got[2] == 0.0  # identical models: no discrepancy


def test_ksas_counts_change_the_ranking():
    """The specialisation term moves the largest discrepancy towards the client's frequent classes."""
    local = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    glob = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    plain = ksas_scores(local, glob, np.array([1, 1]), 1.0).numpy()
    assert plain[0] == pytest.approx(plain[1])
    special = ksas_scores(local, glob, np.array([1, 20]), 1.0).numpy()
    assert special[1] != pytest.approx(special[0])


# ---------------------------------------------------------------------------------------------
# KCFU (KAFAL paper Eqs. 4-6, official code §7.2)


def test_balanced_softmax_loss_equals_hand_computation():
    logits = [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]]
    targets = [0, 1]
    counts = [4, 1, 0]
    hand = []
    for z, y in zip(logits, targets):
        hand.append(-math.log(counts[y] * math.exp(z[y]) / sum(n * math.exp(zc) for n, zc in zip(counts, z))))
    got = balanced_softmax_loss(torch.tensor(logits), torch.tensor(targets), torch.tensor(counts)).item()
    assert got == pytest.approx(sum(hand) / 2, rel=1e-6)


def test_gamma_weights():
    counts = torch.tensor([6, 2, 0, 4])
    np.testing.assert_allclose(gamma_class_weights(counts, "ratio").numpy(), [2.0, 6.0, 0.0, 3.0], rtol=1e-6)
    raw = np.array([12 / (6 + 1e-6), 12 / (2 + 1e-6), 0.0, 12 / (4 + 1e-6)])
    np.testing.assert_allclose(gamma_class_weights(counts, "normalised").numpy(), raw / raw.sum(), rtol=1e-6)


class Linear(nn.Module):
    """A model returning (logits, features) like the pipeline's, on 1×2×2 images."""

    def __init__(self, weight):
        super().__init__()
        self.fc = nn.Linear(4, 3, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weight))

    def forward(self, x):
        f = x.flatten(1)
        return self.fc(f), f


TEACHER_W = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
STUDENT_W = [[0.5, 0.1, 0.0, 0.2], [0.0, 0.3, -0.2, 0.0], [0.1, 0.0, 0.4, 0.1]]
X = torch.tensor([[4.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 2.0, 2.0], [1.0, 1.0, 0, 0]]).view(4, 1, 2, 2)
COUNTS = torch.tensor([6, 2, 0])


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _hand_compensation(beta, partner, w, labels_from, reduction):
    """Eq. 5 on the mixed batch, written out sample by sample."""
    t_w, s_w = np.array(TEACHER_W), np.array(STUDENT_W)
    x = X.view(4, 4).numpy()
    mixed = np.stack([beta[i] * x[i] + (1 - beta[i]) * x[partner[i]] for i in range(4)])
    src = mixed if labels_from == "mixed" else x
    yhat = [int(np.argmax(t_w @ s)) for s in src]
    total = 0.0
    for i in range(4):
        pt, ps = _softmax(t_w @ mixed[i]), _softmax(s_w @ mixed[i])
        terms = pt * (np.log(pt) - np.log(ps))
        kl = terms.sum() if reduction == "sum" else terms.mean()
        gamma = beta[i] * w[yhat[i]] + (1 - beta[i]) * w[yhat[partner[i]]]
        total += gamma * kl
    return total / 4


@pytest.mark.parametrize(
    "variant",
    [
        dict(mix_partner="batch", gamma_weights="normalised", gamma_labels="mixed", kl_reduction="class_mean"),  # code
        dict(mix_partner="sample", gamma_weights="ratio", gamma_labels="unmixed", kl_reduction="sum"),  # paper
    ],
    ids=["official", "paper"],
)
def test_compensation_loss_follows_the_spec(variant):
    cfg = KCFUConfig(**variant)
    rng = np.random.default_rng(3)
    partner = mix_partners(4, cfg.mix_partner, rng)
    if cfg.mix_partner == "batch":
        assert len(set(partner.tolist())) == 1  # one partner for the whole batch (official bug)
    else:
        partner = np.array([1, 3, 0, 2])  # a fixed per-sample pairing for the hand computation
    beta = np.array([0.2, 0.5, 0.7, 0.9], dtype=np.float32)
    teacher, student = Linear(TEACHER_W), Linear(STUDENT_W)
    loss = compensation_loss(student, teacher, X, torch.tensor(beta), torch.tensor(partner), COUNTS, cfg)
    w = gamma_class_weights(COUNTS, cfg.gamma_weights).numpy()
    hand = _hand_compensation(beta, partner, w, cfg.gamma_labels, cfg.kl_reduction)
    assert loss.item() == pytest.approx(hand, rel=1e-5)
    loss.backward()
    assert teacher.fc.weight.grad is None  # no gradient to the global model
    assert student.fc.weight.grad is not None and student.fc.weight.grad.abs().sum() > 0


def test_compensation_counts_from_the_second_round_on():
    """Round 0 runs the mixed forward (teacher and student) as the official code does, times int(comm > 0):
    the parameters train on the client loss alone; from round 1 the term counts."""
    calls = []

    class Counting(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            calls.append(len(x))
            return self.inner(x)

    spec = _kcfu_setup()[3]
    first = _kcfu_run(KCFUConfig(), 0, Counting(_tiny_cnn(spec)))
    assert calls == [4, 4]  # one unlabelled batch of the labelled batch size per labelled batch
    client_loss_only = _kcfu_run(KCFUConfig(compensation=False), 0)
    assert _same_state(first, client_loss_only)  # the term is multiplied by 0
    assert not _same_state(_kcfu_run(KCFUConfig(), 1), client_loss_only)


def _same_state(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _kcfu_setup():
    from fal.data.images import ImageBank
    from fal.plan.catalog import dataset_spec

    arrays = synthetic_arrays(num_classes=4, per_class=8, test_per_class=2, size=16)
    bank = ImageBank(arrays.train_images, (0.5,), (0.25,), "cpu")
    client = ClientData(positions=np.arange(8), labels=arrays.train_labels[:8])
    counts = torch.bincount(torch.tensor(client.labels), minlength=4)
    return bank, client, counts, dataset_spec("octmnist")


def _kcfu_run(cfg, round_index, teacher=None, teacher_bn="eval"):
    bank, client, counts, spec = _kcfu_setup()
    model = _tiny_cnn(spec)
    kcfu_client_update(
        model,
        teacher or _tiny_cnn(spec),
        client,
        np.arange(8, 30),
        counts,
        bank,
        epochs=1,
        batch_size=4,
        lr=0.01,
        momentum=0.9,
        weight_decay=0.0,
        round_index=round_index,
        cfg=cfg,
        generator=torch_generator(1),
        where="t",
        teacher_bn=teacher_bn,
    )
    return model


def test_gamma_uniform_is_one_over_c():
    assert gamma_class_weights(torch.tensor([6, 2, 0, 4]), "uniform").tolist() == [0.25] * 4


def test_without_compensation_a_later_round_trains_as_the_first():
    """KAFAL Table 1's "Baseline": the balanced loss alone, so round 1 trains exactly as round 0 does."""

    class Exploding(nn.Module):
        def forward(self, x):
            raise AssertionError("no teacher without the compensation term")

    baseline = _kcfu_run(KCFUConfig(compensation=False), 1, Exploding())
    first_round = _kcfu_run(KCFUConfig(), 0)
    assert all(torch.equal(a, b) for a, b in zip(baseline.state_dict().values(), first_round.state_dict().values()))
    assert not all(
        torch.equal(a, b)
        for a, b in zip(baseline.state_dict().values(), _kcfu_run(KCFUConfig(), 1).state_dict().values())
    )


def test_the_cross_entropy_update_is_plain_cross_entropy():
    """KAFAL Fig. 4(f): ``balanced_loss: false`` replaces every n of Eq. 4 by 1, i.e. plain cross-entropy."""
    import torch.nn.functional as F

    from fal.federated.sgd import LabelledSet, mean_epoch_loss, sgd_optimizer

    bank, client, counts, spec = _kcfu_setup()
    assert len(set(counts.tolist())) > 1  # uneven class counts: the balanced loss differs from plain CE
    plain = _tiny_cnn(spec)
    generator = torch_generator(1)
    torch.randint(0, 2**62, (1,), generator=generator)  # the draw KCFU seeds its mixing stream with
    mean_epoch_loss(
        plain,
        sgd_optimizer(plain, 0.01, 0.9, 0.0),
        LabelledSet.of(client.positions, client.labels, bank),
        1,
        4,
        generator,
        lambda net, x, y: F.cross_entropy(net(x)[0], y),
        "t",
    )
    cross_entropy = _kcfu_run(KCFUConfig(balanced_loss=False), 0)
    balanced = _kcfu_run(KCFUConfig(), 0)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))  # noqa: E731
    assert same(cross_entropy, plain) and not same(balanced, plain)


@pytest.mark.parametrize("mix", [True, False])
def test_mix_unlabelled_false_distils_on_the_images_themselves(mix):
    """KAFAL Table 1's "KCFU w/o mix": every teacher input is an unlabelled image (flipped or not), never a blend."""
    bank, _, _, spec = _kcfu_setup()
    seen = []

    class Recording(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = _tiny_cnn(spec)

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.inner(x)

    _kcfu_run(KCFUConfig(mix_unlabelled=mix), 1, Recording())
    positions = torch.arange(8, 30)
    candidates = torch.cat(
        [
            bank.batch(positions, torch.zeros(22, dtype=torch.bool)),
            bank.batch(positions, torch.ones(22, dtype=torch.bool)),
        ]
    ).flatten(1)
    inputs = torch.cat(seen).flatten(1)
    is_image = [bool(((candidates - row).abs().amax(dim=1) < 1e-6).any()) for row in inputs]
    # With mixing, only the batch's partner itself (mixed with itself) stays an image.
    assert all(is_image) if not mix else sum(is_image) <= len(seen)


def _tiny_cnn(spec):
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2, spec.num_classes)

        def forward(self, x):
            f = self.conv(x).mean(dim=(2, 3))
            return self.fc(f), f

    torch.manual_seed(0)
    return Tiny()


# ---------------------------------------------------------------------------------------------
# Last-round client models (§5.3)


def test_last_round_client_models_equal_the_clients_last_local_training():
    from fal.data.images import ImageBank
    from fal.federated.models import build_model
    from fal.plan.catalog import dataset_spec

    arrays = synthetic_arrays(num_classes=4, per_class=12, test_per_class=3)
    spec = dataset_spec("octmnist")
    bank = ImageBank(arrays.train_images, spec.channel_mean(), spec.channel_std(), "cpu")
    test = ImageBank(arrays.test_images, spec.channel_mean(), spec.channel_std(), "cpu")
    clients = [
        ClientData(np.arange(0, 10), arrays.train_labels[0:10]),
        ClientData(np.arange(10, 24), arrays.train_labels[10:24]),
    ]
    cfg = FLConfig(
        rounds=2,
        local_epochs=1,
        batch_size=8,
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-5,
        lr_decay=0.1,
        lr_decay_at=1.0,
        client_fraction=1.0,
    )
    keys = (1, "train", 1)
    full = train_sequential(
        FederatedCycle(
            build_model("cnn4conv", spec, 7), clients, bank, test, arrays.test_labels, 4, cfg, seed_keys=keys
        ),
        keep_client_models=True,
    )
    assert sorted(full.client_states) == [0, 1]
    # direct computation: the global model after round 1, then each client's round-2 local training
    after_one = train_sequential(
        FederatedCycle(
            build_model("cnn4conv", spec, 7),
            clients,
            bank,
            test,
            arrays.test_labels,
            4,
            FLConfig(**{**cfg.__dict__, "rounds": 1}),
            seed_keys=keys,
        )
    )
    for k, client in enumerate(clients):
        local = build_model("cnn4conv", spec, 7)
        local.load_state_dict(after_one.state_dict)
        train_client(
            local,
            client,
            bank,
            epochs=1,
            batch_size=8,
            lr=round_lr(cfg, 1),
            momentum=0.9,
            weight_decay=1e-5,
            generator=torch_generator(*keys, "fl_client", 1, k),
            where="direct",
        )
        for name, value in local.state_dict().items():
            assert torch.equal(value, full.client_states[k][name]), name
    # and the global model is the average of those client models
    weights = [10 / 24, 14 / 24]
    for name, value in full.state_dict.items():
        if value.is_floating_point():
            expected = sum(full.client_states[k][name].double() * w for k, w in enumerate(weights))
            torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-6)
    plain = train_sequential(
        FederatedCycle(
            build_model("cnn4conv", spec, 7), clients, bank, test, arrays.test_labels, 4, cfg, seed_keys=keys
        )
    )
    assert plain.client_states is None
    for name, value in plain.state_dict.items():  # keeping the client models changes nothing
        assert torch.equal(value, full.state_dict[name])


# ---------------------------------------------------------------------------------------------
# IFAL pieces (§7.4)


def test_wasserstein_rows_match_scipy():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(5), size=6), rng.dirichlet(np.ones(5), size=6)
    expected = [wasserstein_distance(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(wasserstein_rows(a, b), expected, rtol=1e-12)
    assert wasserstein_rows(a, a[:, ::-1]).max() == pytest.approx(0.0)  # permutation-invariant (the official quirk)


def test_otsu_matches_skimage():
    filters = pytest.importorskip("skimage.filters")
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.1, 0.02, 300), rng.normal(0.6, 0.05, 40)])
    assert otsu_threshold(values) == pytest.approx(float(filters.threshold_otsu(values)), rel=1e-12)


def test_rknn_distribution_hand_case():
    # 1 labelled (class 0) and 3 unlabelled samples on a line; k = 1
    feat_l = torch.tensor([[1.0, 0.0]])
    feat_u = torch.tensor([[1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    labels = np.array([0, 0, 1, 1])  # labelled true label, then predicted labels of the unlabelled
    dist = rknn_distribution(feat_l, feat_u, labels, 2, k=1)
    # nearest unlabelled of each row (self excluded): l0 -> u0, u0 -> u2, u1 -> u2, u2 -> u1
    votes = np.array([[1 + 1, 1], [1, 1 + 1], [1 + 1, 1 + 1]], dtype=float)
    np.testing.assert_allclose(dist, votes / votes.sum(axis=1, keepdims=True))


def test_ifal_selection_stages():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    # stage 1: U has a clear high group larger than the budget
    u1 = np.ones(40)
    u2 = np.where(np.arange(40) < 8, 5.0, 1.0)
    chosen, stage = ifal_select(u1, u2, features, 4, np.random.default_rng(1))
    assert stage == 1 and len(set(chosen.tolist())) == 4 and set(chosen.tolist()) <= set(range(8))
    # stage 2: U's high group is smaller than the budget, U1's is large enough (and replaces it)
    u1 = np.where(np.arange(40) >= 30, 4.0, 1.0)
    u2 = np.where(np.arange(40) == 0, 100.0, 1.0 / u1)  # U = 100 at sample 0, 1 elsewhere
    chosen, stage = ifal_select(u1, u2, features, 4, np.random.default_rng(1))
    assert stage == 2 and set(chosen.tolist()) <= set(range(30, 40)) and len(set(chosen.tolist())) == 4
    # stage 3: no threshold gives enough candidates -> the top b by U
    u1 = np.where(np.arange(40) == 5, 9.0, 1.0)
    u2 = np.linspace(1.0, 2.0, 40)
    chosen, stage = ifal_select(u1, u2, features, 3, np.random.default_rng(1))
    assert stage == 3 and chosen.tolist() == [5, 39, 38]


def test_ifal_clusters_in_the_requested_precision(monkeypatch):
    """float32 (the official code's precision, the default) runs the k-means and the distances to the
    centres in float32; float64 in float64; both pick one nearest member per non-empty cluster."""
    import fal.strategies.methods.ifal as ifal

    seen = []
    real = ifal.kmeans
    monkeypatch.setattr(
        ifal, "kmeans", lambda points, *a, **k: seen.append((points.dtype, k["dtype"])) or real(points, *a, **k)
    )
    features = np.random.default_rng(0).normal(size=(60, 5))
    candidates = np.arange(10, 60)
    picks = {}
    for precision in ("float32", "float64"):
        picks[precision] = ifal.cluster_representatives(features, candidates, 8, np.random.default_rng(1), 2, precision)
        assert len(set(picks[precision].tolist())) == 8 and set(picks[precision].tolist()) <= set(candidates.tolist())
    assert seen == [(np.float32, torch.float32), (np.float64, torch.float64)]
    assert ifal.METHOD.defaults["kmeans_precision"] == "float32"


def test_kd_loss_hand_computation():
    s, t, temp = [0.2, -0.5, 1.0], [1.0, 0.0, -1.0], 4.0
    ps, pt = _softmax(np.array(s) / temp), _softmax(np.array(t) / temp)
    hand = temp**2 * float((pt * (np.log(pt) - np.log(ps))).sum())
    assert kd_loss(
        torch.tensor([s], dtype=torch.float64), torch.tensor([t], dtype=torch.float64), temp
    ).item() == pytest.approx(hand, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Configuration


def test_config_validation():
    ok = StrategyEntry.from_dict("x", {"method": "entropy", "query_model": "local", "local_model": "finetune"}, "s")
    assert ok.local_model_kind == "finetune" and not ok.needs_client_models
    assert StrategyEntry.from_dict("k", {"method": "ksas"}, "s").needs_client_models  # default: last-round model
    with pytest.raises(ConfigError, match="strategies.x.local_model"):
        StrategyEntry.from_dict(
            "x", {"method": "entropy", "query_model": "global", "local_model": "finetune"}, "strategies.x"
        )
    with pytest.raises(ConfigError, match="strategies.x.local_model"):
        StrategyEntry.from_dict(
            "x", {"method": "entropy", "query_model": "local", "local_model": "mine"}, "strategies.x"
        )
    with pytest.raises(ConfigError, match="strategies.x.federated.mix_partner"):
        StrategyEntry.from_dict(
            "x", {"method": "ksas", "federated": {"algorithm": "kcfu", "mix_partner": "all"}}, "strategies.x"
        )
    with pytest.raises(ConfigError, match="unknown option"):
        StrategyEntry.from_dict(
            "x", {"method": "ksas", "federated": {"algorithm": "fedavg", "nu": 0.5}}, "strategies.x"
        )
    full = StrategyEntry.from_dict("x", {"method": "ksas", "federated": {"algorithm": "kcfu"}}, "s")
    assert full.trains_own_cycle1 and full.update_options()["mix_partner"] == "batch"
    # existing strategies' rule params are unchanged by the new fields
    assert (
        "local_model" not in StrategyEntry.from_dict("e", {"method": "entropy", "query_model": "local"}, "s").to_dict()
    )


# ---------------------------------------------------------------------------------------------
# Strategy invariants through the real training and query stages

STRATEGIES = {
    "kafal": {"method": "ksas"},
    "ksas_l_scratch": {"method": "ksas", "local_model": "scratch"},
    "ifal": {"method": "ifal", "options": {"kd_epochs": 4, "rknn_k": 20, "kmeans_n_init": 2}},
    "entropy_l_lastround": {"method": "entropy", "query_model": "local", "local_model": "last_round"},
    "entropy_l_finetune": {"method": "entropy", "query_model": "local", "local_model": "finetune"},
}


@pytest.fixture(scope="module")
def trained():
    return trained_setting(
        num_clients=3,
        per_class=60,
        test_per_class=10,
        rounds=2,
        local_epochs=1,
        local_model_epochs=3,
        keep_client_models=True,
    )


def _query(trained, name):
    return query(trained, name, STRATEGIES[name])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(trained, name):
    out = _query(trained, name)
    assert_query_contract(trained, out)
    assert _query(trained, name).labelled.equals(out.labelled)  # deterministic


def test_local_model_kinds_differ(trained):
    picks = {name: _query(trained, name).labelled for name in ("entropy_l_lastround", "entropy_l_finetune")}
    assert not picks["entropy_l_lastround"].equals(picks["entropy_l_finetune"])


def test_kcfu_training_stage_keeps_every_client_with_partial_participation(trained):
    arrays, setting, protocol, fidelity, part = (
        trained.arrays,
        trained.setting,
        trained.protocol,
        trained.fidelity,
        trained.part,
    )
    protocol = ProtocolConfig.from_dict({**protocol.to_dict(), "client_fraction": 0.5, "local_model": {"epochs": 3}})
    strategy = StrategyEntry.from_dict("kafal_full", {"method": "ksas", "federated": {"algorithm": "kcfu"}}, "s")
    out = run_training_stage(
        StageInputs(
            setting=setting,
            protocol=protocol,
            fidelity=fidelity,
            seed=1,
            cycle=1,
            arrays=arrays,
            partition=part.partition,
            labelled=part.initial_labelled,
            spec=dataset_spec(setting.dataset),
        ),
        Compute(device="cpu", log=LOG),
        keep_client_models=True,
        algorithm=strategy_training(strategy.to_dict()),
    )
    assert sorted(out.result.client_states) == [0, 1, 2]  # the last round trains every client (official KAFAL)
    assert np.isfinite(out.result.rounds["train_loss"]).all()


# ---------------------------------------------------------------------------------------------
# The DAG: KAFAL (KSAS + KCFU, own cycle 1), IFAL and an L-model-kind variant, once, tiny


@pytest.mark.workflow
def test_kafal_ifal_lastround_through_the_workflow(tmp_path, data_cache):
    project = run_tiny_study(tmp_path, data_cache, "tiny_kafal")
    run = next((project / "results/tiny_kafal").glob("fmnist_lt*/seed1"))
    # the shared cycle 1 and every arm whose query reads them keep the last-round client models
    init_clients = torch.load(run / "init/cycle1/client_models.pt", weights_only=True)
    assert sorted(init_clients) == [0, 1, 2, 3, 4]
    # KCFU trains KAFAL's own cycle 1 from the shared labelled set; its query reads its own client models
    assert (run / "kafal_full/cycle1/model.pt").exists() and (run / "kafal_full/cycle1/client_models.pt").exists()
    assert not (run / "kafal_full/cycle1/labelled.parquet").exists()
    assert "KCFU" in next((project / "logs/tiny_kafal/train").rglob("kafal_full/cycle1.log")).read_text()
    metrics = pd.read_parquet(project / "results/tiny_kafal/metrics.parquet")
    final = metrics[metrics["metric"] == "final_test_acc"]
    assert sorted(final["strategy"].unique()) == [
        "entropy_l_lastround",
        "ifal",
        "kafal_full",
        "kafal_lambda2",
        "random_cross_entropy",
    ]
    assert set(final["labelled_ratio"]) == {20.0, 40.0}
    assert {"ksas_score_mean", "ifal_stage", "kd_model_epochs"} <= set(metrics["metric"])
    # 40 % of the 5 clients train in the first round, all of them in the last (KAFAL Fig. 9's keys)
    log = next((project / "logs/tiny_kafal/train").rglob("init/cycle1.log")).read_text()
    assert "round 1/2 clients 2/5" in log and "round 2/2 clients 5/5" in log
    # the cross-entropy update (KAFAL Fig. 4(f)) trains with KCFU: its own cycle 1
    assert (run / "random_cross_entropy/cycle1/model.pt").exists()
    for figure in ("kafal_fig7", "kafal_fig4f", "kafal_fig5"):
        assert (project / f"results/test-reports/figures/tiny_kafal/{figure}.png").stat().st_size > 10_000
    assert snakemake(project, "-n", "all").stdout.count("rule ") == 0


def test_schema_knows_the_new_strategy_fields():
    import yaml
    from helpers import ROOT

    from fal.config.strategy import LOCAL_MODEL_KINDS
    from fal.plan.catalog import ALGORITHMS, strategy_updates

    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    strategy = schema["properties"]["strategies"]["additionalProperties"]["properties"]
    assert strategy["local_model"]["enum"] == list(LOCAL_MODEL_KINDS)
    federated = schema["$defs"]["federated"]["properties"]
    assert federated["algorithm"]["enum"] == list(strategy_updates())
    assert set(federated) == {"algorithm", *ALGORITHMS["kcfu"].defaults}
