"""What a query strategy receives and returns.

A method is a function ``query(step: QueryStep, strategy: StrategyConfig) -> QueryOutcome``: from the
models, each client's labelled and unlabelled pools, the per-client budget and explicit random
generators to one index set per client. Strategies see true labels of labelled samples only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from fal.config import FidelityConfig, ProtocolConfig
from fal.data.images import ImageBank
from fal.federated.local import LocalTrainingConfig, LocalTrainingInfo, train_local_only
from fal.seeding import numpy_rng, torch_generator


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


class LocalModels:
    """Each client's local-only model (§5.1) for one query step, trained on first use and cached.

    All clients start from one shared random init; each client's training draws from its own
    generator, so a model does not depend on which client asked first.
    """

    def __init__(
        self,
        build: Callable[[], nn.Module],
        init_state: dict[str, torch.Tensor],
        train_bank: ImageBank,
        cfg: LocalTrainingConfig,
        seed_keys: tuple,
        log: Callable[[str], None] | None = None,
    ):
        self._build = build
        self._init_state = init_state
        self._bank = train_bank
        self._cfg = cfg
        self._seed_keys = seed_keys
        self._log = log
        self._models: dict[int, nn.Module] = {}
        self.info: dict[int, LocalTrainingInfo] = {}

    def get(self, pool: ClientPool) -> nn.Module:
        if pool.client not in self._models:
            model = self._build()
            model.load_state_dict(self._init_state)
            info = train_local_only(
                model,
                pool.labelled,
                pool.labelled_labels,
                self._bank,
                self._cfg,
                torch_generator(*self._seed_keys, "local_train", pool.client),
                where=f"local-only model of client {pool.client}",
            )
            self._models[pool.client] = model
            self.info[pool.client] = info
            if self._log:
                self._log(
                    f"client {pool.client}: local-only model trained {info.epochs} epochs ({info.steps} steps), "
                    f"train accuracy {100 * info.train_accuracy:.1f}%"
                )
        return self._models[pool.client]

    def finetuned_from(self, model: nn.Module) -> LocalModels:
        """Local models that start from a copy of ``model`` (the fine-tuned local model of §5.2,
        LoGo's ``ft_*`` baselines) instead of the shared random init; same data, schedule and generators."""
        start = {key: value.detach().clone() for key, value in model.state_dict().items()}
        return LocalModels(self._build, start, self._bank, self._cfg, self._seed_keys, self._log)


class LastRoundClientModels:
    """Each client's model after its local training in the last FL round of the cycle (§5.3, the IFAL
    repo's L model; KAFAL's client model, §5.5), read from the training stage's ``client_models.pt``.

    Same interface as ``LocalModels``; nothing is trained at query time.
    """

    def __init__(self, build: Callable[[], nn.Module], client_states: dict[int, dict[str, torch.Tensor]]):
        self._build = build
        self._states = {int(k): v for k, v in client_states.items()}
        self._models: dict[int, nn.Module] = {}
        self.info: dict[int, LocalTrainingInfo] = {}

    def get(self, pool: ClientPool) -> nn.Module:
        if pool.client not in self._models:
            if pool.client not in self._states:
                raise KeyError(
                    f"client {pool.client} has no last-round model (it did not train in the cycle's last round; "
                    f"with protocol.client_fraction < 1 use local_model: scratch or finetune)"
                )
            model = self._build()
            model.load_state_dict(self._states[pool.client])
            model.eval()
            self._models[pool.client] = model
        return self._models[pool.client]


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
    budget: int
    pools: list[ClientPool]
    global_model: nn.Module
    local_models: LocalModels
    query_bank: ImageBank
    seed_keys: tuple
    fidelity: FidelityConfig
    state: dict = field(default_factory=dict)
    """Strategy state carried over from the previous query step (JSON-serialisable)."""
    batch_size: int = 1000
    client_test: ClientTestSplits | None = None
    train_bank: ImageBank | None = None
    """Training view (with flips), for methods that train extra models at query time (IFAL's KD model)."""
    fresh_local_model: Callable[[], nn.Module] | None = None
    """A model holding this query step's shared random init (§5.1's ``raw_ckpt``)."""
    protocol: ProtocolConfig | None = None
    """The study's protocol (lr, momentum, batch size of models trained at query time)."""

    def client_rng(self, client: int) -> np.random.Generator:
        return numpy_rng(*self.seed_keys, "query", client)

    def query_model(self, kind: str, pool: ClientPool) -> nn.Module:
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
