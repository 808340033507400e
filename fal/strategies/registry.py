"""The method registry: name → where its query function lives, its G/L choices and its options.

Kept free of torch imports so that the workflow can validate configs and hash each method's source
files cheaply. Adding a method = one module with a ``query(step, strategy)`` function plus one entry
here (see the README's "Adding a method").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MethodInfo:
    module: str
    """Dotted module path; its ``query`` function is called with (QueryStep, StrategyConfig)."""
    label: str
    query_models: tuple[str, ...] = ()
    """Allowed ``query_model`` values ("global", "local"); empty when the method picks models itself."""
    selector: str = "–"
    """The table's "Sel" column when the method has no query_model choice."""
    options: dict[str, Any] = field(default_factory=dict)
    """Option names with their defaults."""
    local_model: str | None = None
    """Default local query model kind (fal.config.LOCAL_MODEL_KINDS) of a method that always uses
    one; None for methods that use one only with ``query_model: local`` (then "scratch")."""


METHODS: dict[str, MethodInfo] = {
    "random": MethodInfo(module="fal.strategies.random", label="Random"),
    "entropy": MethodInfo(module="fal.strategies.entropy", label="Entropy", query_models=("global", "local")),
    "margin": MethodInfo(module="fal.strategies.margin", label="Margin", query_models=("global", "local")),
    "conf": MethodInfo(module="fal.strategies.least_confidence", label="Conf", query_models=("global", "local")),
    "coreset": MethodInfo(module="fal.strategies.coreset", label="Coreset", query_models=("global", "local")),
    "badge": MethodInfo(module="fal.strategies.badge", label="BADGE", query_models=("global", "local")),
    "gcnal": MethodInfo(
        module="fal.strategies.gcnal",
        label="GCNAL",
        query_models=("global", "local"),
        options={  # CoreGCN's defaults in the official code
            "subset_size": 10000,  # unlabelled nodes sampled into the graph
            "hidden": 128,  # hidden graph-conv width
            "dropout": 0.3,
            "lr": 1.0e-3,  # Adam
            "weight_decay": 5.0e-4,
            "steps": 200,  # full-batch training steps
            "eta": 1.2,  # weight of the unlabelled term of the loss
        },
    ),
    "alfamix": MethodInfo(
        module="fal.strategies.alfamix",
        label="ALFA-Mix",
        query_models=("global", "local"),
        options={
            "alpha_cap": 0.2,  # step of the ε cap schedule 0.2, 0.4, …, 1.0
            "classifier_head": "global",  # global (official: even in L mode) | query_model
            "kmeans_n_init": 10,  # scikit-learn 1.0.1 KMeans defaults
            "kmeans_max_iter": 300,
            "kmeans_tol": 1.0e-4,
        },
    ),
    "fairfal": MethodInfo(
        module="fal.strategies.fairfal",
        label="FairFAL",
        selector="G, L",
        local_model="scratch",
        options={
            "delta": 0.75,  # model-selection threshold δ on s_k (hard-coded in the official code)
            "kappa": 4.0,  # candidate oversampling κ of the two-stage sampler
            "temperature": 1.5,  # prototype softmax temperature (does not change the argmax)
            "t": 0.5,  # score mixing weight; t = 0.5 gives Eq. 6
            "uncertainty": "entropy",  # entropy | margin | least_confidence (Table 7)
            # Table 2's ablation columns (defaults = the full method, the κ = 4 column)
            "selector_model": "chosen",  # chosen = M^(k) | complementary = M̃^(k), the model s_k rejects
            "sampling": "two_stage",  # two_stage | class_wise (top-uncertainty per class) | uncertainty (plain top-b)
            "prototype_features": "global",  # global | local: whose features build prototypes and pseudo-labels
            # undocumented rules of the official code (§6.13, §11), official behaviour by default
            "quota_classes": "all",  # all: quotas over all C classes (code) | present: over the labelled classes C_k⁺
            "embedding_label": "prediction",  # unlabelled gradient embeddings use M2's argmax (code) | prototype pseudo-label
        },
    ),
    "logo": MethodInfo(
        module="fal.strategies.logo",
        label="LoGo",
        selector="G, L",
        options={
            # scikit-learn 1.0.1 KMeans defaults used by the official code (§6.9)
            "n_init": 10,
            "max_iter": 300,
            "tol": 1.0e-4,
        },
    ),
    "ens_logit_entropy": MethodInfo(module="fal.strategies.ensembles", label="Ens. Logit + Entropy", selector="G, L"),
    "ens_logit_badge": MethodInfo(module="fal.strategies.ensembles", label="Ens. Logit + BADGE", selector="G, L"),
    "ens_rank_entropy": MethodInfo(
        module="fal.strategies.ensembles",
        label="Ens. Rank + Entropy",
        selector="G, L",
        options={"rank_offset": 20},  # score Σ 1/(rank_offset + position), §6.10
    ),
    "ens_rank_badge": MethodInfo(
        module="fal.strategies.ensembles",
        label="Ens. Rank + BADGE",
        selector="G, L",
        options={"rank_offset": 20},  # score Σ 1/(rank_offset + position), §6.10
    ),
    "ft_entropy": MethodInfo(module="fal.strategies.ensembles", label="Fine-tuning + Entropy", selector="L"),
    "ft_badge": MethodInfo(module="fal.strategies.ensembles", label="Fine-tuning + BADGE", selector="L"),
    "ksas": MethodInfo(
        module="fal.strategies.ksas",
        label="KAFAL",
        selector="G, L",
        local_model="last_round",  # the IFAL repo's port and KAFAL's code both use the last-round client model
        options={
            "lambda": 1.0,  # knowledge-specialisation exponent λ on the labelled class counts (-1 = "reversed KSAS")
        },
    ),
    "ifal": MethodInfo(
        module="fal.strategies.ifal",
        label="IFAL",
        selector="G, L",
        local_model="last_round",
        options={
            "rknn_k": 250,  # reverse-kNN neighbourhood size
            "kd_temperature": 4.0,  # KD local model (§5.4): distillation temperature T
            "kd_weight": 0.9,  # weight of the KD term (CE gets 1 - kd_weight)
            "kd_lr_factor": 0.1,  # KD model lr = kd_lr_factor × protocol.lr
            "kd_epochs": 500,  # upper bound on epochs
            "kd_patience": 5,  # early stopping on the epoch's mean training loss
            "kmeans_n_init": 10,  # scikit-learn 1.0.1's KMeans default
        },
    ),
}

#: Modules every method's query rule depends on (their edits rerun all query rules).
SHARED_STRATEGY_MODULES = ("fal.strategies.base", "fal.strategies.inference", "fal.strategies.registry")


def load_query_function(method: str) -> Callable:
    try:
        info = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; available: {sorted(METHODS)}") from None
    return importlib.import_module(info.module).query


def module_file(module: str) -> Path:
    """Source path of a ``fal.*`` module relative to the project root, without importing it."""
    return Path(*module.split(".")).with_suffix(".py")


def method_source_files(method: str) -> list[Path]:
    """Relative paths of the files whose content defines ``method``'s behaviour."""
    extra = {
        "fairfal": ["fal.strategies.kcenter"],
        "coreset": ["fal.strategies.kcenter"],
        "gcnal": ["fal.strategies.kcenter"],
        "alfamix": ["fal.strategies.kmeans"],
        "logo": ["fal.strategies.kmeans", "fal.strategies.entropy"],
        "ens_logit_entropy": ["fal.strategies.entropy"],
        "ens_rank_entropy": ["fal.strategies.entropy"],
        "ft_entropy": ["fal.strategies.entropy"],
        "ens_logit_badge": ["fal.strategies.entropy", "fal.strategies.badge"],
        "ens_rank_badge": ["fal.strategies.entropy", "fal.strategies.badge"],
        "ft_badge": ["fal.strategies.entropy", "fal.strategies.badge"],
        "ifal": ["fal.strategies.kd_local", "fal.strategies.kmeans"],
    }.get(method, [])
    modules = [METHODS[method].module, *extra, *SHARED_STRATEGY_MODULES]
    return [module_file(m) for m in modules]
