"""The partition stage: long-tailed subset, client partition, client test split, initial labelled set.

In faithful mode this reproduces the official code's random streams exactly:
- one ``RandomState(seed)`` (the official global NumPy RNG) shuffles each class for the LT training
  view, then again for the LT query view (a second, different subset: §1.3), then draws each client's
  initial labelled set with ``choice(..., replace=False)``;
- the partition uses a torch generator seeded with 0, advanced by one draw per training image (the
  flips of the augmented view it iterates over), and ``random.Random(0)`` for the class shuffles;
- the test split reuses the training split's class fractions, with freshly seeded generators.
In corrected mode the query view equals the training view and the partition follows the run seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fal.config.budgets import ClientBudgets, client_budgets
from fal.config.datasets import DatasetSpec, longtail_counts
from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.longtail import balanced_test_subset, select_longtail
from fal.data.partition import PartitionResult, dir_balance, dir_balance_logo
from fal.seeding import derive_seed


@dataclass(frozen=True)
class PartitionOutputs:
    partition: pd.DataFrame
    initial_labelled: pd.DataFrame
    budgets: ClientBudgets
    """Each client's initial and per-query budget (protocol.budget_rule)."""
    summary: dict


def _partition_generators(
    setting: SettingConfig, fidelity: FidelityConfig, seed: int, split: str
) -> tuple[torch.Generator, random.Random]:
    """FairFAL's partition seeds its own generators with 0 (faithful) whatever the run seed; LoGo's
    uses the run-seeded global RNGs, so it always follows the run seed."""
    if setting.partition in ("dir_balance", "file") and fidelity.partition_seed == "fixed":
        internal = 0
    else:
        internal = derive_seed(seed, "partition", split)
    return torch.Generator().manual_seed(internal), random.Random(internal)


def multilabel_partition_labels(targets: np.ndarray, frequency: np.ndarray, rule: str) -> np.ndarray:
    """The one class each multi-hot row places its image in for the Dirichlet partition
    (fal.config.setting.MULTILABEL_PARTITION_RULES): its rarest positive label by ``frequency`` (the
    training positives; ties to the lower index) or its first; ``L`` for a row with none."""
    targets = np.asarray(targets)
    num_labels = targets.shape[1]
    positive = targets > 0
    if rule == "first":
        ranked = positive
    elif rule == "rarest":
        order = np.argsort(np.asarray(frequency), kind="stable")  # rarest first
        ranked = positive[:, order]
    else:
        raise ValueError(f"unknown multi-label partition rule {rule!r}")
    first = np.argmax(ranked, axis=1)
    labels = first if rule == "first" else order[first]
    return np.where(positive.any(axis=1), labels, num_labels).astype(np.int64)


def file_partition(clients: list[list[int]], labels: np.ndarray, num_classes: int) -> PartitionResult:
    """A partition read from a file (fal.config.partition_file): each client's positions as the file
    lists them; its client × class shares split the test set (``dir_balance`` with these proportions)."""
    counts = np.stack([np.bincount(labels[np.asarray(c, dtype=np.int64)], minlength=num_classes) for c in clients])
    divisor = torch.clamp(torch.tensor(counts.sum(axis=0), dtype=torch.float32), min=1.0)
    return PartitionResult(
        clients=[list(map(int, c)) for c in clients],
        counts=counts.astype(np.int64),
        proportions=torch.from_numpy(counts).float() / divisor,
    )


def _partition(
    setting: SettingConfig,
    labels: np.ndarray,
    num_classes: int,
    generators: tuple[torch.Generator, random.Random],
    flip_draws: int,
    proportions: torch.Tensor | None = None,
) -> PartitionResult:
    torch_gen, py_random = generators
    if setting.partition in ("dir_balance", "file"):  # a file's test split: dir_balance with its proportions
        return dir_balance(
            labels,
            setting.num_clients,
            num_classes,
            setting.alpha,
            torch_generator=torch_gen,
            py_random=py_random,
            flip_draws=flip_draws,
            proportions=proportions,
        )
    return dir_balance_logo(
        labels,
        setting.num_clients,
        num_classes,
        setting.alpha,
        torch_generator=torch_gen,
        py_random=py_random,
        proportions=proportions,
    )


@dataclass(frozen=True)
class _Views:
    """Positions of a setting's subsets in the source splits, with their labels."""

    train: np.ndarray
    query: np.ndarray
    """What query time scores (another draw of the same long tail under the view mismatch, §1.3)."""
    test: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray


def _partition_labels(
    spec: DatasetSpec, setting: SettingConfig, train_labels: np.ndarray, test_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """One class per image (multi-label data: the rule's label, "no label" one more class), the class
    count, and for multi-label data each label's positive training images."""
    train_labels = np.asarray(train_labels, dtype=np.int64)
    test_labels = np.asarray(test_labels, dtype=np.int64)
    if not spec.multi_label:
        return train_labels, test_labels, spec.num_classes, None
    label_positives = train_labels.sum(axis=0)
    rule = setting.multilabel_partition or "rarest"
    return (
        multilabel_partition_labels(train_labels, label_positives, rule),
        multilabel_partition_labels(test_labels, label_positives, rule),
        spec.num_classes + 1,
        label_positives,
    )


def _views(
    spec: DatasetSpec,
    setting: SettingConfig,
    fidelity: FidelityConfig,
    labels: tuple[np.ndarray, np.ndarray, int],
    numpy_stream: np.random.RandomState,
) -> _Views:
    """The long-tailed training subset (and its query view), or the whole training split; the test subset."""
    train_labels, test_labels, num_classes = labels
    if spec.long_tailed:
        assert setting.rho is not None  # the configuration checks require it
        counts = longtail_counts(len(train_labels), num_classes, setting.rho, setting.lt_img_max)
        train_view = select_longtail(train_labels, counts, numpy_stream)
        query_view = (
            select_longtail(train_labels, counts, numpy_stream) if fidelity.lt_query_view_mismatch else train_view
        )
    else:
        train_view = query_view = np.arange(len(train_labels), dtype=np.int64)
    subset_labels = train_labels[train_view]
    if not np.array_equal(subset_labels, train_labels[query_view]):
        raise AssertionError("train and query views must agree on every position's label")
    test_view = balanced_test_subset(test_labels, setting.test_per_class)
    return _Views(train_view, query_view, test_view, subset_labels, test_labels[test_view])


def _client_partitions(
    setting: SettingConfig,
    fidelity: FidelityConfig,
    seed: int,
    views: _Views,
    num_classes: int,
    partition_file: list[list[int]] | None,
) -> tuple[PartitionResult, PartitionResult]:
    """The training subset's client partition (Dirichlet or a file) and the test subset's, drawn with the
    training partition's client × class proportions."""
    if setting.partition == "file":
        if partition_file is None:
            raise ValueError(f"setting {setting.id} is partitioned by a file: pass its client lists")
        train_part = file_partition(partition_file, views.train_labels, num_classes)
    else:
        # The official loop iterates over the augmented training view before the Dirichlet draw.
        flip_draws = len(views.train_labels) if fidelity.partition_seed == "fixed" else 0
        generators = _partition_generators(setting, fidelity, seed, "train")
        train_part = _partition(setting, views.train_labels, num_classes, generators, flip_draws)
    test_generators = _partition_generators(setting, fidelity, seed, "test")
    test_part = _partition(
        setting, views.test_labels, num_classes, test_generators, 0, proportions=train_part.proportions
    )
    return train_part, test_part


def _partition_table(views: _Views, train_part: PartitionResult, test_part: PartitionResult) -> pd.DataFrame:
    """One row per training and test position: source indices, label, client and rank in its list."""
    rows = []
    for split, part, view, qview, labels in (
        ("train", train_part, views.train, views.query, views.train_labels),
        ("test", test_part, views.test, views.test, views.test_labels),
    ):
        client_of = np.full(len(view), -1, dtype=np.int64)
        rank_of = np.full(len(view), -1, dtype=np.int64)
        for client, members in enumerate(part.clients):
            client_of[members] = client
            rank_of[members] = np.arange(len(members))
        frame = {
            "split": split,
            "position": np.arange(len(view)),
            "source_index": view,
            "query_source_index": qview,
            "label": labels,
            "client": client_of,
            "client_rank": rank_of,
        }
        rows.append(pd.DataFrame(frame))
    return pd.concat(rows, ignore_index=True)


def _initial_labelled(
    train_part: PartitionResult, budgets: ClientBudgets, numpy_stream: np.random.RandomState
) -> pd.DataFrame:
    initial = []
    for client, members in enumerate(train_part.clients):
        chosen = numpy_stream.choice(np.array(members, dtype=np.int64), budgets.initial[client], replace=False)
        initial.append(
            pd.DataFrame({"client": client, "position": chosen, "rank": np.arange(len(chosen)), "cycle_added": 1})
        )
    return pd.concat(initial, ignore_index=True)


def build_partition(
    setting: SettingConfig,
    protocol: ProtocolConfig,
    fidelity: FidelityConfig,
    seed: int,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    partition_file: list[list[int]] | None = None,
    *,
    spec: DatasetSpec,
) -> PartitionOutputs:
    """Compute the setting's subset, partition and initial labelled set from the source labels of
    ``spec``'s dataset (``partition_file``: the client lists of a ``partition: file`` setting, already
    checked)."""
    train_labels, test_labels, num_classes, label_positives = _partition_labels(
        spec, setting, train_labels, test_labels
    )
    numpy_stream = np.random.RandomState(seed)  # the official global NumPy RNG after np.random.seed(seed)
    views = _views(spec, setting, fidelity, (train_labels, test_labels, num_classes), numpy_stream)
    train_part, test_part = _client_partitions(setting, fidelity, seed, views, num_classes, partition_file)
    budgets = client_budgets(
        protocol.budget_rule,
        len(views.train_labels),
        [len(c) for c in train_part.clients],
        protocol.initial_ratio,
        protocol.query_ratio,
    )
    _check_initial_budget_fits(budgets, train_part, setting)
    partition = _partition_table(views, train_part, test_part)
    initial_labelled = _initial_labelled(train_part, budgets, numpy_stream)
    summary = {
        "setting": setting.id,
        "seed": seed,
        "num_train": int(len(views.train_labels)),
        "num_test": int(len(views.test_labels)),
        "class_counts": np.bincount(views.train_labels, minlength=num_classes).tolist(),
        **({} if label_positives is None else {"label_positives": label_positives.tolist()}),
        "client_sizes": [len(c) for c in train_part.clients],
        "client_class_counts": train_part.counts.tolist(),
        "client_test_sizes": [len(c) for c in test_part.clients],
        "unassigned_train": int((partition.query("split == 'train'")["client"] < 0).sum()),
        # only what this partition computes with: the later schedule is not its concern (fal.plan.params)
        "budget": {
            "rule": protocol.budget_rule,
            "initial_ratio": protocol.initial_ratio,
            "initial": list(budgets.initial),
        },
        "fidelity": fidelity.read_by("partition", cycle=1),
    }
    return PartitionOutputs(partition, initial_labelled, budgets, summary)


def _check_initial_budget_fits(budgets: ClientBudgets, part: PartitionResult, setting: SettingConfig) -> None:
    """The initial labelled sets fit the clients (the later cycles are checked when the configuration is
    read, SettingConfig.check_feasible; a query takes a pool smaller than its budget whole)."""
    for client, members in enumerate(part.clients):
        if len(members) < budgets.initial[client]:
            raise ValueError(
                f"setting {setting.id}: client {client} holds {len(members)} samples but its initial labelled set "
                f"is {budgets.initial[client]}; lower protocol.initial_ratio or use fewer clients"
            )
    if min(budgets.initial) < 1:
        raise ValueError(f"setting {setting.id}: an initial labelled set is empty (initial_ratio too small)")


def client_pools(partition: pd.DataFrame, num_clients: int) -> list[np.ndarray]:
    """Per client, its training positions in the official list order."""
    train = partition[partition["split"] == "train"]
    pools = []
    for client in range(num_clients):
        members = train[train["client"] == client].sort_values("client_rank")
        pools.append(members["position"].to_numpy(dtype=np.int64))
    return pools


def client_test_positions(partition: pd.DataFrame, num_clients: int) -> list[np.ndarray]:
    test = partition[partition["split"] == "test"]
    return [np.sort(test.loc[test["client"] == c, "position"].to_numpy(dtype=np.int64)) for c in range(num_clients)]


def labelled_lists(labelled: pd.DataFrame, num_clients: int) -> list[np.ndarray]:
    """Per client, labelled positions in rank order."""
    out = []
    for client in range(num_clients):
        rows = labelled[labelled["client"] == client].sort_values("rank")
        out.append(rows["position"].to_numpy(dtype=np.int64))
    return out


POOL_ORDERS = ("official", "ascending")


def unlabelled_pool(client_positions: np.ndarray, labelled: np.ndarray, order: str = "official") -> np.ndarray:
    """The client's unlabelled positions, in the order the query strategies see them (reference-spec §6.0).

    ``official``: the official loop's ``list(set(client list) - set(labelled list))``. Built the same way
    here, from the client's positions in the official list order (``client_pools``) as Python ints, so
    the result follows CPython's set iteration order (deterministic for ints, not sorted). Strategies map
    their picks through this pool and the picks are stored new-first, so this order becomes the
    labelled list's order from the second query on, and FairFAL's class-balanced resampling draws by
    list position. ``ascending``: the sorted set difference, a canonical order (fidelity ``corrected``).
    """
    if order == "ascending":
        return np.setdiff1d(np.asarray(client_positions, dtype=np.int64), np.asarray(labelled, dtype=np.int64))
    if order != "official":
        raise ValueError(f"pool order must be one of {list(POOL_ORDERS)}, got {order!r}")
    total = [int(i) for i in np.asarray(client_positions).tolist()]
    pool = list(set(total) - {int(i) for i in np.asarray(labelled).tolist()})
    return np.asarray(pool, dtype=np.int64)


def extend_labelled(
    previous: pd.DataFrame, new_positions: dict[int, np.ndarray], cycle: int, num_clients: int
) -> pd.DataFrame:
    """The next labelled set: per client, the newly queried positions first, then the old ones."""
    frames = []
    for client in range(num_clients):
        old = previous[previous["client"] == client].sort_values("rank")
        new = np.asarray(new_positions.get(client, np.empty(0, dtype=np.int64)), dtype=np.int64)
        overlap = np.intersect1d(new, old["position"].to_numpy())
        if overlap.size:
            raise ValueError(f"client {client}: query returned already-labelled positions {overlap[:5].tolist()}")
        if len(np.unique(new)) != len(new):
            raise ValueError(f"client {client}: query returned duplicate positions")
        positions = np.concatenate([new, old["position"].to_numpy(dtype=np.int64)])
        added = np.concatenate([np.full(len(new), cycle), old["cycle_added"].to_numpy()])
        frames.append(
            pd.DataFrame(
                {"client": client, "position": positions, "rank": np.arange(len(positions)), "cycle_added": added}
            )
        )
    return pd.concat(frames, ignore_index=True)
