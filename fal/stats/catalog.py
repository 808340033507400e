"""Names of the tables and figures a study can declare (``studies.X.tables`` / ``figures``).

Kept free of heavy imports so that fal.config and the Snakefile can validate names cheaply;
fal.stats.paper_tables and fal.plots.paper_figures implement exactly these names (tested).
"""

from fal.data.datasets import DATASET_LABELS

TABLES = {
    "table1": "FairFAL Table 1: G vs L selectors, paired AULC statistics (winner, π⁺, Wilcoxon p, Hodges–Lehmann)",
    "table2": "FairFAL Table 2: ablation, final-round accuracy at the last labelled ratio",
    "table3": "FairFAL Table 3: medical datasets, final-round accuracy",
    "table5_6": "FairFAL Tables 5 and 6: methods × labelled ratio, one block per α",
    "table7": "FairFAL Table 7: FairFAL's uncertainty measure",
    "table8": "FairFAL Table 8: FairFAL's threshold δ",
    "table9": "FairFAL Table 9: backbones",
    "logo_table2": "LoGo Table 2: local and global EMD of query class distributions",
    "logo_table3": "LoGo Table 3: accuracy as mean of the last 5 rounds",
    "logo_table4": "LoGo Table 4: ensembles of the global and local model vs LoGo (mean of the last 5 rounds)",
    "logo_penalty": "LoGo penalty matrix: pairwise winning rates summed over settings",
    "kafal_table2_3": "KAFAL Tables 2 and 3: CIFAR-10 / CIFAR-100 in KAFAL's native setting (ResNet-8, KCFU for every method)",
    "kafal_table1": "KAFAL Table 1: rounds each federated update needs to reach KCFU's accuracy after 15 rounds",
}

FIGURES = {
    "figure1": "FairFAL Fig. 1: accuracy vs labelled ratio, G (solid) vs L (dashed) selectors",
    "figure2": "FairFAL Fig. 2: cumulative share of queried samples in majority / intermediate / minority classes",
    "figure3": "FairFAL Fig. 3: accuracy vs labelled ratio of every method",
    "figure4": "FairFAL Fig. 4: client × class counts of the partitions",
    "figure5": "FairFAL Fig. 5: accuracy curves per FL algorithm (FedAvg / FedProx / SCAFFOLD)",
    "figure6": "FairFAL Fig. 6: accuracy curves per number of clients",
    "logo_penalty": "LoGo penalty matrix: pairwise winning rates as a heatmap",
}

FIGURES_NEEDING_PARTITIONS = {"figure2", "figure4"}
"""Figures that read the partition files (class frequencies, client × class counts) besides the metrics."""


def describe_study(info: dict) -> str:
    """What was run, for captions: study, description, seeds, protocol and fidelity."""
    p = info["protocol"]
    seeds = info["seeds"]
    settings = "; ".join(
        ", ".join(
            filter(
                None,
                [
                    DATASET_LABELS.get(s["dataset"], s["dataset"]),
                    None if s.get("rho") is None else f"ρ={s['rho']:g}",
                    f"α={s['alpha']:g}",
                    f"{s['num_clients']} clients",
                    s.get("model") if s.get("model") != p.get("model") else None,
                    s.get("fl_algorithm")
                    if (s.get("fl_algorithm") or "fedavg") != (p.get("fl_algorithm") or "fedavg")
                    else None,
                ],
            )
        )
        for s in info["settings"].values()
    )
    description = info.get("description", "").strip()
    if description and not description.endswith("."):
        description += "."
    models = sorted({s.get("model") or p["model"] for s in info["settings"].values()})
    return (
        f"Study {info['name']}: {description} Settings: {settings}. "
        f"Seeds {', '.join(map(str, seeds))} ({len(seeds)}). Protocol: {p['rounds']} rounds × {p['local_epochs']} local epochs, "
        f"lr {p['lr']:g}, batch {p['batch_size']}, model {', '.join(models)}, labelled {100 * p['initial_ratio']:g}% → {100 * p['end_ratio']:g}% "
        f"in steps of {100 * p['query_ratio']:g}%; fidelity preset {info.get('fidelity', 'faithful')}."
    )
