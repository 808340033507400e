"""Test helpers shared by several test modules."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

from fal.data.synthetic import synthetic_arrays
from fal.data.views import Compute, StageInputs
from fal.plan.catalog import dataset_spec

# ---------------------------------------------------------------------------------------------
# A small synthetic setting after one trained cycle, queried through the real query stage

LOG = logging.getLogger("test")
CPU = Compute("cpu", LOG)
"""Where the tests' stages compute."""
SPEC = dataset_spec("octmnist")
"""The synthetic settings' dataset declaration (octmnist's shape: 4 classes, 1 channel)."""


def query_strategy(name: str, spec: dict, where: str | None = None, multi_label: bool = False):
    """A strategy entry (as in config.yaml's ``strategies``), checked and resolved as a query job gets it."""
    from fal.plan.strategies import StrategyEntry

    return StrategyEntry.from_dict(name, spec, where or f"strategies.{name}").query_strategy(multi_label)


def training_algorithm(federated: dict | None = None, multi_label: bool = False):
    """The training job's algorithm for a strategy's ``federated`` block (default plain FedAvg)."""
    return strategy_training({"method": "random", "federated": dict(federated or {})}, multi_label)


def strategy_training(spec: dict, multi_label: bool = False):
    """The training job's algorithm for a strategy entry ``spec`` (as in config.yaml's ``strategies``): its
    update and the module its method trains with the model, resolved as the planning side does."""
    from fal.federated.stage import TrainingAlgorithm
    from fal.plan.catalog import ALGORITHMS
    from fal.plan.strategies import StrategyEntry

    entry = StrategyEntry.from_dict("x", spec, "strategies.x")
    info = ALGORITHMS[entry.update]
    return TrainingAlgorithm(
        entry.update, info.entry_point, entry.update_options(multi_label), entry.trains_with(multi_label)
    )


def make_algorithm(cfg: Any, context: Any = None) -> Any:
    """An instance of the FL algorithm ``cfg.algorithm`` names (its class from the catalog's entry point)."""
    from fal.plan.catalog import ALGORITHMS
    from fal.registry import load_entry

    return load_entry(ALGORITHMS[cfg.algorithm].entry_point)(cfg, context)


class TrainedSetting(NamedTuple):
    """What a query needs after cycle 1's training: data, configs, partition and the trained models."""

    arrays: Any
    setting: Any
    protocol: Any
    fidelity: Any
    part: Any
    state_dict: dict
    client_states: dict | None


def trained_setting(
    *,
    num_clients: int,
    per_class: int,
    test_per_class: int,
    rounds: int,
    local_epochs: int = 1,
    local_model_epochs: int,
    keep_client_models: bool = False,
    federated: dict | None = None,
    partition_file: list[list[int]] | None = None,
    protocol: dict | None = None,
) -> TrainedSetting:
    """A ``num_clients``-client, 4-class setting (octmnist's shape: 1 channel) trained for one cycle
    (``federated``: a strategy's resolved training algorithm; default plain FedAvg; ``partition_file``:
    client lists of a file partition; ``protocol``: overrides of the protocol)."""
    from fal.config.fidelity import FidelityConfig
    from fal.config.partition_file import partition_digest
    from fal.config.protocol import ProtocolConfig
    from fal.config.setting import SettingConfig
    from fal.data.build import build_partition
    from fal.federated.stage import run_training_stage

    arrays = synthetic_arrays(num_classes=4, per_class=per_class, test_per_class=test_per_class)
    file_fields = {}
    if partition_file is not None:
        file_fields = {"partition": "file", "partition_digest": partition_digest(partition_file)}
    setting = SettingConfig(dataset="octmnist", alpha=0.5, num_clients=num_clients, **file_fields)
    protocol_config = ProtocolConfig.from_dict(
        {
            "num_clients": num_clients,
            "rounds": rounds,
            "local_epochs": local_epochs,
            "lr": 0.05,
            "initial_ratio": 0.1,
            "query_ratio": 0.1,
            "end_ratio": 0.3,
            "local_model": {"epochs": local_model_epochs},
            **(protocol or {}),
        }
    )
    fidelity = FidelityConfig()
    part = build_partition(
        setting, protocol_config, fidelity, 1, arrays.train_labels, arrays.test_labels, partition_file, spec=SPEC
    )
    out = run_training_stage(
        StageInputs(setting, protocol_config, fidelity, 1, 1, arrays, part.partition, part.initial_labelled, SPEC),
        CPU,
        keep_client_models=keep_client_models,
        algorithm=federated if hasattr(federated, "entry") else training_algorithm(federated),
    )
    return TrainedSetting(
        arrays, setting, protocol_config, fidelity, part, out.result.state_dict, out.result.client_states
    )


def query(
    trained: TrainedSetting,
    name: str,
    spec: dict,
    seed: int = 1,
    previous_state: dict | None = None,
    fidelity=None,
    as_name: str | None = None,
    path: str | None = None,
):
    """Cycle 1's query with strategy ``spec``; ``as_name`` renames the strategy (its name keys the generators)."""
    from fal.strategies.stage import run_query_stage

    strategy = query_strategy(as_name or name, spec, path or name)
    inputs = StageInputs(
        trained.setting,
        trained.protocol,
        fidelity or trained.fidelity,
        seed,
        1,
        trained.arrays,
        trained.part.partition,
        trained.part.initial_labelled,
        SPEC,
    )
    return run_query_stage(
        inputs,
        CPU,
        strategy=strategy,
        global_state=trained.state_dict,
        previous_state=previous_state,
        client_states=trained.client_states,
    )


def assert_query_contract(trained: TrainedSetting, out) -> None:
    """Every client gets exactly its budget of new, distinct, previously unlabelled samples from its own
    pool, placed before its old labels, which are kept in order."""
    from fal.data.build import labelled_lists

    num_clients, part = trained.setting.num_clients, trained.part
    before = labelled_lists(part.initial_labelled, num_clients)
    after = labelled_lists(out.labelled, num_clients)
    train = part.partition[part.partition["split"] == "train"]
    for client in range(num_clients):
        budget = part.budgets.query[client]  # the client's own budget (equal, or its share of its data)
        new = after[client][:budget]
        assert len(after[client]) == len(before[client]) + budget  # exact budget
        assert len(np.unique(after[client])) == len(after[client])  # no duplicates
        assert not set(new.tolist()) & set(before[client].tolist())  # never an already-labelled sample
        assert set(new.tolist()) <= set(train.loc[train["client"] == client, "position"].tolist())  # own pool only
        assert np.array_equal(after[client][budget:], before[client])  # old labels kept, in order


# ---------------------------------------------------------------------------------------------
# Running the workflow from tests

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
COPIED = ["Snakefile", "config.yaml", "workflow", "fal", "envs", "profiles", ".test", "docs"]


def snakemake(workdir: Path, *args: str, check: bool = True, profile: str = "none") -> subprocess.CompletedProcess:
    """Run Snakemake (2 cores; no workflow profile unless ``profile`` names one, e.g. the project's
    ``profiles/default``) in ``workdir``; raise with its output on failure."""
    cmd = [str(SNAKEMAKE), "--workflow-profile", profile, "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def copy_project(destination: Path, config: dict) -> Path:
    """A runnable copy of the project with its own config.yaml."""
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, destination / name)
    (destination / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return destination


def base_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


TEST_CONFIGS = ROOT / ".test" / "config"


def merge_config(base: dict, override: dict) -> dict:
    """``override`` merged into ``base`` as ``snakemake --configfile`` does: mappings recursively, the rest replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merge_config(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def tiny_study_config(name: str, data_cache: Path | None = None) -> dict:
    """config.yaml with ``.test/config/<name>.yaml`` merged in (the user-visible tiny study of a workflow test)."""
    config = merge_config(base_config(), yaml.safe_load((TEST_CONFIGS / f"{name}.yaml").read_text()))
    if data_cache is not None:
        config["paths"]["data_cache"] = str(data_cache)
    return config


def run_tiny_study(destination: Path, data_cache: Path, name: str) -> Path:
    """Run ``.test/config/<name>.yaml``'s study to completion in a copy of the project; return the copy."""
    project = copy_project(destination, tiny_study_config(name, data_cache))
    snakemake(project, "all")
    return project


def same_result(a: Path | bytes, b: Path | bytes) -> bool:
    """Whether two result files (paths or contents) hold the same result: byte-equal (results carry no
    wall-clock time; timings are in the logs and benchmarks)."""
    data_a = a.read_bytes() if isinstance(a, Path) else a
    data_b = b.read_bytes() if isinstance(b, Path) else b
    return data_a == data_b


def dry_run_jobs(project: Path, *args: str, profile: str = "none") -> list[dict]:
    """Every job a dry run of ``all`` schedules: rule, wildcards (sorted pairs), reason, inputs, outputs."""

    return parse_dry_run(snakemake(project, "-n", "all", *args, profile=profile).stdout)


def parse_dry_run(out: str) -> list[dict]:
    """The jobs of a dry run's printed plan (``dry_run_jobs``)."""
    import re

    jobs: list[dict] = []
    for line in out.splitlines():
        stripped = line.strip()
        match = re.match(r"^(?:local)?rule (\w+):$", stripped)
        if match:
            jobs.append(
                {"rule": match.group(1), "wildcards": (), "reason": "", "input": [], "output": [], "resources": {}}
            )
        elif jobs and stripped.startswith("wildcards:"):
            items = [item.strip().split("=", 1) for item in stripped.split(":", 1)[1].split(",")]
            jobs[-1]["wildcards"] = tuple(sorted((k, v) for k, v in items))
        elif jobs and stripped.startswith("resources:"):
            pairs = [item.strip().split("=", 1) for item in stripped.split(":", 1)[1].split(",")]
            jobs[-1]["resources"] = {k: v for k, v in pairs}
        elif jobs and stripped.startswith("reason:"):
            jobs[-1]["reason"] = stripped
        elif jobs and stripped.startswith(("input:", "output:")):
            field, _, items = stripped.partition(":")
            jobs[-1][field] = [item.strip() for item in items.split(",")]
    return jobs
