"""Does IFAL's k-means in float32 (as the official code runs it) bring our picks as close to the official
ones as the official code's picks are to each other from another seed?

IFAL's last step clusters the candidates' L2-normalised features with scikit-learn's KMeans (float32
input, k = the budget, about 100-150 clusters at the paper's protocol) and keeps each cluster's member
nearest its centre. With that many clusters the result depends on every rounding step, so our picks can
only match the official ones in distribution. This script measures, on one realistic candidate set
(features of a CNN trained briefly on real Fashion-MNIST), the mean Jaccard overlap of the picked sets:

- official vs official from another ``random_state`` (the official code's own seed-to-seed overlap);
- ours (``fal.strategies.methods.ifal.cluster_representatives``) in float64 and in float32 vs official.

Needs scikit-learn, which is not a project dependency (the official code's k-means is the oracle):

    .venv/bin/pip install scikit-learn
    .venv/bin/python benchmarks/ifal_kmeans_precision.py [--candidates 900] [--clusters 150] [--seeds 8]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fal.data.images import ImageBank
from fal.data.sources.fmnist import read_fmnist
from fal.federated.models import build_model
from fal.federated.sgd import LabelledSet, cross_entropy_loss, mean_epoch_loss, sgd_optimizer
from fal.plan.catalog import dataset_spec
from fal.strategies.inference import forward
from fal.strategies.methods.ifal import cluster_representatives


def official_sample(feats: np.ndarray, n: int, seed: int) -> set[int]:
    """The official ``IFAL.sample``: KMeans(n_clusters=n) as scikit-learn 1.0.1 runs it (k-means++,
    10 restarts, Elkan), predict, then each cluster's member nearest its centre, all in float32."""
    from sklearn.cluster import KMeans

    learner = KMeans(n_clusters=n, n_init=10, algorithm="elkan", random_state=seed).fit(feats)
    labels = learner.predict(feats)
    dis = ((feats - learner.cluster_centers_[labels]) ** 2).sum(axis=1)
    return {int(np.arange(len(feats))[labels == i][dis[labels == i].argmin()]) for i in range(n) if (labels == i).any()}


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--candidates", type=int, default=900)
    parser.add_argument("--clusters", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    arrays = read_fmnist(Path(args.fmnist))
    spec = dataset_spec("fmnist")
    bank = ImageBank(arrays.train_images[:6000], spec.channel_mean(), spec.channel_std(), "cpu")
    model = build_model("cnn4conv", spec, 0, "cpu")
    train = LabelledSet.of(np.arange(3000), arrays.train_labels[:3000], bank)
    start = time.perf_counter()
    mean_epoch_loss(
        model,
        sgd_optimizer(model, 0.05, 0.9, 1e-5),
        train,
        2,
        64,
        torch.Generator().manual_seed(0),
        cross_entropy_loss,
        "benchmark",
    )
    _, features = forward(model, bank, np.arange(3000, 3000 + args.candidates), 256)
    feats = torch.nn.functional.normalize(features, dim=1).numpy().astype(np.float32)  # as the official code
    print(f"features: {feats.shape} from a CNN trained {time.perf_counter() - start:.0f} s on 3,000 FMNIST images")
    candidates = np.arange(len(feats))
    official = [official_sample(feats, args.clusters, s) for s in range(args.seeds)]
    ours = {
        precision: [
            set(
                cluster_representatives(
                    feats, candidates, args.clusters, np.random.default_rng(s), 10, precision
                ).tolist()
            )
            for s in range(args.seeds)
        ]
        for precision in ("float64", "float32")
    }
    rows = [("official vs official (other seed)", [jaccard(a, b) for a, b in itertools.combinations(official, 2)])]
    for precision, picks in ours.items():
        rows.append((f"ours {precision} vs official", [jaccard(a, b) for a in picks for b in official]))
        rows.append(
            (
                f"ours {precision} vs ours {precision} (other seed)",
                [jaccard(a, b) for a, b in itertools.combinations(picks, 2)],
            )
        )
    print(
        f"\n{args.candidates} candidates, {args.clusters} clusters, {args.seeds} seeds each; mean Jaccard overlap of the picked sets:\n"
    )
    print("| comparison | mean | sd | pairs |\n|---|---:|---:|---:|")
    for name, values in rows:
        print(f"| {name} | {np.mean(values):.3f} | {np.std(values):.3f} | {len(values)} |")


if __name__ == "__main__":
    main()
