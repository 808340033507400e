"""FairFAL's pieces against hand computations from the paper's formulas and reference-spec §6.13."""

import numpy as np
import pytest
import torch

from fal.strategies.kcenter import kcenter_greedy
from fal.strategies.methods.fairfal import (
    balanced_multiset,
    class_quotas,
    discrepancy,
    gradient_embedding,
    imbalance_ratio,
    prototype_pseudo_labels,
    selection_score,
    two_stage_select,
    uncertainty,
)


def test_quotas_fmnist_example_from_spec():
    # b = 102, C = 10, three labelled classes with buckets 500 > 300 > 200: 35/34/33 (§6.13 step 8)
    sizes = [500, 300, 200] + [0] * 7
    quotas = class_quotas(sizes, 102)
    assert quotas[:3] == [35, 34, 33] and sum(quotas) == 102 and quotas[3:] == [0] * 7


def test_quotas_cifar100_example_from_spec():
    # base 0: the 79 largest buckets get 1; empty ones release their unit round-robin
    sizes = [100, 80, 60, 40, 20] + [0] * 95
    quotas = class_quotas(sizes, 79)
    assert quotas[:5] == [16, 16, 16, 16, 15] and sum(quotas) == 79


def test_quotas_skip_full_classes_in_round_robin():
    assert class_quotas([3, 100, 0, 0], 20) == [3, 17, 0, 0]


def test_quotas_ties_go_to_lower_class_index():
    assert class_quotas([5, 5, 5], 4) == [2, 1, 1]


def test_balanced_multiset_equalises_classes_deterministically():
    labels = np.array([0, 0, 0, 1, 2, 2])
    idx = balanced_multiset(labels)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3]
    assert sorted(set(idx[labels[idx] == 0].tolist())) == [0, 1, 2]  # largest class: a permutation
    assert np.array_equal(idx, balanced_multiset(labels))  # fixed default_rng(42)


def test_discrepancy_eq5_by_hand():
    g = np.array([0.5, 0.5, 0.0])
    loc = np.array([0.25, 0.75, 0.0])
    # (1/C) Σ |g−l| / (g+l) = (0.25/0.75 + 0.25/1.25 + 0) / 3, with 0/0 = 0
    assert discrepancy(g, loc) == pytest.approx((1 / 3 + 0.2) / 3, rel=1e-6)
    assert discrepancy(g, g) == 0.0


def test_imbalance_ratio_eq4_by_hand():
    assert imbalance_ratio(np.array([0.6, 0.3, 0.1]), np.array([0, 1])) == pytest.approx(0.5)
    assert imbalance_ratio(np.array([0.6, 0.3, 0.1]), np.array([0, 1, 2])) == pytest.approx(1 / 6)


def test_selection_score_eq6():
    assert selection_score(0.2, 0.4, 0.5) == pytest.approx(1 - (0.2 + 0.4) / 2)
    assert selection_score(0.2, 0.4, 0.3) == pytest.approx(1 - 0.7 * 0.6 + 0.4 * 0.08)


def test_gradient_embedding_blocks():
    z = torch.tensor([[1.0, 2.0]])
    p = torch.tensor([[0.7, 0.3]])
    emb = gradient_embedding(z, p, np.array([0]))
    assert np.allclose(emb, [[0.3, 0.6, -0.3, -0.6]])


def test_uncertainties():
    uniform = torch.full((1, 4), 0.25)
    sure = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert uncertainty(uniform, "entropy", 4)[0] == pytest.approx(1.0, abs=1e-6)
    assert uncertainty(sure, "entropy", 4)[0] == pytest.approx(0.0, abs=1e-6)
    assert uncertainty(torch.tensor([[0.6, 0.3, 0.1, 0.0]]), "margin", 4)[0] == pytest.approx(0.7)
    assert uncertainty(torch.tensor([[0.6, 0.3, 0.1, 0.0]]), "least_confidence", 4)[0] == pytest.approx(0.4)


def test_pseudo_labels_cosine_vs_inner_product():
    # class 0's prototype is a short mean of spread-out unit vectors; class 1's is a long one
    protos = torch.tensor([[0.3, 0.0], [0.0, 0.9], [0.0, 0.0]])
    counts = torch.tensor([2.0, 2.0, 0.0])
    z = torch.tensor([[1.0, 0.8]])  # closer in angle to class 0, but class 1's prototype is longer
    assert prototype_pseudo_labels(z, protos, counts, 1.5, "cosine").tolist() == [0]
    assert prototype_pseudo_labels(z, protos, counts, 1.5, "inner").tolist() == [1]
    # absent classes (count 0) are never chosen
    z2 = torch.tensor([[-1.0, -1.0]])
    assert prototype_pseudo_labels(z2, protos, counts, 1.5, "cosine").tolist()[0] in (0, 1)


def brute_force_kcenter(points, k, anchors):
    centres = list(anchors)
    picked = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i, x in enumerate(points):
            if i in picked:
                continue
            d = min(float(((x - c) ** 2).sum()) for c in centres) if centres else np.inf
            if d > best_d:
                best, best_d = i, d
        picked.append(best)
        centres.append(points[best])
    return picked


@pytest.mark.parametrize("seed", range(5))
def test_kcenter_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(40, 6))
    anchors = rng.normal(size=(3, 6))
    assert kcenter_greedy(points, 7, anchors=anchors).tolist() == brute_force_kcenter(points, 7, anchors)
    # without anchors the first pick is given, then farthest-first
    got = kcenter_greedy(points, 5, first=4).tolist()
    assert got[0] == 4 and got[1:] == brute_force_kcenter(points, 5, [points[4]])[:4]


def test_kcenter_small_inputs():
    pts = np.zeros((3, 2))
    assert kcenter_greedy(pts, 5).tolist() == [0, 1, 2]
    assert kcenter_greedy(pts, 0).tolist() == []


def test_two_stage_takes_most_uncertain_then_diverse():
    # class 0 bucket: members 0..5; the 4 most uncertain are 2, 3, 4, 5 (kappa 2 × quota 2)
    pseudo = np.array([0, 0, 0, 0, 0, 0, 1])
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.85, 0.7, 0.5])
    emb = np.array([[0.0], [0.0], [10.0], [10.1], [0.2], [5.0], [3.0]])
    anchors = np.array([[0.0], [9.0]])
    labels = np.array([0, 1])
    chosen = two_stage_select(pseudo, scores, emb, anchors, labels, [2, 0], kappa=2.0)
    # candidates {2, 3, 4, 5}; anchor of class 0 at 0.0: farthest are 3 (10.1), then 5 (5.0 from both)
    assert chosen.tolist() == [3, 5]


# ------------------------------------------------------------------------------------------------
# γ, d_k and s_k by hand on outputs; Table 2/7/8 switches on crafted model outputs


from types import SimpleNamespace  # noqa: E402

from fal.config.base import ConfigError  # noqa: E402
from fal.plan.catalog import METHODS  # noqa: E402
from fal.plan.strategies import StrategyEntry  # noqa: E402
from fal.strategies.methods.fairfal import (  # noqa: E402
    _ClientOutputs,
    class_wise_select,
    client_picks,
    present_class_quotas,
    top_uncertain,
    uncertainty_model_is_global,
    unlabelled_embedding,
)

DEFAULTS = METHODS["fairfal"].defaults


def test_balanced_mean_probs_and_statistics_by_hand():
    # labelled labels [0, 0, 0, 1]: B_k holds class 0's three samples and class 1's sample three times,
    # so π̂ = (p0 + p1 + p2 + 3·p3) / 6 whatever the draws are.
    out = _ClientOutputs.__new__(_ClientOutputs)
    out.probs_l = torch.tensor([[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.8, 0.1, 0.1], [0.2, 0.6, 0.2]])
    pi_g = out.balanced_mean_probs(np.array([0, 0, 0, 1]))
    expected_g = np.array([0.9 + 0.7 + 0.8 + 0.6, 0.1 + 0.3 + 0.1 + 1.8, 0.0 + 0.0 + 0.1 + 0.6]) / 6
    assert np.allclose(pi_g, expected_g, atol=1e-6)
    # γ_k over the labelled classes {0, 1} only: min/max of (3.0/6, 2.3/6); class 2 is ignored
    assert imbalance_ratio(pi_g, np.array([0, 1])) == pytest.approx(2.3 / 3.0, rel=1e-5)
    pi_l = np.array([0.5, 0.5, 0.0])
    d = (
        abs(3.0 / 6 - 0.5) / (3.0 / 6 + 0.5) + abs(2.3 / 6 - 0.5) / (2.3 / 6 + 0.5) + 1.0
    ) / 3  # class 2: |x − 0|/x = 1
    assert discrepancy(pi_g, pi_l) == pytest.approx(d, rel=1e-5)
    gamma_bar = np.mean([2.3 / 3.0, 0.4])
    assert selection_score(d, gamma_bar, 0.5) == pytest.approx(1 - (d + gamma_bar) / 2, rel=1e-5)


def test_delta_and_complementary_model_rule():
    assert uncertainty_model_is_global(0.76, 0.75, "chosen") and not uncertainty_model_is_global(0.76, 0.80, "chosen")
    assert not uncertainty_model_is_global(0.75, 0.75, "chosen")  # s_k > δ, strictly
    assert not uncertainty_model_is_global(0.76, 0.75, "complementary") and uncertainty_model_is_global(
        0.76, 0.80, "complementary"
    )


def _outputs(probs_u, feat_u, probs_l, feat_l):
    return SimpleNamespace(
        probs_u=torch.tensor(probs_u),
        feat_u=torch.tensor(feat_u),
        probs_l=torch.tensor(probs_l),
        feat_l=torch.tensor(feat_l),
    )


def _options(**changes):
    return {**DEFAULTS, **changes}


# 2 classes, 2 labelled samples (one per class), 6 unlabelled. G's features put unlabelled samples 0–2 near
# class 0's prototype and 3–5 near class 1's; L_k's features put 0–4 near class 0 and 5 near class 1.
FEAT_L = [[1.0, 0.0], [0.0, 1.0]]
G_FEAT_U = [[1.0, 0.1], [1.0, 0.2], [1.0, 0.3], [0.1, 1.0], [0.2, 1.0], [0.3, 1.0]]
L_FEAT_U = [[1.0, 0.1], [1.0, 0.2], [1.0, 0.3], [1.0, 0.4], [1.0, 0.5], [0.1, 1.0]]
# G is most uncertain about 3 and 4, L_k about 0 and 1
G_PROBS_U = [[0.9, 0.1], [0.85, 0.15], [0.8, 0.2], [0.5, 0.5], [0.55, 0.45], [0.95, 0.05]]
L_PROBS_U = [[0.5, 0.5], [0.52, 0.48], [0.9, 0.1], [0.95, 0.05], [0.99, 0.01], [0.97, 0.03]]
PROBS_L = [[0.9, 0.1], [0.2, 0.8]]
G_OUT = _outputs(G_PROBS_U, G_FEAT_U, PROBS_L, FEAT_L)
L_OUT = _outputs(L_PROBS_U, L_FEAT_U, PROBS_L, FEAT_L)
LABELS = np.array([0, 1])


def _picks(m1_global=True, **options):
    return client_picks(G_OUT, L_OUT, LABELS, 2, 2, _options(**options), m1_global, True, "cosine")


def test_uncertainty_sampling_uses_the_selected_model_only():
    # Table 2's M^(k) column: plain top-b by M1's uncertainty, no buckets
    picks, quotas, buckets = _picks(m1_global=True, sampling="uncertainty")
    assert picks.tolist() == [3, 4] and quotas is None and buckets is None
    assert _picks(m1_global=False, sampling="uncertainty")[0].tolist() == [0, 1]


def test_class_wise_sampling_takes_top_uncertainty_per_global_prototype_bucket():
    # G's buckets {0,1,2} and {3,4,5}, quotas 1/1: the most uncertain of each under M1 = G
    picks, quotas, buckets = _picks(sampling="class_wise")
    assert buckets == [3, 3] and quotas == [1, 1] and picks.tolist() == [2, 3]


def test_local_prototypes_bucket_with_local_features():
    picks, quotas, buckets = _picks(sampling="class_wise", prototype_features="local")
    assert buckets == [5, 1] and quotas == [1, 1]
    assert picks.tolist() == [3, 5]  # bucket 0 = {0..4}: G's most uncertain is 3; bucket 1 = {5}


def test_class_wise_equals_two_stage_with_kappa_one():
    rng = np.random.default_rng(0)
    pseudo = rng.integers(0, 3, size=30)
    scores = rng.random(30)
    emb = rng.normal(size=(30, 4))
    quotas = class_quotas(np.bincount(pseudo, minlength=3).tolist(), 7)
    direct = class_wise_select(pseudo, scores, quotas)
    assert np.array_equal(
        direct, two_stage_select(pseudo, scores, emb, emb[:3], np.array([0, 1, 2]), quotas, kappa=1.0)
    )
    # with κ = 4 the k-center step takes over and the set changes
    assert not np.array_equal(
        direct, two_stage_select(pseudo, scores, emb, emb[:3], np.array([0, 1, 2]), quotas, kappa=4.0)
    )


@pytest.mark.parametrize("kappa, expected", [(1.0, 0), (2.0, 1), (3.0, 2), (5.0, 4), (9.0, 5)])
def test_kappa_sets_the_candidate_pool_size(kappa, expected):
    # one class, quota 1, members ranked by uncertainty 0 > 1 > … > 5 and placed at distance i from the
    # labelled anchor: k-center takes the farthest candidate, i.e. the last of the ⌊κ·q⌋ most uncertain
    pseudo = np.zeros(6, dtype=np.int64)
    scores = np.linspace(1.0, 0.5, 6)
    emb = np.arange(6, dtype=np.float64)[:, None]
    got = two_stage_select(pseudo, scores, emb, np.zeros((1, 1)), np.array([0]), [1], kappa=kappa)
    assert got.tolist() == [expected]


def test_uncertainty_measures_rank_differently():
    # Table 7: A = [.5, .5, 0, 0] has the smallest margin; B = [.4, .2, .2, .2] the highest entropy and
    # the lowest top probability
    probs = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.4, 0.2, 0.2, 0.2], [0.97, 0.01, 0.01, 0.01]])
    assert top_uncertain(uncertainty(probs, "entropy", 4), 1).tolist() == [1]
    assert top_uncertain(uncertainty(probs, "margin", 4), 1).tolist() == [0]
    assert top_uncertain(uncertainty(probs, "least_confidence", 4), 1).tolist() == [1]


def test_quota_classes_all_versus_present():
    buckets = [500, 300, 200] + [0] * 7
    assert class_quotas(buckets, 102)[:3] == [35, 34, 33]  # official: over all C classes, round-robin
    assert present_class_quotas(buckets, 102, np.array([0, 1, 2, 2])) == [34, 34, 34] + [0] * 7
    # capped present classes still redistribute
    assert present_class_quotas([2, 50, 0], 10, np.array([0, 1])) == [2, 8, 0]


def test_embedding_label_prediction_or_prototype():
    pseudo = np.array([1, 1, 1, 0, 0, 0])
    by_prediction = unlabelled_embedding(G_OUT, G_OUT, pseudo, "prediction")
    by_prototype = unlabelled_embedding(G_OUT, G_OUT, pseudo, "prototype")
    assert np.allclose(by_prediction, gradient_embedding(G_OUT.feat_u, G_OUT.probs_u, np.zeros(6, dtype=np.int64)))
    assert np.allclose(by_prototype, gradient_embedding(G_OUT.feat_u, G_OUT.probs_u, pseudo))


@pytest.mark.parametrize(
    "key, value",
    [
        ("selector_model", "other"),
        ("sampling", "one_stage"),
        ("prototype_features", "mixed"),
        ("quota_classes", "some"),
        ("embedding_label", "true"),
        ("uncertainty", "bald"),
        ("delta", 1.5),
        ("kappa", 0.5),
    ],
)
def test_bad_option_values_are_rejected(key, value):
    """Rejected when the config is parsed, naming the strategy's key path."""
    with pytest.raises(ConfigError, match=f"strategies.ff.options.{key}: must be"):
        StrategyEntry.from_dict("ff", {"method": "fairfal", "options": {key: value}}, "strategies.ff")


# ------------------------------------------------------------------------------------------------
# The switches through the real query stage (small synthetic setting, one trained cycle)


from helpers import query, trained_setting  # noqa: E402

from fal.data.build import labelled_lists  # noqa: E402


@pytest.fixture(scope="module")
def stage_setting():
    return trained_setting(
        num_clients=3, per_class=60, test_per_class=10, rounds=1, local_epochs=1, local_model_epochs=3
    )


def _query(stage_setting, spec):
    return query(stage_setting, "s", spec, path="strategies.s")


def _new_sets(stage_setting, out):
    budget = stage_setting.part.budgets.query[0]
    return [set(x[:budget].tolist()) for x in labelled_lists(out.labelled, stage_setting.setting.num_clients)]


def _metric(out, name):
    rows = out.diagnostics[out.diagnostics["metric"] == name]
    return dict(zip(rows["client"], rows["value"]))


def test_table2_model_columns_are_entropy_with_the_chosen_or_the_other_model(stage_setting):
    entropy = {
        kind: _new_sets(stage_setting, _query(stage_setting, {"method": "entropy", "query_model": kind}))
        for kind in ("global", "local")
    }
    for selector in ("chosen", "complementary"):
        out = _query(
            stage_setting, {"method": "fairfal", "options": {"sampling": "uncertainty", "selector_model": selector}}
        )
        chosen, m1 = _metric(out, "fairfal_chosen_global"), _metric(out, "fairfal_m1_global")
        for client, picked in enumerate(_new_sets(stage_setting, out)):
            assert m1[client] == (chosen[client] if selector == "chosen" else 1.0 - chosen[client])
            assert picked == entropy["global" if m1[client] else "local"][client]
        assert "fairfal_quota" not in set(out.diagnostics["metric"])


def test_delta_moves_every_client_to_one_model(stage_setting):
    assert set(
        _metric(_query(stage_setting, {"method": "fairfal", "options": {"delta": 0.0}}), "fairfal_m1_global").values()
    ) == {1.0}
    assert set(
        _metric(_query(stage_setting, {"method": "fairfal", "options": {"delta": 1.0}}), "fairfal_m1_global").values()
    ) == {0.0}


def test_stage_statistics_compose_as_eq6(stage_setting):
    out = _query(stage_setting, {"method": "fairfal"})
    d, gamma, s = _metric(out, "fairfal_d"), _metric(out, "fairfal_gamma"), _metric(out, "fairfal_s")
    gamma_bar = np.mean(list(gamma.values()))
    assert out.state["gamma_bar"] == pytest.approx(gamma_bar)
    for client in d:
        assert s[client] == pytest.approx(1 - (d[client] + gamma_bar) / 2)
        assert _metric(out, "fairfal_m1_global")[client] == float(s[client] > 0.75)
