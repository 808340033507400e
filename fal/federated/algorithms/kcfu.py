"""KAFAL's Knowledge-Compensatory Federated Update, KCFU (reference-spec §7.1-§7.2; KAFAL paper §3.3).

A client's local loss has two parts:

- the **balanced softmax** cross-entropy on labelled data: logits + log n_{k,c} (the client's
  labelled class counts; absent classes get −∞), then plain cross-entropy (paper Eq. 4);
- the **compensation** term on mixed unlabelled data, distilling the global model (the model at the
  start of the round, no gradient) into the client: x̃ = βx₁ + (1−β)x₂ with β ~ Beta(2, 2) per sample,
  weighted by Γ, which favours the classes the client rarely holds (paper Eq. 5).

Where the official code differs from the paper ([P≠C] in §7.2), both exist as options; the defaults
(declared once, in ``ALGORITHM`` below) are the code's:

| option | code (default) | paper |
|---|---|---|
| ``mix_partner`` | ``batch``: one partner index j for the whole batch | ``sample``: a random partner per sample |
| ``gamma_weights`` | ``normalised``: w_c = N/(n_c + 1e−6) on present classes, scaled to sum 1 | ``ratio``: w_c = N/n_c |
| ``gamma_labels`` | ``mixed``: ŷ = teacher argmax on the *mixed* inputs x̃_i and x̃_j | ``unmixed``: on x₁' and x₂' |
| ``kl_reduction`` | ``class_mean``: mean over classes of p_t(log p_t − log p_s), i.e. KL/C | ``sum``: KL |
| ``combination`` | ``sum``: client + compensation (= 2 × the ν = 0.5 mix) | ``convex``: ν·client + (1−ν)·compensation |

The paper's ablations (its §4.3.1, Table 1) are options too: ``compensation: false`` (the
balanced-softmax loss alone, "Baseline"), ``mix_unlabelled: false`` (distillation on the unlabelled
images unmixed, β = 1, "KCFU w/o mix") and ``gamma_weights: uniform`` (Γ = 1/C); so is its Fig. 4(f),
``balanced_loss: false`` (plain cross-entropy on the labelled data: every n in Eq. 4 replaced by 1; Γ
still uses the counts).

**Multi-label data** (KAFAL's Table 4; neither the paper nor the official code, which has no multi-label
path, says how): each label is the two-outcome problem it is. The balanced loss adds log(n⁺_c/n⁻_c) to
label c's sigmoid logit (the balanced softmax over a label's two outcomes, n⁺/n⁻ the client's labelled
images with and without it) and takes BCE, averaged over the labels the client has both outcomes of
(a label with one outcome only gets an infinite shift and no gradient, as an absent class in Eq. 4).
The distillation term is the Bernoulli KL per label, reduced over labels as ``kl_reduction`` says. Γ
(``multilabel_gamma``): ``pseudo_labels`` (default) weighs each sample, as Eq. 5 does, by the mean Γ
weight of the labels the teacher predicts positive (p > 0.5; none: the mean weight), mixed by β as the
single-label pseudo-labels are; ``per_label`` weighs each label's KL term by its own Γ weight (times L, so
that uniform weights are 1). The weights are ``gamma_weights`` of the positive counts n⁺.

Both switch the compensation off in the first communication round of a cycle (paper Alg. 1, "if t
equals 1"; code: round 0). As the official code does, round 0 still runs the mixed-batch forward and
multiplies the term by 0 (the student's BatchNorm statistics move on it), and the unlabelled batches
follow its loader (``UnlabelledBatches``). Classes a client does not hold get Γ weight 0 in both variants (the paper's
N/n is undefined there; the code masks them). Two behaviours of the official code are fidelity switches
(``fal.config.FidelityConfig``): the teacher's BatchNorm mode (``kcfu_teacher_bn``: batch statistics,
as the official server model is never put in eval mode while it trains) and the pool distilled on
(``kcfu_distillation_pool``: the client's initial unlabelled pool, the official bookkeeping bug, or the
current one). Local optimisation is the protocol's: a fresh SGD per client and round under FairFAL's
schedule, or KAFAL's own (persistent optimisers, MultiStepLR at 260 epochs) under ``schedule: kafal``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fal.config.algorithms import AlgorithmInfo, Option
from fal.data.build import labelled_lists
from fal.data.images import ImageBank
from fal.federated.algorithms.fedavg import FedAvg
from fal.federated.flconfig import CycleSetup, FLConfig
from fal.federated.sgd import LabelledSet, LossFunction, bernoulli_kl_terms, mean_epoch_loss, sgd_optimizer
from fal.seeding import numpy_rng

ALGORITHM = AlgorithmInfo(
    "kcfu",
    entry="KCFU",
    summary="KAFAL's KCFU client update (§7.1-§7.2)",
    chosen_by="strategy",
    reads=("fidelity.kcfu_teacher_bn", "fidelity.kcfu_distillation_pool"),
    options=(
        Option("nu", 0.5, "the paper's trade-off ν (only combination convex reads it)", minimum=0, maximum=1),
        Option(
            "combination",
            "sum",
            "sum: client + compensation (code) | convex: ν·client + (1-ν)·compensation (paper)",
            choices=("sum", "convex"),
        ),
        Option(
            "mix_partner",
            "batch",
            "batch: one partner index per batch (code) | sample: one per sample (paper)",
            choices=("batch", "sample"),
        ),
        Option(
            "gamma_weights",
            "normalised",
            "normalised: N/n_c over present classes, summed to 1 (code) | ratio: N/n_c (paper) | uniform: 1/C "
            "(KAFAL §4.3.1's ablation)",
            choices=("normalised", "ratio", "uniform"),
        ),
        Option(
            "gamma_labels",
            "mixed",
            "mixed: teacher argmax on mixed inputs (code) | unmixed: on x1', x2' (paper)",
            choices=("mixed", "unmixed"),
        ),
        Option(
            "kl_reduction", "class_mean", "class_mean: KL/C (code) | sum: KL (paper)", choices=("class_mean", "sum")
        ),
        Option("beta", 2.0, "mixing weight β ~ Beta(beta, beta)", above=0),
        Option(
            "all_clients_last_round",
            True,
            "every client trains in the last round (code), whatever client_fraction",
            choices=(True, False),
        ),
        Option(
            "train_cycle1",
            True,
            "cycle 1 trained with KCFU too (code and paper); false = the shared FedAvg cycle 1",
            choices=(True, False),
        ),
        Option(
            "compensation",
            True,
            "false: the balanced-softmax client loss alone (KAFAL Table 1's Baseline)",
            choices=(True, False),
        ),
        Option(
            "mix_unlabelled",
            True,
            "false: distil on the unlabelled images unmixed, β = 1 (Table 1's KCFU w/o mix)",
            choices=(True, False),
        ),
        Option(
            "balanced_loss",
            True,
            "false: plain cross-entropy on labelled data, n replaced by 1 in Eq. 4 (KAFAL Fig. 4(f))",
            choices=(True, False),
        ),
        Option(
            "multilabel_gamma",
            "pseudo_labels",
            "multi-label data: Γ per sample from the teacher's positive labels (pseudo_labels, as Eq. 5 per "
            "pseudo-label) | per label on each label's KL term (per_label)",
            choices=("pseudo_labels", "per_label"),
            multi_label_only=True,
        ),
    ),
)


class KCFUConfig:
    """KCFU's options, every one resolved from ``ALGORITHM``'s declaration (the only place they are
    declared): ``KCFUConfig(compensation=False)``, then ``cfg.compensation``."""

    def __init__(self, **given: Any) -> None:
        problems = ALGORITHM.option_problems(given)
        if problems:
            raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
        self._values = ALGORITHM.resolved_options(given, multi_label=True)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"KCFU has no option {name!r}") from None

    def __repr__(self) -> str:
        return f"KCFUConfig({self._values})"

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> KCFUConfig:
        """From a job's resolved options (other keys, such as ``algorithm``, are not options)."""
        return cls(**{k: v for k, v in mapping.items() if k in ALGORITHM.defaults})


def log_prior(counts: torch.Tensor) -> torch.Tensor:
    """log n_c, with −∞ for classes the client does not hold."""
    counts = counts.to(torch.float32)
    return torch.where(counts > 0, counts.clamp_min(1e-12).log(), torch.full_like(counts, float("-inf")))


def balanced_softmax_loss(logits: torch.Tensor, targets: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean of −log(n_y e^{z_y} / Σ_c n_c e^{z_c}) over the batch (paper Eq. 4)."""
    return F.cross_entropy(logits + log_prior(counts).to(logits.device), targets)


def balanced_softmax_per_sample(logits: torch.Tensor, targets: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The per-sample terms of ``balanced_softmax_loss`` (LL4AL's targets under KCFU)."""
    return F.cross_entropy(logits + log_prior(counts).to(logits.device), targets, reduction="none")


def balanced_bce_loss(logits: torch.Tensor, targets: torch.Tensor, positives: torch.Tensor, total: int) -> torch.Tensor:
    """Multi-label Eq. 4: BCE on logits + log(n⁺/n⁻) per label, averaged over the batch and the labels
    the client has both outcomes of (module docstring)."""
    positives = positives.to(torch.float32).to(logits.device)
    negatives = float(total) - positives
    both = (positives > 0) & (negatives > 0)
    if not bool(both.any()):
        return logits.sum() * 0.0  # nothing to learn from; keeps the graph
    shift = (positives[both].log() - negatives[both].log()).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits[:, both] + shift, targets[:, both].to(logits.dtype))


def gamma_class_weights(counts: torch.Tensor, mode: str) -> torch.Tensor:
    """Γ per pseudo-label class: N/n_c ("ratio", paper) or N/(n_c + 1e−6) scaled to sum 1 over the
    present classes ("normalised", code), 0 for classes with n_c = 0; or 1/C for every class ("uniform")."""
    counts = counts.to(torch.float64)
    present = counts > 0
    total = counts.sum()
    if mode == "ratio":
        w = torch.where(present, total / counts.clamp_min(1.0), torch.zeros_like(counts))
    elif mode == "normalised":
        w = torch.where(present, total / (counts + 1e-6), torch.zeros_like(counts))
        w = w / w.sum()
    elif mode == "uniform":  # KAFAL §4.3.1's ablation: Γ fixed to 1/C, every class alike
        w = torch.full_like(counts, 1.0 / len(counts))
    else:
        raise ValueError(f"unknown gamma_weights {mode!r} (normalised, ratio or uniform)")
    return w.to(torch.float32)


def kl_terms(teacher_logits: torch.Tensor, student_logits: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-sample KL(σ(teacher) ‖ σ(student)), summed over classes ("sum") or averaged ("class_mean")."""
    log_pt = F.log_softmax(teacher_logits, dim=1)
    log_ps = F.log_softmax(student_logits, dim=1)
    terms = log_pt.exp() * (log_pt - log_ps)
    if reduction == "sum":
        return terms.sum(dim=1)
    if reduction == "class_mean":
        return terms.mean(dim=1)
    raise ValueError(f"unknown kl_reduction {reduction!r} (class_mean or sum)")


def mix_partners(batch: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Index of each sample's mixing partner: one index for the whole batch (code) or one per sample."""
    if mode == "batch":
        return np.full(batch, int(rng.integers(batch)), dtype=np.int64)
    if mode == "sample":
        return rng.integers(batch, size=batch).astype(np.int64)
    raise ValueError(f"unknown mix_partner {mode!r} (batch or sample)")


def compensation_loss(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    beta: torch.Tensor,
    partner: torch.Tensor,
    counts: torch.Tensor,
    cfg: KCFUConfig,
) -> torch.Tensor:
    """Γ-weighted distillation of ``teacher`` into ``student`` on the mixed batch (paper Eq. 5).

    x̃_i = β_i x_i + (1 − β_i) x_{partner_i}; Γ̃_i = β_i w[ŷ_a] + (1 − β_i) w[ŷ_b] with ŷ_a, ŷ_b the
    teacher's argmax on x̃_i, x̃_{partner_i} (``mixed``) or on x_i, x_{partner_i} (``unmixed``).
    """
    b = beta.view(-1, 1, 1, 1).to(x.dtype)
    mixed = b * x + (1 - b) * x[partner]
    with torch.no_grad():
        teacher_logits, _ = teacher(mixed)
        if cfg.gamma_labels == "mixed":
            labels = teacher_logits.argmax(dim=1)
        elif cfg.gamma_labels == "unmixed":
            labels = teacher(x)[0].argmax(dim=1)
        else:
            raise ValueError(f"unknown gamma_labels {cfg.gamma_labels!r} (mixed or unmixed)")
        w = gamma_class_weights(counts, cfg.gamma_weights).to(x.device)
        weight = beta.to(x.device) * w[labels] + (1 - beta.to(x.device)) * w[labels[partner]]
    student_logits, _ = student(mixed)
    return (weight * kl_terms(teacher_logits, student_logits, cfg.kl_reduction)).mean()


def multilabel_compensation_loss(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    beta: torch.Tensor,
    partner: torch.Tensor,
    positives: torch.Tensor,
    cfg: KCFUConfig,
) -> torch.Tensor:
    """Eq. 5 for sigmoid outputs (module docstring): Γ-weighted per-label Bernoulli KL on the mixed batch."""
    b = beta.view(-1, 1, 1, 1).to(x.dtype)
    mixed = b * x + (1 - b) * x[partner]
    with torch.no_grad():
        teacher_logits, _ = teacher(mixed)
        w = gamma_class_weights(positives, cfg.gamma_weights).to(x.device)
        if cfg.multilabel_gamma == "pseudo_labels":
            if cfg.gamma_labels == "mixed":
                predicted = teacher_logits > 0
            elif cfg.gamma_labels == "unmixed":
                predicted = teacher(x)[0] > 0
            else:
                raise ValueError(f"unknown gamma_labels {cfg.gamma_labels!r} (mixed or unmixed)")
            hits = predicted.to(w.dtype)
            count = hits.sum(dim=1)
            per_sample = torch.where(count > 0, (hits * w).sum(dim=1) / count.clamp_min(1.0), w.mean().expand_as(count))
            beta_d = beta.to(x.device)
            sample_weight = beta_d * per_sample + (1 - beta_d) * per_sample[partner]
            label_weight = torch.ones_like(w)
        elif cfg.multilabel_gamma == "per_label":
            sample_weight = torch.ones(len(x), device=x.device)
            label_weight = w * len(w)
        else:
            raise ValueError(f"unknown multilabel_gamma {cfg.multilabel_gamma!r} (pseudo_labels or per_label)")
    student_logits, _ = student(mixed)
    terms = bernoulli_kl_terms(teacher_logits, student_logits) * label_weight
    if cfg.kl_reduction == "sum":
        per_sample_kl = terms.sum(dim=1)
    elif cfg.kl_reduction == "class_mean":
        per_sample_kl = terms.mean(dim=1)
    else:
        raise ValueError(f"unknown kl_reduction {cfg.kl_reduction!r} (class_mean or sum)")
    return (sample_weight * per_sample_kl).mean()


class UnlabelledBatches:
    """A client's unlabelled batches as KAFAL's code draws them (a shuffled DataLoader read endlessly,
    restarted at every local epoch): each epoch starts a fresh permutation; a pass hands out its short last
    batch, and the next batch starts a new pass."""

    def __init__(self, positions: np.ndarray, rng: np.random.Generator, batch_size: int) -> None:
        self.positions = np.asarray(positions, dtype=np.int64)
        self.rng = rng
        self.batch_size = batch_size
        self.order = np.zeros(0, dtype=np.int64)
        self.at = 0

    def new_pass(self) -> None:
        self.order = self.rng.permutation(len(self.positions))
        self.at = 0

    def next(self) -> np.ndarray:
        if self.at >= len(self.order):
            self.new_pass()
        batch = self.positions[self.order[self.at : self.at + self.batch_size]]
        self.at += self.batch_size
        return batch


def unlabelled_draw(
    u: np.ndarray, rng: np.random.Generator, bank: ImageBank, cfg: KCFUConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One unlabelled batch's augmented images, mixing weights β and partners, drawn in the official order
    (flips, crops, β, partner) from the client's mixing stream."""
    flips = torch.from_numpy(rng.random(len(u)) < 0.5)
    crops = (
        torch.from_numpy(rng.integers(0, 2 * bank.crop_padding + 1, size=(len(u), 2))) if bank.crop_padding else None
    )
    images = bank.batch(torch.from_numpy(u), flips, crops)
    if cfg.mix_unlabelled:
        beta = torch.from_numpy(rng.beta(cfg.beta, cfg.beta, size=len(u)).astype(np.float32))
    else:  # β = 1: each image distilled as it is, Γ from its own pseudo-label
        beta = torch.ones(len(u))
    partner = torch.from_numpy(mix_partners(len(u), cfg.mix_partner, rng)).to(bank.device)
    return images, beta, partner


def kcfu_client_update(
    model: nn.Module,
    teacher: nn.Module,
    client: Any,
    unlabelled: np.ndarray,
    counts: torch.Tensor,
    bank: ImageBank,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    round_index: int,
    cfg: KCFUConfig,
    generator: torch.Generator,
    where: str,
    optimizer: torch.optim.Optimizer | None = None,
    before_epoch: Callable[[int], None] | None = None,
    labelled_loss: LossFunction | None = None,
    teacher_bn: str,
    multi_label: bool = False,
) -> float:
    """Train ``model`` in place with KCFU on one client; return the mean of per-epoch mean losses.
    ``optimizer``/``before_epoch``: a persistent client schedule (FedAvg.local_optimizer);
    ``labelled_loss``: replaces the balanced-softmax batch loss (LL4AL's joint loss over it);
    ``teacher_bn``: the teacher's BatchNorm mode ("train": batch statistics, as the official code; the
    teacher's running statistics then move, so pass a copy of the global model); ``multi_label``:
    ``counts`` are the client's positives per label and the losses are their sigmoid forms."""
    if teacher_bn not in ("train", "eval"):
        raise ValueError(f"teacher_bn must be 'train' or 'eval', got {teacher_bn!r}")
    teacher.train(teacher_bn == "train")
    optimizer = optimizer or sgd_optimizer(model, lr, momentum, weight_decay)
    data = LabelledSet.of(client.positions, client.labels, bank)
    counts = counts.to(bank.device)
    loss_counts = counts if cfg.balanced_loss else torch.ones_like(counts)  # Eq. 4 with every n = 1: plain CE
    # Mixing draws (unlabelled order, β, partners) from a NumPy stream seeded off the client's generator.
    rng = numpy_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
    # The official student runs its forward pass on the mixed batch in round 0 too (its BatchNorm running
    # statistics move) and multiplies the distillation term by int(comm > 0): the term counts from round 1.
    batches = UnlabelledBatches(unlabelled, rng, batch_size) if cfg.compensation and len(unlabelled) else None
    counted = float(round_index > 0)

    def start_epoch(epoch: int) -> None:
        if batches is not None:
            batches.new_pass()  # the official loader restarts at every local epoch
        if before_epoch is not None:
            before_epoch(epoch)

    def loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if labelled_loss is None and multi_label:
            logits, _ = net(x)
            if cfg.balanced_loss:
                value = balanced_bce_loss(logits, y, counts, len(data))
            else:
                value = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
        elif labelled_loss is None:
            logits, _ = net(x)
            value = balanced_softmax_loss(logits, y, loss_counts)
        else:
            value = labelled_loss(net, x, y)
        if batches is not None:  # compensate
            xu, beta, partner = unlabelled_draw(batches.next(), rng, bank, cfg)
            compensate_with = multilabel_compensation_loss if multi_label else compensation_loss
            compen = counted * compensate_with(net, teacher, xu, beta, partner, counts, cfg)
            if not counted:
                value = value + compen  # exactly 0: round 0 trains on the client loss alone
            elif cfg.combination == "sum":
                value = value + compen
            else:
                value = cfg.nu * value + (1 - cfg.nu) * compen
        return value

    return mean_epoch_loss(model, optimizer, data, epochs, batch_size, generator, loss, where, before_epoch=start_epoch)


@dataclass(frozen=True)
class KCFUContext:
    """What KCFU needs besides the protocol: every client's labelled and unlabelled pools, and the images."""

    clients: list
    unlabelled: list[np.ndarray]
    num_classes: int
    bank: ImageBank
    options: Mapping[str, Any]
    """KCFU's resolved options (``ALGORITHM``)."""
    teacher_bn: str = "train"
    """``fidelity.kcfu_teacher_bn``: the teacher's BatchNorm uses each batch's statistics ("train",
    official) or its running statistics ("eval")."""
    multi_label: bool = False
    """Multi-hot labels (the clients' ``labels`` are rows): the losses' multi-label forms."""


def kcfu_distillation_pools(
    pools: list[np.ndarray], labelled: pd.DataFrame, num_clients: int, mode: str
) -> list[np.ndarray]:
    """Each client's pool KCFU distils on, ascending (KAFAL's own loop): its pool less its current
    labelled set ("current"), or less its cycle-1 labelled set ("initial": the official code distils on
    the pool it started the trial with, samples labelled since then included; §7.2)."""
    if mode == "initial":
        labelled = labelled[labelled["cycle_added"] == 1]
    elif mode != "current":
        raise ValueError(f"unknown distillation pool {mode!r} (initial or current)")
    return [np.setdiff1d(pool, known) for pool, known in zip(pools, labelled_lists(labelled, num_clients))]


class KCFU(FedAvg):
    """KCFU client updates on FedAvg aggregation (chosen by a strategy's ``federated.algorithm: kcfu``)."""

    vectorisable = False

    @classmethod
    def for_cycle(cls, cfg: FLConfig, setup: CycleSetup) -> KCFU:
        """KAFAL's compensation term samples each client's unlabelled pool (ascending: KAFAL's own loop):
        the pool at the start of the trial (faithful) or the current one (``kcfu_distillation_pool``)."""
        fidelity = setup.fidelity
        unlabelled = kcfu_distillation_pools(
            setup.data.pools, setup.labelled, len(setup.clients), fidelity.kcfu_distillation_pool
        )
        context = KCFUContext(
            setup.clients,
            unlabelled,
            setup.num_classes,
            setup.data.train_bank,
            setup.options,
            teacher_bn=fidelity.kcfu_teacher_bn,
            multi_label=setup.multi_label,
        )
        setup.log.info("local updates use KAFAL's KCFU %s", dict(setup.options))
        return cls(cfg, context)

    def __init__(self, cfg: FLConfig, context: KCFUContext) -> None:
        super().__init__(cfg, context)
        self.options = KCFUConfig.from_dict(context.options)
        self.all_clients_last_round = self.options.all_clients_last_round
        self.counts = [  # labelled images per class; multi-label: with each label
            torch.as_tensor(np.asarray(c.labels).reshape(-1, context.num_classes).sum(axis=0), dtype=torch.long)
            if context.multi_label
            else torch.bincount(torch.as_tensor(np.asarray(c.labels), dtype=torch.long), minlength=context.num_classes)
            for c in context.clients
        ]

    def client_update(
        self,
        model: nn.Module,
        k: int,
        client: Any,
        bank: ImageBank,
        *,
        round_index: int,
        lr: float,
        global_model: nn.Module,
        generator: torch.Generator,
        where: str,
        correction: dict[str, torch.Tensor] | None = None,
    ) -> float:
        self.start_client(model, k)
        optimizer, before_epoch = self.local_optimizer(model, k, lr)
        # In train mode the teacher's BN running statistics move with every forward: a copy keeps the
        # global model (and so the next client's start) as broadcast, as the official clients are loaded
        # before any of them trains.
        teacher = copy.deepcopy(global_model) if self.context.teacher_bn == "train" else global_model
        loss = kcfu_client_update(
            model,
            teacher,
            client,
            self.context.unlabelled[k],
            self.counts[k],
            bank,
            epochs=self.cfg.local_epochs,
            batch_size=self.cfg.batch_size,
            lr=lr,
            momentum=self.cfg.momentum,
            weight_decay=self.cfg.weight_decay,
            round_index=round_index,
            cfg=self.options,
            generator=generator,
            where=where,
            optimizer=optimizer,
            before_epoch=before_epoch,
            labelled_loss=self.labelled_loss(
                round_index,
                partial(
                    balanced_softmax_per_sample,
                    counts=self.counts[k] if self.options.balanced_loss else torch.ones_like(self.counts[k]),
                ),
            ),
            teacher_bn=self.context.teacher_bn,
            multi_label=self.context.multi_label,
        )
        self.finish_client(k, optimizer, model)
        return loss
