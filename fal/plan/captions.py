"""What was run, in words: the captions of tables, figures and the report (planning side: a table or
figure job gets its caption in its params)."""

from __future__ import annotations


def describe_study(info: dict) -> str:
    """What was run, for captions: study, description, seeds, protocol and fidelity."""
    p = info["protocol"]
    seeds = info["seeds"]
    settings = "; ".join(
        ", ".join(
            filter(
                None,
                [
                    info["dataset_labels"].get(s["dataset"], s["dataset"]),
                    None if s.get("rho") is None else f"ρ={s['rho']:g}",
                    f"α={s['alpha']:g}",
                    f"{s['num_clients']} clients",
                    s.get("model") if s.get("model") != p.get("model") else None,
                    s.get("fl_algorithm")
                    if (s.get("fl_algorithm") or "fedavg") != (p.get("fl_algorithm") or "fedavg")
                    else None,
                    None
                    if s.get("client_fraction") is None  # set only where a study varies it
                    else f"{100 * s['client_fraction']:g} % of clients per round",
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
