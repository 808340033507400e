"""Part f: projected GPU-hours of the FMNIST Tables 5/6 grid and of each GPU study in config.yaml."""

from __future__ import annotations

import statistics

from gpucheck.common import ROOT

# ------------------------------------------------------------------------------------------------
# f. projection


def projection(full: dict, conc: list[dict], smoke: bool) -> dict:
    """GPU-hours from the measured full run and the best concurrency, stated with the method."""
    run_s = full.get("seconds") if full.get("status") == "pass" else None
    best = max((r for r in conc if r.get("status") == "pass"), key=lambda r: r["runs_per_hour"], default=None)
    speedup = (best["runs_per_hour"] / next(r["runs_per_hour"] for r in conc if r["processes"] == 1)) if best else 1.0
    out = {
        "method": "GPU-hours = runs × (one full run's seconds, part d) / concurrency speedup (part e, best level) / 3600; "
        "a run = one (setting, strategy, seed) through every cycle, scaled by the setting's training images "
        "relative to FMNIST-LT ρ = 20 and by cycles × rounds relative to 9 × 100. Runs of other strategies are "
        "taken to cost as much as FairFAL's (queries are a small part of a run); larger backbones and 3-channel "
        "images cost more per image, so CIFAR and backbone studies are underestimates.",
        "full_run_s": run_s,
        "concurrency_speedup": round(speedup, 2),
        "jobs_per_gpu": best["processes"] if best else 1,
        "studies": {},
    }
    if smoke:
        out["note"] = "smoke sizes: these figures exercise the arithmetic only, they project nothing"
    if run_s is None:
        out["note"] = "no complete full run (part d) to project from"
        return out
    try:
        import yaml

        from fal.plan.study import resolve_study
    except ImportError as exc:
        out["note"] = f"cannot read config.yaml ({exc}); install pyyaml"
        return out
    from fal.config.setting import SettingConfig
    from fal.plan.checks import training_images

    fmnist_images = training_images(SettingConfig(dataset="fmnist_lt", rho=20, alpha=0.1, num_clients=10))
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for name in config["studies"]:
        study = resolve_study(config, name)
        if study.name == "quick":
            continue
        runs = len(study.settings) * len(study.seeds) * len(study.strategies)
        images = statistics.mean(training_images(s) for s in study.settings) / fmnist_images
        scale = images * study.protocol.num_cycles() / 9 * study.protocol.rounds / 100
        out["studies"][name] = round(runs * run_s * scale / speedup / 3600, 2)
    fmnist = [n for n in out["studies"] if n == "table5_6_fmnist"]
    out["tables5_6_fmnist_gpu_hours"] = out["studies"][fmnist[0]] if fmnist else None
    return out
