"""KAFAL's figures (ICCV 2023 and its appendix): accuracy curves of its comparisons and ablations
(Figs. 4, 6-9, 11) and the client × class partitions (Fig. 5). The paper prints no numbers for them:
the figures keep its panels, axes and legend so that they compare by eye."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fal.config.outputs import PaperFigure
from fal.plots.panels import learning_curves, partition_heatmaps

OUTPUTS = (
    PaperFigure(
        "kafal_fig4ab",
        "KAFAL Fig. 4(a)(b): accuracy curves of every method on CIFAR-10 and CIFAR-100 (Tables 2 and 3)",
        heading="Accuracy vs labelled ratio of every method (KAFAL Fig. 4(a)(b))",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig4cd",
        "KAFAL Fig. 4(c)(d): each method scored on the client model (solid) vs the global model (dashed, F-AL)",
        heading="Client-model vs global-model (F-AL) selectors (KAFAL Fig. 4(c)(d))",
        entry="client_vs_global",
    ),
    PaperFigure(
        "kafal_fig4e",
        "KAFAL Fig. 4(e): KSAS vs a vanilla KL divergence and reversed KSAS",
        heading="KSAS, vanilla KL and reversed KSAS (KAFAL Fig. 4(e))",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig4f",
        "KAFAL Fig. 4(f): the local update with the balanced loss vs plain cross-entropy (KAFAL, Random)",
        heading="Balanced loss vs plain cross-entropy in the local update (KAFAL Fig. 4(f))",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig5",
        "KAFAL Fig. 5: client × class data distributions at alpha 0.1, 0.3 and 1",
        heading="Client × class training images (KAFAL Fig. 5)",
        entry="partition_counts",
        needs_partitions=True,
    ),
    PaperFigure(
        "kafal_fig6",
        "KAFAL Fig. 6: accuracy curves on CIFAR-10 at alpha 0.3 and 1",
        heading="Accuracy vs labelled ratio at milder non-IID levels (KAFAL Fig. 6)",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig7",
        "KAFAL Fig. 7: KSAS with five values of the intensification lambda",
        heading="KSAS's intensification lambda (KAFAL Fig. 7)",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig8",
        "KAFAL Fig. 8: accuracy curves on CIFAR-10 with 20 clients",
        heading="Accuracy vs labelled ratio with 20 clients (KAFAL Fig. 8)",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig9",
        "KAFAL Fig. 9: accuracy curves on CIFAR-10 with 40% of the clients updated per round",
        heading="Accuracy vs labelled ratio with 40% of the clients per round (KAFAL Fig. 9)",
        entry="curves",
    ),
    PaperFigure(
        "kafal_fig11",
        "KAFAL Fig. 11: accuracy curves on MNIST with the 2NN",
        heading="Accuracy vs labelled ratio on MNIST, 2NN (KAFAL Fig. 11)",
        entry="curves",
    ),
)


def curves(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return learning_curves(metrics, info, title)


def client_vs_global(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    """KAFAL draws the client-model (L) selector solid and the downloaded global model's (G) dashed."""
    return learning_curves(
        metrics,
        info,
        title,
        linestyles={"L": "-", "G": "--"},
        legend="solid: the client's model after its local update, dashed: the global model (F-AL)",
    )


def partition_counts(metrics: pd.DataFrame, info: dict, partitions: dict, title: str) -> plt.Figure:
    return partition_heatmaps(partitions, info, title)
