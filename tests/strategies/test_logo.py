"""LoGo (§6.9), its k-means, and the Entropy- and BADGE-based ensembles of LoGo's Table 4 (§6.10): hand
cases for the pieces, the query contract through the real query stage on a small synthetic setting."""

import numpy as np
import pytest
import torch
from helpers import assert_query_contract, query, trained_setting

from fal.config.base import ConfigError
from fal.plan.strategies import StrategyEntry
from fal.strategies.kmeans import kmeans, kmeans_plusplus, lloyd
from fal.strategies.methods.badge import FactoredEmbedding, kmeanspp_seeding
from fal.strategies.methods.ensembles import averaged_embedding, rank_badge, rank_merge
from fal.strategies.methods.logo import (
    cluster_wise_candidates,
    cluster_wise_picks,
    macro_embedding,
    official_order,
    select,
)

# ------------------------------------------------------------------------------------------------
# k-means


def test_kmeans_two_obvious_clusters_by_hand():
    points = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    result = kmeans(points, 2, np.random.default_rng(0), n_init=10)
    assert result.labels[0] == result.labels[1] != result.labels[2] == result.labels[3]
    centres = sorted(map(tuple, result.centres.round(9)))
    assert centres == [(0.0, 0.5), (10.0, 0.5)]
    assert result.inertia == pytest.approx(4 * 0.25)


def test_lloyd_one_step_by_hand():
    # 1-d points 0, 1, 2, 10, 11 from centres 0 and 2: {0, 1} and {2, 10, 11} → means 0.5 and 23/3;
    # then 2 moves to the first cluster: {0, 1, 2}, {10, 11} → 1 and 10.5, which is stable.
    points = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    result = lloyd(points, np.array([[0.0], [2.0]]), max_iter=300, tol=0.0)
    assert result.labels.tolist() == [0, 0, 0, 1, 1]
    assert result.centres[:, 0].tolist() == [1.0, 10.5]
    assert result.inertia == pytest.approx(1 + 0 + 1 + 0.25 + 0.25)
    # a single iteration stops after the first update and relabels against the moved centres
    once = lloyd(points, np.array([[0.0], [2.0]]), max_iter=1, tol=0.0)
    assert once.centres[:, 0].tolist() == pytest.approx([0.5, 23 / 3])
    assert once.labels.tolist() == [0, 0, 0, 1, 1]


def test_lloyd_moves_an_empty_cluster_to_the_farthest_point():
    # both centres start at 0; cluster 1 gets nothing, so it takes the point farthest from its centre (9)
    points = np.array([[0.0], [1.0], [9.0]])
    result = lloyd(points, np.array([[0.0], [0.0]]), max_iter=1, tol=0.0)
    assert result.centres[:, 0].tolist() == [0.5, 9.0]
    assert result.labels.tolist() == [0, 0, 1]


def test_kmeans_plusplus_spreads_seeds_and_is_reproducible():
    rng = np.random.default_rng(3)
    blobs = np.concatenate([rng.normal(loc=c, scale=0.01, size=(20, 2)) for c in ((0, 0), (5, 5), (-5, 5))])
    seeds = kmeans_plusplus(blobs, 3, np.random.default_rng(1))
    assert sorted(s // 20 for s in seeds) == [0, 1, 2]  # one seed per far-apart blob
    assert np.array_equal(seeds, kmeans_plusplus(blobs, 3, np.random.default_rng(1)))


def test_kmeans_best_of_n_init_and_determinism():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(60, 3))
    one = kmeans(points, 6, np.random.default_rng(7), n_init=1)
    ten = kmeans(points, 6, np.random.default_rng(7), n_init=10)
    assert ten.inertia <= one.inertia  # the first of the ten runs is the one-run result
    again = kmeans(points, 6, np.random.default_rng(7), n_init=10)
    assert np.array_equal(ten.labels, again.labels) and ten.inertia == again.inertia
    with pytest.raises(ValueError, match="k <= number of points"):
        kmeans(points[:3], 4, np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------
# LoGo's steps


def test_macro_embedding_scales_features_by_uncertainty():
    logits = torch.log(torch.tensor([[0.8, 0.2], [0.5, 0.5]]))
    feats = torch.tensor([[1.0, 2.0], [4.0, 0.0]])
    assert np.allclose(macro_embedding(logits, feats).numpy(), [[0.2, 0.4], [2.0, 0.0]])


def test_micro_step_takes_the_most_globally_uncertain_member_of_each_cluster():
    labels = np.array([0, 0, 1, 1, 1, 2])
    scores = np.array([-0.1, -0.9, -0.5, -0.2, -0.7, -0.3])  # Σ p log p: lower = more uncertain
    assert cluster_wise_picks(labels, scores, 3, 3).tolist() == [1, 4, 5]


def test_top_up_when_clusters_are_empty():
    # clusters 1 and 3 are empty: 2 picks, then ⌈(4 − 2)/2⌉ = 1 more per non-empty cluster
    labels = np.array([0, 0, 0, 2, 2])
    scores = np.array([-0.3, -0.9, -0.5, -0.1, -0.2])
    assert cluster_wise_picks(labels, scores, 4, 4).tolist() == [1, 4, 2, 3]
    # more than one sweep, truncated to the budget in pick order
    labels = np.array([0, 0, 0, 0, 1])
    scores = np.array([-0.4, -0.3, -0.2, -0.1, -0.5])
    assert cluster_wise_picks(labels, scores, 3, 4).tolist() == [0, 4, 1, 2]


def test_logo_picks_at_most_one_point_per_macro_cluster():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(80, 5, generator=gen)
    feats = torch.randn(80, 16, generator=gen)
    probs = torch.softmax(torch.randn(80, 5, generator=gen), dim=1)
    options = {"n_init": 3, "max_iter": 300, "tol": 1e-4}
    picks, clustering = select(logits, feats, probs, 12, np.random.default_rng(4), options)
    assert len(picks) == 12 and len(np.unique(picks)) == 12
    assert len(np.unique(clustering.labels[picks])) == 12  # one per cluster
    scores = (probs * probs.log()).sum(dim=1).numpy()
    for p in picks:  # each pick is its cluster's most uncertain member under the global model
        members = np.flatnonzero(clustering.labels == clustering.labels[p])
        assert scores[p] == scores[members].min()
    again, _ = select(logits, feats, probs, 12, np.random.default_rng(4), options)
    assert np.array_equal(picks, again)


def test_official_order_is_the_set_order_of_the_picks_truncated_in_it():
    """LoGo's official code returns ``list(set(query_idx))`` (and truncates a top-up in that order): for
    ints above and below CPython's small-int range, that is neither pick nor ascending order."""
    picks = np.array([300, 5, 1_000_003, 257, 70_000, 2, 256, 64, 9_999])
    expected = list({int(i) for i in picks.tolist()})
    assert official_order(picks, len(picks)).tolist() == expected
    assert expected != sorted(expected) and expected != picks.tolist()
    assert official_order(picks, 4).tolist() == expected[:4]  # truncation in set order, not pick order
    assert set(official_order(picks, 4).tolist()) != set(picks[:4].tolist())


def test_a_top_up_overshoot_is_truncated_in_set_order():
    """Two clusters, budget 3: the firsts (0, 2) then one more per cluster (1, 3): 4 candidates; the
    official code keeps the first 3 of list(set(...)), the cluster order keeps 0, 2, 1."""
    labels = np.array([0, 0, 1, 1])
    scores = np.array([-2.0, -1.0, -2.0, -1.0])
    assert cluster_wise_candidates(labels, scores, 2, 3).tolist() == [0, 2, 1, 3]
    assert cluster_wise_picks(labels, scores, 2, 3).tolist() == [0, 2, 1]
    positions = np.array([70_001, 3, 1_000_000, 258])  # the pool positions of candidates 0, 2, 1, 3
    assert official_order(positions, 3).tolist() == list({70_001, 3, 1_000_000, 258})[:3]


def test_logo_query_stores_the_official_order_and_the_pool_order_switch_restores_cluster_order(monkeypatch):
    """Through the real query stage: under ``pool_order: official`` the new picks are stored as
    ``list(set(picked positions))``; under ``ascending`` in cluster (pick) order."""
    from helpers import assert_query_contract, query, trained_setting

    import fal.strategies.methods.logo as logo
    from fal.config.fidelity import FidelityConfig
    from fal.data.build import client_pools, labelled_lists, unlabelled_pool

    trained = trained_setting(num_clients=2, per_class=30, test_per_class=5, rounds=1, local_model_epochs=2)
    pools = client_pools(trained.part.partition, 2)
    before = labelled_lists(trained.part.initial_labelled, 2)
    real = logo.select
    for order in ("official", "ascending"):
        captured = []
        monkeypatch.setattr(logo, "select", lambda *a, c=captured, **k: c.append(real(*a, **k)) or c[-1])
        out = query(
            trained, "logo", {"method": "logo", "options": {"n_init": 2}}, fidelity=FidelityConfig(pool_order=order)
        )
        assert_query_contract(trained, out)
        for client in range(2):
            budget = trained.part.budgets.query[client]
            picked = unlabelled_pool(pools[client], before[client], order)[captured[client][0]]
            stored = labelled_lists(out.labelled, 2)[client][:budget].tolist()
            if order == "official":
                assert stored == list({int(i) for i in picked.tolist()})[:budget]
            else:
                assert stored == picked[:budget].tolist()


def test_rank_merge_by_hand():
    # G: [5, 6, 7], L: [7, 8, 5]; scores with offset 20:
    # 5: 1/20 + 1/22, 7: 1/22 + 1/20 (tie with 5, 5 appeared first), 6: 1/21, 8: 1/21 (6 first)
    assert rank_merge([np.array([5, 6, 7]), np.array([7, 8, 5])], 3, 20).tolist() == [5, 7, 6]


class ScriptedUniforms:
    """Stands in for a NumPy generator in k-means++ seeding: returns the given uniforms in turn."""

    def __init__(self, values):
        self._values = list(values)

    def random(self):
        return self._values.pop(0)


def test_rank_badge_by_hand():
    # one-dimensional embeddings (a = value, z = 1), so D² is a squared difference.
    # G = [3, 0, 1, 0.5]: first the largest norm, 0; D² = [0, 9, 4, 6.25], cumulative [0, 9, 13, 19.25],
    # u = 0.5 → 9.625 → index 2; D² = [0, 1, 0, 0.25], cumulative [0, 1, 1, 1.25], u = 0.9 → 1.125 → 3.
    g = FactoredEmbedding([(torch.tensor([[3.0], [0.0], [1.0], [0.5]]), torch.ones(4, 1))])
    # L = [0, 2, 0.2, -1]: first 1; D² = [4, 0, 3.24, 9], u = 0.1 → 1.624 → 0; D² = [0, 0, 0.04, 1],
    # u = 0.01 → 0.0104 → 2.
    loc = FactoredEmbedding([(torch.tensor([[0.0], [2.0], [0.2], [-1.0]]), torch.ones(4, 1))])
    assert kmeanspp_seeding(g, 3, ScriptedUniforms([0.5, 0.9])).tolist() == [0, 2, 3]
    assert kmeanspp_seeding(loc, 3, ScriptedUniforms([0.1, 0.01])).tolist() == [1, 0, 2]
    # lists G [0, 2, 3], L [1, 0, 2], offset 20: 0 → 1/20 + 1/21, 2 → 1/21 + 1/22, 1 → 1/20, 3 → 1/22
    picks = rank_badge([g, loc], 3, 20, [ScriptedUniforms([0.5, 0.9]), ScriptedUniforms([0.1, 0.01])])
    assert picks.tolist() == [0, 2, 1]


def test_averaged_badge_embedding_by_hand():
    # sample 0: G has p = (0.75, 0.25), ŷ = 0, a = (0.25, −0.25), z = (1, 2);
    #           L has p = (0.4, 0.6), ŷ = 1, a = (−0.4, 0.4), z = (3, 0)
    # ½(a_G ⊗ z_G + a_L ⊗ z_L) = ½([[0.25, 0.5], [−0.25, −0.5]] + [[−1.2, 0], [1.2, 0]])
    # sample 1: G p = (0.5, 0.5) (argmax: first on ties), a = (0.5, −0.5), z = (0, 1);
    #           L p = (0.9, 0.1), a = (0.1, −0.1), z = (1, 1)
    # ½([[0, 0.5], [0, −0.5]] + [[0.1, 0.1], [−0.1, −0.1]])
    g_feats, g_probs = torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    l_feats, l_probs = torch.tensor([[3.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.4, 0.6], [0.9, 0.1]])
    embedding = averaged_embedding([(g_feats, g_probs), (l_feats, l_probs)])
    expected = np.array([[-0.475, 0.25, 0.475, -0.25], [0.05, 0.3, -0.05, -0.3]])
    assert np.allclose(embedding.dense().numpy(), expected)
    # the factorised norms and inner products agree with the dense rows
    assert np.allclose(embedding.sq_norms().numpy(), [0.57625, 0.185])
    assert np.allclose(embedding.dot_with(1).numpy(), [0.1025, 0.185])


# ------------------------------------------------------------------------------------------------
# Through the query stage


STRATEGIES = {
    "logo": {"method": "logo", "options": {"n_init": 2}},
    "ens_logit_entropy": {"method": "ens_logit_entropy"},
    "ens_rank_entropy": {"method": "ens_rank_entropy"},
    "ft_entropy": {"method": "ft_entropy"},
    "ens_logit_badge": {"method": "ens_logit_badge"},
    "ens_rank_badge": {"method": "ens_rank_badge"},
    "ft_badge": {"method": "ft_badge"},
    "entropy_l": {"method": "entropy", "query_model": "local"},
    "badge_l": {"method": "badge", "query_model": "local"},
}


@pytest.fixture(scope="module")
def setting_state():
    """A 3-client, 4-class synthetic setting after one trained cycle."""
    return trained_setting(
        num_clients=3, per_class=60, test_per_class=10, rounds=1, local_epochs=1, local_model_epochs=3
    )


def run(setting_state, name, seed=1, as_name=None):
    """Query with STRATEGIES[name]; ``as_name`` renames the strategy (its name keys the generators)."""
    return query(setting_state, name, STRATEGIES[name], seed=seed, as_name=as_name)


@pytest.mark.parametrize(
    "name",
    ["logo", "ens_logit_entropy", "ens_rank_entropy", "ft_entropy", "ens_logit_badge", "ens_rank_badge", "ft_badge"],
)
def test_contract(setting_state, name):
    out = run(setting_state, name)
    assert_query_contract(setting_state, out)
    assert run(setting_state, name).labelled.equals(out.labelled)  # deterministic
    if name == "logo":
        clusters = out.diagnostics[out.diagnostics["metric"] == "logo_nonempty_clusters"]["value"]
        budget = setting_state.part.budgets.query[0]
        assert (clusters == budget).all()  # one cluster per pick, none empty: no top-up was needed
    if name.startswith("ft_"):
        assert (out.diagnostics["metric"] == "finetuned_model_epochs").sum() == setting_state.setting.num_clients


def test_finetuned_local_model_differs_from_scratch(setting_state):
    assert not run(setting_state, "ft_entropy").labelled.equals(run(setting_state, "entropy_l").labelled)
    # same strategy name, hence the same seeding generators: only the local model differs
    assert not run(setting_state, "ft_badge").labelled.equals(
        run(setting_state, "badge_l", as_name="ft_badge").labelled
    )


def test_bad_options_are_rejected():
    with pytest.raises(ConfigError, match="strategies.x.options.n_init: must be a whole number >= 1, got 0"):
        StrategyEntry.from_dict("x", {"method": "logo", "options": {"n_init": 0}}, "strategies.x")
    with pytest.raises(ConfigError, match="unknown option"):
        StrategyEntry.from_dict("x", {"method": "logo", "options": {"clusters": 3}}, "strategies.x")
