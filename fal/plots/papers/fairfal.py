"""FairFAL's figures (CVPR 2026): accuracy curves (Figs. 1, 3, 5, 6), sampling proportions of the class
groups (Fig. 2) and the partitions' client × class counts (Fig. 4)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import PaperFigure
from fal.plots.panels import class_counts_from_partition, learning_curves, partition_heatmaps, sampling_proportions

OUTPUTS = (
    PaperFigure(
        "figure1",
        "FairFAL Fig. 1: accuracy vs labelled ratio, G (solid) vs L (dashed) selectors",
        heading="Accuracy vs labelled ratio: global (G) vs local-only (L) query selectors (FairFAL Fig. 1)",
        entry="figure1",
    ),
    PaperFigure(
        "figure2",
        "FairFAL Fig. 2: cumulative share of queried samples in majority / intermediate / minority classes",
        heading="Cumulative sampling proportions of majority / intermediate / minority classes (FairFAL Fig. 2)",
        entry="figure2",
        needs_partitions=True,
    ),
    PaperFigure(
        "figure3",
        "FairFAL Fig. 3: accuracy vs labelled ratio of every method",
        heading="Accuracy vs labelled ratio of every method (FairFAL Fig. 3)",
        entry="figure3",
    ),
    PaperFigure(
        "figure4",
        "FairFAL Fig. 4: client × class counts of the partitions",
        heading="Client × class training images of the partitions (FairFAL Fig. 4)",
        entry="figure4",
        needs_partitions=True,
    ),
    PaperFigure(
        "figure5",
        "FairFAL Fig. 5: accuracy curves per FL algorithm (FedAvg / FedProx / SCAFFOLD)",
        heading="Accuracy vs labelled ratio per FL algorithm (FairFAL Fig. 5)",
        entry="figure5",
    ),
    PaperFigure(
        "figure6",
        "FairFAL Fig. 6: accuracy curves per number of clients",
        heading="Accuracy vs labelled ratio per number of clients (FairFAL Fig. 6)",
        entry="figure6",
    ),
)


def figure1(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    """Only strategies with a G or L selector (those compared in Table 1)."""
    keep = {s["name"] for s in info["strategies"] if s["selector"] in ("G", "L")}
    return learning_curves(metrics[metrics["strategy"].isin(keep)] if keep else metrics, info, title)


def figure2(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    counts = {s: class_counts_from_partition(p) for s, p in partitions.items()}
    return sampling_proportions(metrics, info, counts, title)


def figure3(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return learning_curves(metrics, info, title)


def figure4(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return partition_heatmaps(partitions, info, title)


def figure5(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return learning_curves(metrics, info, title, compare="fl_algorithm")


def figure6(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return learning_curves(metrics, info, title, compare="num_clients")
