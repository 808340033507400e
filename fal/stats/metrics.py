"""Run metrics in one long ("tidy") table: one row per (run, cycle, round, client, class, metric).

Metric names:
- per round: ``test_acc`` (%), ``test_loss`` (mean CE), ``train_loss`` (mean client loss), ``lr``;
- per cycle: ``final_test_acc`` (the paper's "final-round test accuracy"), and per class
  ``class_test_acc``;
- per client and class: ``labelled_count`` (the cycle's labelled set), ``queried_count`` (what the
  query that produced this cycle's labelled set chose);
- per cycle, under per-client budgets (``protocol.budget_rule: per_client``): ``labelled_share``, the
  labelled share of the training set in percent (the cycle's nominal ``labelled_ratio`` besides it);
- strategy diagnostics of that query, e.g. FairFAL's ``fairfal_s``, ``fairfal_d``, ``fairfal_gamma``,
  ``fairfal_gamma_bar``, ``fairfal_m1_global``, ``fairfal_m2_global``, ``fairfal_quota``, and
  ``local_model_epochs``, ``client_test_acc_global`` / ``_local``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fal.formats import METRICS_SCHEMA


@dataclass
class CycleRecord:
    cycle: int
    labelled_ratio: float
    rounds: pd.DataFrame
    evaluation: pd.DataFrame
    labelled: pd.DataFrame
    query: pd.DataFrame | None
    """Diagnostics of the query that produced this cycle's labelled set (None for cycle 1)."""


def run_metrics(
    *,
    study: str,
    setting: dict,
    setting_id: str,
    strategy: str,
    method: str,
    selector: str,
    seed: int,
    labels: np.ndarray,
    num_classes: int,
    cycles: list[CycleRecord],
    num_train: int | None = None,
) -> pd.DataFrame:
    """The run's tidy metrics; with ``num_train`` (per-client budgets) also each cycle's real
    ``labelled_share`` (%), which differs from the nominal ratio by the budgets' rounding."""
    frames = []
    for rec in cycles:
        parts = []
        r = rec.rounds
        for metric in ("test_acc", "test_loss", "train_loss", "lr"):
            parts.append(pd.DataFrame({"round": r["round"], "metric": metric, "value": r[metric].astype(float)}))
        parts.append(pd.DataFrame({"metric": ["final_test_acc"], "value": [float(r["test_acc"].iloc[-1])]}))
        parts.append(
            pd.DataFrame(
                {
                    "class": rec.evaluation["class"],
                    "metric": "class_test_acc",
                    "value": rec.evaluation["accuracy"].astype(float),
                }
            )
        )
        lab = rec.labelled.assign(label=labels[rec.labelled["position"].to_numpy()])
        counts = (
            lab.groupby(["client", "label"])
            .size()
            .unstack(fill_value=0)
            .reindex(columns=range(num_classes), fill_value=0)
        )
        long = counts.stack().reset_index()
        long.columns = ["client", "class", "value"]
        parts.append(long.assign(metric="labelled_count", value=long["value"].astype(float)))
        if rec.query is not None and len(rec.query):
            parts.append(rec.query[["client", "class", "metric", "value"]])
        if num_train is not None:
            share = 100.0 * len(rec.labelled) / num_train
            parts.append(pd.DataFrame({"metric": ["labelled_share"], "value": [share]}))
        frame = pd.concat(parts, ignore_index=True)
        frame["cycle"] = rec.cycle
        frame["labelled_ratio"] = rec.labelled_ratio
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["study"] = study
    out["setting"] = setting_id
    out["dataset"] = setting["dataset"]
    out["rho"] = np.nan if setting.get("rho") is None else float(setting["rho"])
    out["alpha"] = float(setting["alpha"])
    out["num_clients"] = int(setting["num_clients"])
    out["strategy"] = strategy
    out["method"] = method
    out["selector"] = selector
    out["seed"] = seed
    for col in ("round", "client", "class"):
        if col not in out:
            out[col] = pd.NA
        out[col] = out[col].astype("Int16")
    return out[METRICS_SCHEMA.names]


def headline_measure(multi_label: bool) -> str:
    """What the accuracy columns hold, in words: "test accuracy", or "test mean AUC" for a multi-label
    study (whose training evaluates the mean AUC into the same columns, fal.federated.training)."""
    return "test mean AUC" if multi_label else "test accuracy"


def final_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, strategy, seed, cycle) with the final-round test accuracy."""
    rows = metrics[metrics["metric"] == "final_test_acc"]
    keys = [
        "study",
        "setting",
        "dataset",
        "rho",
        "alpha",
        "num_clients",
        "strategy",
        "method",
        "selector",
        "seed",
        "cycle",
        "labelled_ratio",
    ]
    return rows[keys + ["value"]].rename(columns={"value": "accuracy"}).reset_index(drop=True)
