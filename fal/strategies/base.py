"""What a query strategy receives and returns.

A method is a function ``query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome``: from the
models, each client's labelled and unlabelled pools, the per-client budget and explicit random
generators to one index set per client. Strategies see true labels of labelled samples only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.data.images import ImageBank
from fal.federated.local import ClientModels
from fal.seeding import numpy_rng


@dataclass
class ClientPool:
    client: int
    labelled: np.ndarray
    """Labelled positions, in labelled-set order."""
    labelled_labels: np.ndarray
    unlabelled: np.ndarray
    """Unlabelled positions of the client in the fidelity's ``pool_order`` (``fal.data.build.unlabelled_pool``):
    the official CPython set order by default, ascending when corrected. Picks are indices into this
    array, so its order becomes the stored labelled list's order, which FairFAL's resampling reads."""
    budget: int
    """How many samples this client labels at this step (``protocol.budget_rule``: FairFAL's equal
    budget, or KAFAL's share of the client's data); a pool smaller than it is taken whole."""


@dataclass
class ClientTestSplits:
    """Per-client test positions for diagnostic accuracies (§1.4 step 7); never used for selection."""

    bank: ImageBank
    labels: np.ndarray
    positions: list[np.ndarray]


@dataclass
class QueryStep:
    cycle: int
    """Cycle whose trained global model is queried; the outcome becomes cycle ``cycle + 1``'s labelled set."""
    num_classes: int
    pools: list[ClientPool]
    """Each client's pools and budget."""
    global_model: nn.Module
    local_models: ClientModels
    """The strategy's L models (§5): local-only, fine-tuned or last-round (``fal.federated.local``)."""
    query_bank: ImageBank
    seed_keys: tuple
    fidelity: FidelityConfig
    train_bank: ImageBank
    """Training view (with flips), for methods that train extra models at query time (IFAL's KD model)."""
    fresh_local_model: Callable[[], nn.Module]
    """A model holding this query step's shared random init (§5.1's ``raw_ckpt``)."""
    protocol: ProtocolConfig
    """The study's protocol (lr, momentum, batch size of models trained at query time)."""
    state: dict = field(default_factory=dict)
    """Strategy state carried over from the previous query step (JSON-serialisable)."""
    new_model: Callable[[int], nn.Module] | None = None
    """A model of the protocol's backbone from the given init seed, on the query device (QBC's committee)."""
    batch_size: int = 1000
    client_test: ClientTestSplits | None = None
    """Per-client test splits for diagnostics (FairFAL's client accuracies); None skips them."""
    multi_label: bool = False
    """Multi-label data (KAFAL Table 4): ``labelled_labels`` are multi-hot rows and the models' outputs
    are per-label sigmoids; only methods that declare ``multi_label`` run (the study checks)."""

    def client_rng(self, client: int) -> np.random.Generator:
        return numpy_rng(*self.seed_keys, "query", client)

    def query_model(self, kind: str | None, pool: ClientPool) -> nn.Module:
        if kind == "global":
            return self.global_model
        if kind == "local":
            return self.local_models.get(pool)
        raise ValueError(f"unknown query model {kind!r} (global or local)")


@dataclass
class QueryOutcome:
    selected: dict[int, np.ndarray]
    """Per client, the newly chosen positions (order = the method's selection order)."""
    diagnostics: list[dict] = field(default_factory=list)
    """Long-format rows: {"client", "class" (optional), "metric", "value"}."""
    state: dict = field(default_factory=dict)
