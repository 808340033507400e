"""Classic AL strategies (margin, conf, coreset, BADGE, GCNAL, ALFA-Mix; G and L): the query contract
through the real query stage, and each method's core against hand computations or brute-force oracles."""

import numpy as np
import pytest
import torch
from helpers import ROOT, assert_query_contract, query, trained_setting

from fal.config.base import ConfigError
from fal.data.build import labelled_lists
from fal.data.views import load_setting_data
from fal.federated.models import build_model
from fal.plan.catalog import METHODS, dataset_spec
from fal.plan.strategies import StrategyEntry
from fal.strategies.inference import forward
from fal.strategies.kcenter import kcenter_greedy
from fal.strategies.kmeans import kmeans, kmeans_plusplus, nearest_to_centres
from fal.strategies.methods.alfamix import caps, class_anchors, closed_form_alpha, find_candidates
from fal.strategies.methods.badge import FactoredEmbedding, kmeanspp_seeding
from fal.strategies.methods.gcnal import LowRankAdjacency, train_gcn
from fal.strategies.methods.least_confidence import confidence_scores
from fal.strategies.methods.margin import margin_scores

METHOD_NAMES = ["margin", "conf", "coreset", "badge", "gcnal", "alfamix"]
STRATEGIES = {f"{m}_{q[0]}": {"method": m, "query_model": q} for m in METHOD_NAMES for q in ("global", "local")}


@pytest.fixture(scope="module")
def setting_state():
    """A 4-client, 4-class setting after one trained cycle (octmnist's shape: 1 channel, 4 classes)."""
    return trained_setting(
        num_clients=4, per_class=100, test_per_class=20, rounds=2, local_epochs=1, local_model_epochs=5
    )


def run(setting_state, name, seed=1, options=None):
    return query(setting_state, name, {**STRATEGIES[name], "options": options or {}}, seed=seed)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(setting_state, name):
    out = run(setting_state, name)
    assert_query_contract(setting_state, out)
    again = run(setting_state, name)
    assert again.labelled.equals(out.labelled)  # same seed -> same index set


@pytest.mark.parametrize("method", ["badge", "gcnal"])
def test_random_methods_depend_on_seed(setting_state, method):
    assert not run(setting_state, f"{method}_g", seed=1).labelled.equals(
        run(setting_state, f"{method}_g", seed=2).labelled
    )


def test_g_and_l_use_different_models(setting_state):
    assert not run(setting_state, "margin_g").labelled.equals(run(setting_state, "margin_l").labelled)


def test_registry_entries_and_the_modules_they_use():
    from fal.code_hash import imported_modules

    for method in METHOD_NAMES:
        assert METHODS[method].query_models == ("global", "local")
    uses = {m: imported_modules(ROOT, modules=[METHODS[m].module]) for m in ("coreset", "gcnal", "alfamix")}
    assert "fal.strategies.kcenter" in set(uses["coreset"]) & set(uses["gcnal"])
    assert "fal.strategies.kmeans" in uses["alfamix"]
    with pytest.raises(ConfigError, match="unknown option"):
        StrategyEntry.from_dict("x", {"method": "badge", "query_model": "global", "options": {"k": 1}}, "strategies.x")


# ------------------------------------------------------------------------------------------------
# Uncertainty scores


PROBS = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.34, 0.33, 0.33], [0.1, 0.1, 0.8]])


def test_margin_scores_by_hand():
    assert torch.allclose(margin_scores(PROBS), torch.tensor([0.5, 0.05, 0.01, 0.7]))


def test_confidence_scores_by_hand():
    assert torch.allclose(confidence_scores(PROBS), torch.tensor([0.7, 0.4, 0.34, 0.8]))


def _pool_outputs(setting_state, model_state):
    """The first client's unlabelled pool, its labelled set, and the query model's outputs on both."""
    arrays, setting, protocol, part = (
        setting_state.arrays,
        setting_state.setting,
        setting_state.protocol,
        setting_state.part,
    )
    spec = dataset_spec(setting.dataset)
    data = load_setting_data(arrays, part.partition, spec, setting.num_clients, "cpu")
    labelled = labelled_lists(part.initial_labelled, setting.num_clients)[0]
    unlabelled = np.setdiff1d(data.pools[0], labelled)
    model = build_model(protocol.model, spec, 0, "cpu")
    model.load_state_dict(model_state)
    logits, features = forward(model, data.query_bank, np.concatenate([unlabelled, labelled]))
    return unlabelled, labelled, torch.softmax(logits, 1), features


@pytest.mark.parametrize("name, score", [("margin_g", "margin"), ("conf_g", "conf")])
def test_uncertainty_queries_take_lowest_scores(setting_state, name, score):
    unlabelled, labelled, probs, _ = _pool_outputs(setting_state, setting_state.state_dict)
    p = probs[: len(unlabelled)].numpy().astype(np.float64)
    top = np.sort(p, axis=1)[:, ::-1]
    hand = top[:, 0] - top[:, 1] if score == "margin" else top[:, 0]
    budget = setting_state.part.budgets.query[0]
    got = labelled_lists(run(setting_state, name).labelled, 4)[0][:budget]
    assert np.isclose(np.sort(hand[np.searchsorted(unlabelled, got)]), np.sort(hand)[:budget], atol=1e-6).all()


# ------------------------------------------------------------------------------------------------
# Coreset: k-center against a brute-force Euclidean oracle


def oracle_kcenter(points, k, anchors):
    """§6.5 literally: full Euclidean distance matrix, min over labelled, argmax first index."""
    dist = np.sqrt(((points[:, None, :] - np.concatenate([anchors, points])[None, :, :]) ** 2).sum(-1))
    n_anchor = len(anchors)
    min_dist = dist[:, :n_anchor].min(1) if n_anchor else np.full(len(points), np.inf)
    picks = []
    for _ in range(k):
        j = int(np.argmax(np.where(np.isin(np.arange(len(points)), picks), -1.0, min_dist)))
        picks.append(j)
        min_dist = np.minimum(min_dist, dist[:, n_anchor + j])
    return picks


@pytest.mark.parametrize("seed", range(4))
def test_kcenter_equals_euclidean_oracle(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(60, 5))
    points[10] = points[3]  # an exact tie
    anchors = rng.normal(size=(4, 5))
    assert kcenter_greedy(points, 9, anchors=anchors).tolist() == oracle_kcenter(points, 9, anchors)


def test_coreset_query_equals_oracle(setting_state):
    unlabelled, labelled, _, features = _pool_outputs(setting_state, setting_state.state_dict)
    f = features.numpy().astype(np.float64)
    n = len(unlabelled)
    budget = setting_state.part.budgets.query[0]
    got = labelled_lists(run(setting_state, "coreset_g").labelled, 4)[0][:budget]
    # the labelled list holds new picks in selection order
    assert got.tolist() == unlabelled[oracle_kcenter(f[:n], budget, f[n:])].tolist()


# ------------------------------------------------------------------------------------------------
# BADGE


def _embedding(seed, n=30, c=4, d=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, d, generator=g)
    p = torch.softmax(torch.randn(n, c, generator=g) * 2, 1)
    return FactoredEmbedding.from_outputs(z, p), z, p


def test_gradient_embedding_definition_and_factorised_distances():
    emb, z, p = _embedding(0)
    dense = emb.dense()
    yhat = p.argmax(1)
    for i in (0, 7):
        for c in range(p.shape[1]):
            block = dense[i, c * z.shape[1] : (c + 1) * z.shape[1]]
            expect = z[i] * (1 - p[i, c]) if c == yhat[i] else -z[i] * p[i, c]
            assert torch.allclose(block, expect.double(), atol=1e-6)
    assert torch.allclose(emb.sq_norms(), (dense**2).sum(1))
    assert torch.allclose(emb.dot_with(3), dense @ dense[3])
    # a sum of two outer products (two models' embeddings) factorises term by term
    other, _, _ = _embedding(1)
    both = FactoredEmbedding(emb.terms + other.terms)
    assert torch.allclose(both.dense(), dense + other.dense())
    assert torch.allclose(both.sq_norms(), (both.dense() ** 2).sum(1))
    assert torch.allclose(both.dot_with(5), both.dense() @ both.dense()[5])


class ScriptedUniforms:
    """A stand-in generator whose ``random()`` returns given values (to check the sampling rule)."""

    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def oracle_badge(dense: np.ndarray, k: int, uniforms):
    """§6.6 literally on the materialised embedding: largest norm first, then inverse-CDF draws from D²/ΣD²."""
    chosen = [int(np.argmax(np.linalg.norm(dense, axis=1)))]
    uniforms = list(uniforms)
    while len(chosen) < k:
        d = np.sqrt(((dense[:, None, :] - dense[chosen][None]) ** 2).sum(-1)).min(1)
        prob = d**2 / (d**2).sum()
        while True:
            j = int(np.searchsorted(np.cumsum(prob), uniforms.pop(0), side="right"))
            if j not in chosen:
                break
        chosen.append(j)
    return chosen


@pytest.mark.parametrize("seed", range(3))
def test_badge_seeding_matches_spec(seed):
    emb, _, _ = _embedding(seed)
    dense = emb.dense().numpy()
    uniforms = np.random.default_rng(seed).random(8).tolist()
    got = kmeanspp_seeding(emb, 6, ScriptedUniforms(uniforms))
    assert got[0] == int(np.argmax(np.linalg.norm(dense, axis=1)))
    assert got.tolist() == oracle_badge(dense, 6, uniforms)


def test_badge_second_centre_frequencies_follow_squared_distance():
    emb, _, _ = _embedding(4, n=6)
    dense = emb.dense().numpy()
    first = int(np.argmax(np.linalg.norm(dense, axis=1)))
    d2 = ((dense - dense[first]) ** 2).sum(1)
    rng = np.random.default_rng(0)
    counts = np.bincount([kmeanspp_seeding(emb, 2, rng)[1] for _ in range(4000)], minlength=6)
    assert counts[first] == 0
    assert np.abs(counts / 4000 - d2 / d2.sum()).max() < 0.03


def test_badge_degenerate_pool_is_an_error():
    z = torch.ones(4, 3)
    p = torch.tensor([[1.0, 0.0]] * 4)  # one-hot: every gradient embedding is 0
    with pytest.raises(ValueError, match="coincides"):
        kmeanspp_seeding(FactoredEmbedding.from_outputs(z, p), 2, np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------
# k-means (ALFA-Mix's clustering)


def _blobs(seed=0, per=20):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.normal(scale=0.5, size=(per, 2)) for c in centres])
    return torch.tensor(x), np.repeat(np.arange(3), per)


def test_kmeans_recovers_separated_clusters_and_is_deterministic():
    x, truth = _blobs()
    result = kmeans(x, 3, np.random.default_rng(0))
    labels = result.labels
    for c in range(3):  # each true blob maps to one cluster
        assert len(np.unique(labels[truth == c])) == 1
    assert len(np.unique(labels)) == 3
    hand = sum(((x[labels == c] - x[labels == c].mean(0)) ** 2).sum() for c in range(3))
    assert np.isclose(result.inertia, float(hand))
    again = kmeans(x, 3, np.random.default_rng(0))
    assert np.array_equal(again.labels, result.labels) and again.inertia == result.inertia
    picks = nearest_to_centres(x, result)
    assert len(picks) == 3
    for p in picks:
        members = np.flatnonzero(labels == labels[p])
        d = ((x.numpy()[members] - result.centres[labels[p]]) ** 2).sum(1)
        assert members[int(np.argmin(d))] == p


def test_kmeans_keeps_the_best_of_n_init_runs():
    x = torch.tensor(np.random.default_rng(3).normal(size=(80, 4)))
    best = kmeans(x, 6, np.random.default_rng(1), n_init=5)
    stream = np.random.default_rng(1)  # the same draws, one restart at a time
    singles = [kmeans(x, 6, stream, n_init=1).inertia for _ in range(5)]
    assert best.inertia == min(singles)
    assert len(set(singles)) > 1  # the restarts differ, so the choice matters
    seeds = kmeans_plusplus(x, 6, np.random.default_rng(0))
    assert len(set(seeds.tolist())) == 6  # distinct data points


# ------------------------------------------------------------------------------------------------
# GCNAL


def test_low_rank_adjacency_equals_dense_construction():
    f = torch.rand(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    adj = LowRankAdjacency(f)
    fn = f / f.norm(dim=1, keepdim=True)
    a = fn @ fn.T - torch.eye(12, dtype=torch.float64)
    a = a @ torch.diag(1.0 / a.sum(0)) + torch.eye(12, dtype=torch.float64)
    assert torch.allclose(adj.dense(), a)
    m = torch.randn(12, 3, dtype=torch.float64)
    assert torch.allclose(adj @ m, a @ m)


def test_gcn_learns_to_separate_labelled_nodes():
    g = torch.Generator().manual_seed(0)
    unl = torch.rand(40, 6, generator=g) + torch.tensor([2.0, 0, 0, 0, 0, 0])
    lab = torch.rand(10, 6, generator=g) + torch.tensor([0, 0, 0, 0, 0, 2.0])
    options = METHODS["gcnal"].defaults
    gcn, adj, ax = train_gcn(torch.cat([unl, lab]), 40, options, torch.Generator().manual_seed(1))
    assert torch.allclose(ax, adj.dense() @ adj.f, atol=1e-5)
    s = torch.sigmoid(gcn.logit(ax, adj, train=False))
    assert s[40:].mean() > s[:40].mean() + 0.2
    gcn2, _, _ = train_gcn(torch.cat([unl, lab]), 40, options, torch.Generator().manual_seed(1))
    assert torch.equal(gcn.w1, gcn2.w1)  # seeded: identical training


def test_gcnal_selects_on_the_official_129_column_features(monkeypatch):
    """CoreGCN's k-center runs on the GCN's third output, cat(hidden, pre-sigmoid output) (LG:gcnal.py:94):
    128 hidden units and, as the 129th column, the output layer's value before the sigmoid."""
    import fal.strategies.methods.gcnal as gcnal

    g = torch.Generator().manual_seed(0)
    nodes = torch.rand(30, 8, generator=g)
    gcn, adj, ax = train_gcn(nodes, 24, {**METHODS["gcnal"].defaults, "steps": 5}, torch.Generator().manual_seed(1))
    with torch.no_grad():
        selection = gcn.selection_features(ax, adj)
        assert selection.shape == (30, 129)
        assert torch.equal(selection[:, :128], gcn.hidden(ax))
        assert torch.allclose(selection[:, 128], gcn.logit(ax, adj, train=False))  # pre-sigmoid: not in (0, 1)
    assert (selection[:, 128] < 0).any() or (selection[:, 128] > 1).any()
    seen = []
    real = gcnal.kcenter_greedy
    monkeypatch.setattr(
        gcnal, "kcenter_greedy", lambda p, k, anchors: seen.append((p.shape, anchors.shape)) or real(p, k, anchors)
    )
    trained = trained_setting(num_clients=2, per_class=30, test_per_class=5, rounds=1, local_model_epochs=1)
    out = query(trained, "gcnal_g", {"method": "gcnal", "query_model": "global", "options": {"steps": 5}})
    assert_query_contract(trained, out)
    assert seen and all(points[1] == anchors[1] == 129 for points, anchors in seen)  # k-center on all 129


# ------------------------------------------------------------------------------------------------
# ALFA-Mix


def test_alfamix_cap_schedule_and_closed_form():
    assert caps(0.2) == [0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
    anchor = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    z = torch.tensor([[0.0, 0.0], [3.0, 2.0]], dtype=torch.float64)
    grads = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)
    alpha = closed_form_alpha(0.5, anchor, z, grads)
    # row 0: ‖anchor − z‖ = √5, ‖g‖ = 5 → scale 0.5·√5/5; α = scale·g / (anchor − z + 1e−8)
    s0 = 0.5 * np.sqrt(5) / 5
    s1 = 0.5 * 2.0 / 2.0
    expect = torch.tensor([[s0 * 3 / (1 + 1e-8), s0 * 4 / (2 + 1e-8)], [0.0, s1 * 2 / 1e-8]], dtype=torch.float64)
    assert torch.allclose(alpha, expect, rtol=1e-5)


def test_alfamix_anchors_and_candidates():
    z_l = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    anchors = class_anchors(z_l, np.array([0, 0, 1]), 3)
    assert torch.allclose(anchors, torch.tensor([[2.0, 0.0], [0.0, 2.0], [4 / 3, 2 / 3]]))
    head = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
    # both predicted class 0; the first lies near the boundary and flips at the first cap (ε = 0.2/√2,
    # mix ≈ (0.85, 1.05) towards the class-1 anchor); the second, far away, flips only at larger caps
    z_u = torch.tensor([[1.0, 0.9], [10.0, 0.0]])
    pred = torch.tensor([0, 0])
    first_cap = find_candidates(head, z_u, pred, z_l, np.array([0, 0, 1]), 2, budget=0, alpha_cap=0.2)
    assert first_cap.tolist() == [True, False]  # more than b = 0 candidates: the cap loop stops
    all_caps = find_candidates(head, z_u, pred, z_l, np.array([0, 0, 1]), 2, budget=5, alpha_cap=0.2)
    assert all_caps.tolist() == [True, True]


def test_alfamix_head_option(setting_state, monkeypatch):
    import fal.strategies.methods.alfamix as alfamix

    with pytest.raises(ConfigError, match="classifier_head"):
        run(setting_state, "alfamix_g", options={"classifier_head": "mine"})
    heads = []
    original = alfamix.find_candidates
    monkeypatch.setattr(
        alfamix,
        "find_candidates",
        lambda head, *a, **k: heads.append(head.weight.detach().clone()) or original(head, *a, **k),
    )
    global_weight = setting_state.state_dict["linear.weight"]
    run(setting_state, "alfamix_l")  # faithful: the global head even with the local model
    assert all(torch.equal(w, global_weight) for w in heads)
    heads.clear()
    run(setting_state, "alfamix_l", options={"classifier_head": "query_model"})
    assert not any(torch.equal(w, global_weight) for w in heads)
