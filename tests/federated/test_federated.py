"""Models, FedAvg (reference-spec §3.1, §4.1) and local-only models (§5.1)."""

import numpy as np
import pytest
import torch

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import ProtocolConfig
from fal.data.images import ImageBank
from fal.data.synthetic import synthetic_arrays
from fal.federated.algorithms.fedavg import train_client
from fal.federated.algorithms.fedavg import weighted_average as average_states
from fal.federated.flconfig import FLConfig, round_lr
from fal.federated.local import LocalTrainingConfig, train_local_only
from fal.federated.models import build_model, count_parameters
from fal.federated.sgd import NonFiniteLossError
from fal.federated.training import ClientData, FederatedCycle, evaluate, train_sequential
from fal.plan.catalog import DATASETS
from fal.seeding import torch_generator

SPEC = DATASETS["fmnist_lt"]


@pytest.mark.parametrize(
    "key, params, emb",
    [
        ("fmnist_lt", 112586, 64),
        ("cifar10_lt", 115658, 256),
        ("cifar100_lt", 138788, 256),
        ("octmnist", 112196, 64),
        ("dermamnist", 113543, 64),
    ],
)
def test_cnn4conv_matches_spec(key, params, emb):
    model = build_model("cnn4conv", DATASETS[key], 0)
    assert count_parameters(model) == params
    assert model.embedding_dim == emb
    assert torch.all(model.linear.bias == 0)


def multiply_accumulates(model, spec) -> int:
    """MACs of the convolutions and linear layers for one image (the spec's §10 convention)."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.numel() * k
        else:
            total += module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, spec.channels, spec.image_size, spec.image_size))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize(
    "name, params, macs, emb",
    [
        ("mobilenet", 3.22e6, 46.4e6, 1024),
        ("resnet18", 11.17e6, 555e6, 512),
        # the spec's ≈ 12.2M MACs plus its two 1×1 stride-2 shortcut convs (16→32 at 16², 32→64 at 8²)
        ("kafal_resnet8", 77_946, 12.2e6 + 2 * 131_072, 64),
    ],
)
def test_table9_and_kafal_models_match_spec(name, params, macs, emb):
    """§3.2–§3.4 on CIFAR-10 (32 px): parameter counts and MACs as the spec rounds them; (logits, features)."""
    spec = DATASETS["cifar10_lt"]
    model = build_model(name, spec, 0)
    if name == "kafal_resnet8":
        assert count_parameters(model) == params  # exact, the 1×1 shortcut convs included
    else:
        assert abs(count_parameters(model) - params) < 0.005e6
    measured = multiply_accumulates(model, spec)
    assert abs(measured - macs) / macs < 0.01, measured
    logits, features = model(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 10) and features.shape == (2, emb) == (2, model.embedding_dim)
    assert model.linear.out_features == 10
    if name != "kafal_resnet8":
        assert torch.all(model.linear.bias == 0)
    fmnist = build_model(name, DATASETS["fmnist_lt"], 0)  # 28 px, 1 channel also works
    assert fmnist(torch.zeros(2, 1, 28, 28))[1].shape == (2, emb)


def test_resnet18_starts_with_zero_residual_branches():
    model = build_model("resnet18", DATASETS["cifar10_lt"], 0)
    blocks = [m for m in model.modules() if type(m).__name__ == "_BasicBlock"]
    assert len(blocks) == 8 and all(torch.all(b.bn2.weight == 0) for b in blocks)


def test_model_init_depends_only_on_seed_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = (build_model("cnn4conv", SPEC, s) for s in (5, 5, 6))
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.features[0][0].weight, c.features[0][0].weight)


def test_lr_schedule_official_and_paper():
    official = FLConfig.from_protocol(ProtocolConfig(), FidelityConfig.from_dict("faithful"))
    paper = FLConfig.from_protocol(ProtocolConfig(), FidelityConfig.from_dict("corrected"))
    assert [round_lr(official, r) for r in (0, 75, 76, 99)] == [0.01, 0.01, pytest.approx(0.001), pytest.approx(0.001)]
    assert round_lr(paper, 74) == 0.01 and round_lr(paper, 75) == pytest.approx(0.001)


def test_average_states_weights_every_entry_and_truncates_counters():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(6)}
    avg = average_states([a, b], [0.5, 0.5])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0]))
    assert avg["n"].item() == 4 and avg["n"].dtype == torch.int64  # 4.5 truncated, as a long buffer load does


def bank_and_clients(num_clients=3, per_client=24, seed=0):
    arrays = synthetic_arrays(num_classes=4, per_class=per_client * num_clients // 4 + 10, seed=seed)
    bank = ImageBank(arrays.train_images, (0.286,), (0.353,), "cpu")
    test_bank = ImageBank(arrays.test_images, (0.286,), (0.353,), "cpu")
    clients = [
        ClientData(
            positions=np.arange(k * per_client, (k + 1) * per_client),
            labels=arrays.train_labels[k * per_client : (k + 1) * per_client],
        )
        for k in range(num_clients)
    ]
    return arrays, bank, test_bank, clients


def small_fl(rounds=3):
    return FLConfig(
        rounds=rounds,
        local_epochs=2,
        batch_size=8,
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-5,
        lr_decay=0.1,
        lr_decay_at=0.75,
        client_fraction=1.0,
    )


def test_fedavg_is_deterministic_learns_and_logs_every_round():
    arrays, bank, test_bank, clients = bank_and_clients()
    spec = DATASETS["octmnist"]  # 4 classes, 1 channel, 28 px
    runs = []
    for _ in range(2):
        model = build_model("cnn4conv", spec, 1)
        runs.append(
            train_sequential(
                FederatedCycle(
                    model, clients, bank, test_bank, arrays.test_labels, 4, small_fl(), seed_keys=(1, "t", 1)
                )
            )
        )
    a, b = runs
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert a.rounds["round"].tolist() == [1, 2, 3]
    assert a.rounds["test_acc"].tolist() == b.rounds["test_acc"].tolist()
    assert a.rounds["train_loss"].iloc[-1] < a.rounds["train_loss"].iloc[0]
    assert a.final.accuracy > 40  # 4 classes; chance is 25 %
    assert a.final.class_total.sum() == len(arrays.test_labels)


def test_fedavg_equals_manual_average_of_client_updates():
    """One round = average of each client trained from the global model with its own generator."""
    arrays, bank, test_bank, clients = bank_and_clients()
    spec = DATASETS["octmnist"]
    cfg = small_fl(rounds=1)
    model = build_model("cnn4conv", spec, 2)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_sequential(
        FederatedCycle(model, clients, bank, test_bank, arrays.test_labels, 4, cfg, seed_keys=(9,))
    )
    states = []
    for k, client in enumerate(clients):
        local = build_model("cnn4conv", spec, 2)
        local.load_state_dict(start)
        train_client(
            local,
            client,
            bank,
            epochs=2,
            batch_size=8,
            lr=cfg.lr,
            momentum=0.9,
            weight_decay=1e-5,
            generator=torch_generator(9, "fl_client", 0, k),
            where="x",
        )
        states.append(local.state_dict())
    manual = average_states(states, [1 / 3] * 3)
    for key in manual:
        assert torch.allclose(manual[key].float(), result.state_dict[key].float(), atol=1e-6), key


def test_evaluate_counts_per_class():
    arrays, bank, test_bank, _ = bank_and_clients()
    model = build_model("cnn4conv", DATASETS["octmnist"], 0)
    out = evaluate(model, test_bank, arrays.test_labels, 4, batch_size=7)
    assert out.class_total.tolist() == np.bincount(arrays.test_labels, minlength=4).tolist()
    assert out.accuracy == pytest.approx(100 * out.class_correct.sum() / len(arrays.test_labels))


def test_nan_loss_fails_with_round_and_client():
    arrays, bank, test_bank, clients = bank_and_clients()
    cfg = FLConfig(
        rounds=1,
        local_epochs=1,
        batch_size=8,
        lr=1e30,
        momentum=0.9,
        weight_decay=0,
        lr_decay=0.1,
        lr_decay_at=0.75,
        client_fraction=1.0,
    )
    with pytest.raises(NonFiniteLossError, match=r"round 1, client \d"):
        train_sequential(
            FederatedCycle(
                build_model("cnn4conv", DATASETS["octmnist"], 0),
                clients,
                bank,
                test_bank,
                arrays.test_labels,
                4,
                cfg,
                seed_keys=(0,),
            )
        )


def local_cfg(unit="step", milestone=37, epochs=50, stop=0.99):
    return LocalTrainingConfig(
        epochs=epochs,
        stop_train_acc=stop,
        lr_milestone=milestone,
        milestone_unit=unit,
        lr=0.01,
        lr_decay=0.1,
        momentum=0.9,
        weight_decay=1e-5,
        batch_size=8,
    )


def test_local_only_lr_milestone_counts_steps_or_epochs(monkeypatch):
    arrays, bank, _, clients = bank_and_clients(per_client=24)
    seen = []
    original = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    model = build_model("cnn4conv", DATASETS["octmnist"], 0)
    info = train_local_only(
        model,
        clients[0].positions,
        clients[0].labels,
        bank,
        local_cfg("step", milestone=4, epochs=3, stop=1.01),
        torch_generator(0),
    )
    assert info.steps == 9 and info.epochs == 3  # 24 samples / batch 8 = 3 steps per epoch
    assert seen[:4] == [0.01] * 4 and all(lr == pytest.approx(0.001) for lr in seen[4:])
    seen.clear()
    model = build_model("cnn4conv", DATASETS["octmnist"], 0)
    train_local_only(
        model,
        clients[0].positions,
        clients[0].labels,
        bank,
        local_cfg("epoch", milestone=2, epochs=3, stop=1.01),
        torch_generator(0),
    )
    assert seen[:6] == [0.01] * 6 and all(lr == pytest.approx(0.001) for lr in seen[6:])


def test_local_only_stops_at_train_accuracy():
    arrays, bank, _, clients = bank_and_clients(per_client=24)
    model = build_model("cnn4conv", DATASETS["octmnist"], 0)
    info = train_local_only(
        model, clients[0].positions, clients[0].labels, bank, local_cfg(stop=0.99), torch_generator(1)
    )
    assert info.train_accuracy >= 0.99 and info.epochs < 50
    assert not model.training  # returned in eval mode


def test_image_bank_flip_and_normalisation():
    images = np.arange(2 * 1 * 2 * 3, dtype=np.uint8).reshape(2, 1, 2, 3)
    bank = ImageBank(images, (0.5,), (0.25,), "cpu")
    x = bank.batch(np.array([0, 1]), torch.tensor([False, True]))
    expected0 = (torch.tensor(images[0], dtype=torch.float32) / 255 - 0.5) / 0.25
    expected1 = (torch.tensor(images[1], dtype=torch.float32).flip(2) / 255 - 0.5) / 0.25
    assert torch.allclose(x[0], expected0) and torch.allclose(x[1], expected1)


def test_mnist_2nn_is_mcmahans():
    """KAFAL Fig. 11's model: 784 → 200 → 200 → 10 with ReLUs, 199,210 parameters (McMahan et al.)."""
    model = build_model("mnist_2nn", DATASETS["mnist"], 0)
    assert count_parameters(model) == 199_210 and model.embedding_dim == 200
    logits, features = model(torch.zeros(3, 1, 28, 28).contiguous(memory_format=torch.channels_last))
    assert logits.shape == (3, 10) and features.shape == (3, 200)


def test_forty_percent_participation_trains_four_of_ten_clients_and_all_in_the_last_round(monkeypatch):
    """KAFAL Fig. 9: client_fraction 0.4 samples 4 of 10 clients a round; with every client in the last
    round (KAFAL's code; protocol.last_round_all_clients) the last round trains all 10."""
    from fal.federated import training

    clients = [ClientData(np.arange(3 * k, 3 * k + 3), np.arange(3) % 2) for k in range(10)]
    cfg = FLConfig(
        rounds=5,
        local_epochs=1,
        batch_size=4,
        lr=0.05,
        momentum=0.9,
        weight_decay=0.0,
        lr_decay=0.1,
        lr_decay_at=0.75,
        client_fraction=0.4,
        last_round_all_clients=True,
    )
    drawn = [training.select_clients(cfg, (1, "x"), r, clients) for r in range(5)]
    assert [len(s) for s in drawn] == [4] * 5 and len({tuple(s) for s in drawn}) > 1
    assert training.select_clients(cfg, (1, "x"), 4, clients, everyone=True) == list(range(10))

    seen = []
    original = training.select_clients

    def recording(cfg, seed_keys, round_index, clients, everyone=False):
        seen.append((round_index, everyone))
        return original(cfg, seed_keys, round_index, clients, everyone=everyone)

    monkeypatch.setattr(training, "select_clients", recording)
    arrays = synthetic_arrays(num_classes=2, per_class=15, seed=2)
    bank = ImageBank(arrays.train_images, (0.286,), (0.353,), "cpu")
    cycle_clients = [ClientData(np.arange(3 * k, 3 * k + 3), arrays.train_labels[3 * k : 3 * k + 3]) for k in range(10)]
    model = build_model("cnn4conv", DATASETS["octmnist"], 0)
    train_sequential(FederatedCycle(model, cycle_clients, bank, bank, arrays.train_labels, 2, cfg, seed_keys=(1, "x")))
    assert seen == [(0, False), (1, False), (2, False), (3, False), (4, True)]


def test_resnet50_is_torchvisions_with_the_imagenet_stem_on_the_xrays():
    """KAFAL Table 4's backbone on NIH ChestX-ray14 (1 × 224 px, 14 labels): torchvision's ResNet-50
    with a one-channel 7×7 stride-2 stem and max-pool; 23,508,032 + 2049 × 14 + 64 × 7 × 7 × (1 − 3) weights."""
    spec = DATASETS["nih_chestxray14"]
    model = build_model("resnet50", spec, 0)
    assert count_parameters(model) == 23_530_446
    stem = model.net.conv1
    assert (stem.in_channels, stem.kernel_size, stem.stride) == (1, (7, 7), (2, 2))
    again = build_model("resnet50", spec, 0)  # the init seed alone fixes the weights
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    logits, features = model(torch.zeros(2, 1, 224, 224).to(memory_format=torch.channels_last))
    assert logits.shape == (2, 14) and features.shape == (2, 2048)
