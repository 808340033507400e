"""A client partition read from a file, in KAFAL's format: a JSON list with one list of training-set
indices per client (KAFAL's ``alpha0-1_cifar10_10clients.json``; it has no licence, so it is not shipped:
point ``partition: {kind: file, path: ...}`` at your own copy).

The file is checked when the configuration is read, before any job runs: JSON, one list of whole
numbers per client, as many clients as the study's ``num_clients``, no empty client, every index inside
the source's training set, no index in two clients (or twice in one). What stands for it in the rules' params
is a digest of its content, not its path, so moving the file reruns nothing and editing it reruns the
partitions built from it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PARTITION_KINDS = ("dir_balance", "dir_balance_logo", "file")
"""``studies.X.partition``: FairFAL's Dirichlet partition, LoGo's, or a file."""


class PartitionFileError(ValueError):
    """A partition file is missing, unreadable or inconsistent; one line per fault."""


def partition_digest(clients: list[list[int]]) -> str:
    """SHA-256 of the lists' canonical JSON: what stands for the partition in params (formatting does not change it)."""
    canonical = json.dumps(clients, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def partition_file_problems(clients: object, num_train: int, num_clients: int) -> list[str]:
    """Every fault of a parsed partition file, one line each (empty when it is a valid partition of
    ``num_train`` training images over ``num_clients`` clients)."""
    if not isinstance(clients, list) or not all(isinstance(c, list) for c in clients):
        return ["must be a JSON list with one list of training-set indices per client"]
    problems = []
    if len(clients) != num_clients:
        problems.append(f"holds {len(clients)} clients, the study has num_clients {num_clients}")
    seen: dict[int, int] = {}
    for k, members in enumerate(clients):
        if not members:
            problems.append(f"client {k} is empty")
            continue
        bad = [i for i in members if not isinstance(i, int) or isinstance(i, bool)]
        if bad:
            problems.append(f"client {k} holds {len(bad)} entries that are not whole numbers, e.g. {bad[0]!r}")
            continue
        outside = [i for i in members if not 0 <= i < num_train]
        if outside:
            problems.append(
                f"client {k} holds {len(outside)} indices outside the training set 0..{num_train - 1}, e.g. {outside[0]}"
            )
        repeated = len(members) - len(set(members))
        if repeated:
            problems.append(f"client {k} lists {repeated} indices twice")
        shared = [(i, seen[i]) for i in set(members) if i in seen]
        if shared:
            i, other = min(shared)
            problems.append(f"clients {other} and {k} share {len(shared)} indices, e.g. {i}")
        for i in members:
            seen.setdefault(i, k)
    return problems


def read_partition_file(path: str | Path, num_train: int, num_clients: int) -> list[list[int]]:
    """The client lists of a partition file, or PartitionFileError naming the file and every fault."""
    path = Path(path)
    if not path.is_file():
        raise PartitionFileError(f"{path}: no such file (give the path to your copy of the partition file)")
    try:
        clients = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PartitionFileError(f"{path}: not valid JSON ({exc})") from None
    problems = partition_file_problems(clients, num_train, num_clients)
    if problems:
        raise PartitionFileError(f"{path}: " + f"\n{path}: ".join(problems))
    return clients
