"""The vectorised trainer equals the sequential oracle; FedProx and SCAFFOLD (reference-spec §4.2, §4.3)."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import make_algorithm

from fal.data.images import ImageBank
from fal.data.synthetic import synthetic_arrays
from fal.data.views import Compute, StageInputs
from fal.federated.algorithms.scaffold import ScaffoldState
from fal.federated.flconfig import FLConfig
from fal.federated.models import build_model
from fal.federated.sgd import NonFiniteLossError
from fal.federated.training import ClientData, FederatedCycle, RoundCheckpoint, TrainingHooks, train_sequential
from fal.federated.vectorised import _schedule, train_vectorised
from fal.plan.catalog import DATASETS, dataset_spec

SPEC = DATASETS["octmnist"]  # 1 channel, 28 px, 4 classes


class DoubleBank(ImageBank):
    """Float64 batches: with a float64 model, the trainers then agree to ~1e-13, not just float32 noise."""

    def batch(self, index, flip=None, offsets=None):
        return super().batch(index, flip, offsets).double()


def setup(sizes, bank_class=ImageBank):
    arrays = synthetic_arrays(num_classes=4, per_class=sum(sizes) // 4 + 10, test_per_class=10, seed=3)
    bank = bank_class(arrays.train_images, (0.3,), (0.35,), "cpu")
    test_bank = bank_class(arrays.test_images, (0.3,), (0.35,), "cpu")
    bounds = np.cumsum([0, *sizes])
    clients = [ClientData(np.arange(a, b), arrays.train_labels[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return arrays, bank, test_bank, clients


def fl(algorithm="fedavg", rounds=2, fraction=1.0, mu=0.01):
    return FLConfig(
        rounds=rounds,
        local_epochs=2,
        batch_size=8,
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-4,
        lr_decay=0.1,
        lr_decay_at=0.5,
        client_fraction=fraction,
        algorithm=algorithm,
        fedprox_mu=mu,
    )


def run(trainer, cfg, sizes, model_name="cnn4conv", checkpoint=None, double=True):
    arrays, bank, test_bank, clients = setup(sizes, DoubleBank if double else ImageBank)
    model = build_model(model_name, SPEC, 7)
    if double:
        model = model.double()
    return trainer(
        FederatedCycle(
            model,
            clients,
            bank,
            test_bank,
            arrays.test_labels,
            4,
            cfg,
            seed_keys=(4, "t"),
            algorithm=make_algorithm(cfg),
        ),
        TrainingHooks(checkpoint=checkpoint),
    )


def assert_close(a, b, atol=1e-10, rtol=0.0):
    assert a.state_dict.keys() == b.state_dict.keys()
    for key in a.state_dict:
        x, y = a.state_dict[key], b.state_dict[key]
        assert x.dtype == y.dtype, key
        if x.is_floating_point():
            assert torch.allclose(x, y, atol=atol, rtol=rtol), (key, (x - y).abs().max())
        else:
            assert torch.equal(x, y), key
    assert np.allclose(a.rounds["train_loss"], b.rounds["train_loss"], rtol=max(atol, rtol))
    assert np.allclose(a.rounds["test_loss"], b.rounds["test_loss"], rtol=max(atol, rtol))


@pytest.mark.parametrize("algorithm", ["fedavg", "fedprox", "scaffold", "fednova"])
@pytest.mark.parametrize("sizes", [(16, 16, 16), (24, 19, 10)], ids=["equal", "unequal"])
def test_vectorised_equals_sequential(algorithm, sizes):
    """Two rounds (SCAFFOLD's correction is zero in the first) from the same init and batch order."""
    cfg = fl(algorithm, mu=0.5)
    assert_close(run(train_vectorised, cfg, sizes), run(train_sequential, cfg, sizes))


def test_vectorised_matches_sequential_in_float32():
    """The production precision at the paper's lr: equal up to float32 noise grown over a few SGD steps."""
    cfg = dataclasses.replace(fl("fedprox", mu=0.5), lr=0.01)
    sizes = (24, 19, 10)
    a, b = (run(t, cfg, sizes, double=False) for t in (train_vectorised, train_sequential))
    assert_close(a, b, atol=3e-4, rtol=3e-3)
    assert a.rounds["test_acc"].tolist() == b.rounds["test_acc"].tolist()


def test_vectorised_equals_sequential_with_client_sampling_and_another_model():
    cfg = fl("scaffold", rounds=3, fraction=0.5)
    sizes = (12, 9, 16, 7)
    assert_close(run(train_vectorised, cfg, sizes), run(train_sequential, cfg, sizes))
    cfg = fl("fedavg", rounds=1)
    assert_close(
        run(train_vectorised, cfg, (10, 6), "kafal_resnet8"), run(train_sequential, cfg, (10, 6), "kafal_resnet8")
    )


def test_algorithms_change_training():
    """The oracle's FedProx and SCAFFOLD really act: both move away from FedAvg, FedProx towards the start."""
    sizes = (16, 16, 16)
    runs = {a: run(train_sequential, fl(a, mu=5.0), sizes) for a in ("fedavg", "fedprox", "scaffold")}
    start = build_model("cnn4conv", SPEC, 7).state_dict()
    weight = "linear.weight"

    def distance(name):
        return float((runs[name].state_dict[weight] - start[weight]).norm())

    assert distance("fedprox") < 0.9 * distance("fedavg")
    assert not torch.allclose(runs["scaffold"].state_dict[weight], runs["fedavg"].state_dict[weight], atol=1e-4)


def test_scaffold_update_by_hand():
    state = ScaffoldState.initial({"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}, num_clients=3)
    assert set(state.c) == {"w"}  # integer buffers carry no control variate
    assert torch.equal(state.corrections([0, 2])["w"], torch.zeros(2, 2))
    global_start = {"w": torch.tensor([1.0, 2.0])}
    local = {"w": torch.tensor([[0.0, 2.0], [1.0, 0.0]])}
    state.update([0, 2], global_start, local, torch.tensor([2, 4]), base_lr=0.5)
    # c_k = c_k − c + (w_g − w_k)/(steps·lr): client 0 → (1, 0)/1; client 2 → (0, 2)/2; c_k, c started at w0.
    assert torch.allclose(state.clients["w"][0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(state.clients["w"][2], torch.tensor([0.0, 1.0]))
    assert torch.equal(state.clients["w"][1], torch.tensor([1.0, 2.0]))  # not selected: unchanged
    # c += mean Δc_k = w0 + ((1,0) − w0 + (0,1) − w0)/2
    assert torch.allclose(state.c["w"], torch.tensor([0.5, 0.5]))
    assert torch.allclose(state.corrections([1])["w"], torch.tensor([[-0.5, -1.5]]))


def test_schedule_groups_clients_by_batch_size():
    schedule = _schedule([20, 8, 3], epochs=1, batch_size=8, device="cpu")
    assert len(schedule) == 3  # the largest client takes ceil(20/8) steps
    first = {len(g.rows): g.columns.shape[1] for g in schedule[0]}
    assert first == {2: 8, 1: 3}  # clients 0, 1 take 8 samples; client 2 its 3
    assert [g.rows.tolist() for g in schedule[2]] == [[0]] and schedule[2][0].columns.tolist() == [[16, 17, 18, 19]]
    assert schedule[1][0].columns.tolist() == [[8, 9, 10, 11, 12, 13, 14, 15]]
    second_epoch = _schedule([5], epochs=2, batch_size=8, device="cpu")
    assert second_epoch[1][0].columns.tolist() == [[5, 6, 7, 8, 9]] and second_epoch[1][0].all_rows


def test_scaffold_resume_equals_uninterrupted_across_trainers(tmp_path):
    """A checkpoint carries the control variates; either trainer resumes from the other's checkpoint."""
    cfg = fl("scaffold", rounds=3)
    sizes = (16, 11, 8)
    whole = run(train_sequential, cfg, sizes)
    path = tmp_path / "ckpt.pt"
    run(
        train_sequential, dataclasses.replace(cfg), sizes, checkpoint=RoundCheckpoint(path, 2, "x")
    )  # leaves round 2's file
    blob = torch.load(path, weights_only=True)
    assert blob["rounds_done"] == 2 and set(blob["extra"]["scaffold"]) == {"c", "clients"}
    resumed = run(train_vectorised, cfg, sizes, checkpoint=RoundCheckpoint(path, 2, "x"))
    assert resumed.rounds["round"].tolist() == [1, 2, 3]
    assert_close(resumed, whole)


def test_bf16_option_is_refused_on_cpu():
    """runtime.precision bf16 autocasts the vectorised forward on CUDA only (checked on a GPU, not here)."""
    from fal.federated.vectorised import VectorisedOptions

    with pytest.raises(ValueError, match="bf16.*CUDA"):
        run(
            lambda cycle, hooks: train_vectorised(cycle, hooks, options=VectorisedOptions(precision="bf16")),
            fl(rounds=1),
            (8, 8),
            double=False,
        )


def test_vectorised_nan_names_round_and_client():
    cfg = dataclasses.replace(fl(rounds=1), lr=1e30)
    with pytest.raises(NonFiniteLossError, match=r"round 1, client \d, epoch \d"):
        run(train_vectorised, cfg, (8, 8), double=False)


def test_training_stage_runs_either_trainer_with_every_algorithm():
    """The train rule's stage function: same rounds from both trainers, the algorithm and trainer logged."""
    import logging

    from fal.config.fidelity import FidelityConfig
    from fal.config.protocol import ProtocolConfig
    from fal.config.setting import SettingConfig
    from fal.data.build import build_partition
    from fal.federated.stage import TrainingAlgorithm, run_training_stage
    from fal.plan.catalog import ALGORITHMS

    arrays = synthetic_arrays(num_classes=4, per_class=60, test_per_class=10)
    setting = SettingConfig(dataset="octmnist", alpha=0.5, num_clients=3)
    fidelity = FidelityConfig()
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    log = logging.getLogger("test_vectorised_stage")
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    for algorithm in ("fedprox", "scaffold"):
        protocol = ProtocolConfig.from_dict(
            {
                "num_clients": 3,
                "rounds": 2,
                "local_epochs": 1,
                "initial_ratio": 0.1,
                "query_ratio": 0.1,
                "end_ratio": 0.2,
                "fl_algorithm": algorithm,
                "fedprox_mu": 0.1,
            }
        )
        part = build_partition(
            setting, protocol, fidelity, 1, arrays.train_labels, arrays.test_labels, spec=dataset_spec(setting.dataset)
        )
        out = {
            trainer: run_training_stage(
                StageInputs(
                    setting=setting,
                    protocol=protocol,
                    fidelity=fidelity,
                    seed=1,
                    cycle=1,
                    arrays=arrays,
                    partition=part.partition,
                    labelled=part.initial_labelled,
                    spec=dataset_spec(setting.dataset),
                ),
                Compute(device="cpu", log=log),
                algorithm=TrainingAlgorithm(algorithm, ALGORITHMS[algorithm].entry_point),
                trainer=trainer,
            )
            for trainer in ("sequential", "vectorised")
        }
        a, b = out["sequential"].result, out["vectorised"].result
        assert np.allclose(a.rounds["train_loss"], b.rounds["train_loss"], rtol=1e-4)
        assert any(f"of {algorithm}, vectorised trainer" in m for m in messages)
    with pytest.raises(ValueError, match="unknown trainer"):
        run_training_stage(
            StageInputs(
                setting=setting,
                protocol=protocol,
                fidelity=fidelity,
                seed=1,
                cycle=1,
                arrays=arrays,
                partition=part.partition,
                labelled=part.initial_labelled,
                spec=dataset_spec(setting.dataset),
            ),
            Compute(device="cpu", log=log),
            trainer="threads",
        )


def test_trainer_speed_benchmark_runs_small(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "speed.json"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks/trainer_speed.py"), "--small", "--device", "cpu", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "ratio sequential / vectorised" in done.stdout
    rows = json.loads(out.read_text())["results"]
    # --small: 3 clients share the 5 % budget of FMNIST-LT rho 20 (20,400 × 0.05 / 3 = 340 each)
    assert {r["trainer"] for r in rows} == {"sequential", "vectorised"} and all(r["per_client"] == 340 for r in rows)
    assert all(r["cycle_s"] > 0 and r["ratio_seq_over_vec_cycle"] > 0 for r in rows)
