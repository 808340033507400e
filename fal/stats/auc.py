"""Mean AUC, the multi-label metric of KAFAL's Table 4 (NIH ChestX-ray14): the area under the ROC curve
of each label, from scikit-learn's ``roc_auc_score``, averaged over labels (macro).

A label whose evaluation set holds only positives or only negatives has no ROC curve; scikit-learn's
macro average then raises. Here such a label is left out of the mean and counted, so a small test split
(the tiny CPU studies) still gets a number, and the tables say how many labels it averages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class MeanAUC:
    per_label: np.ndarray
    """AUC of each label, NaN where the evaluation set has one class only."""

    @property
    def mean(self) -> float:
        """Macro mean over the labels that have an AUC (NaN when none has)."""
        defined = self.per_label[~np.isnan(self.per_label)]
        return float(defined.mean()) if defined.size else float("nan")

    @property
    def labels_averaged(self) -> int:
        return int((~np.isnan(self.per_label)).sum())


def mean_auc(targets: np.ndarray, scores: np.ndarray) -> MeanAUC:
    """Per-label and mean AUC of ``scores`` (N, L; any monotone score: logits or probabilities) against
    multi-hot ``targets`` (N, L of 0/1)."""
    targets = np.asarray(targets)
    scores = np.asarray(scores, dtype=np.float64)
    if targets.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must both be (samples, labels)")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("targets must be multi-hot (0 or 1)")
    per_label = np.full(targets.shape[1], np.nan)
    for label in range(targets.shape[1]):
        column = targets[:, label]
        if 0 < column.sum() < len(column):
            per_label[label] = roc_auc_score(column, scores[:, label])
    return MeanAUC(per_label)
