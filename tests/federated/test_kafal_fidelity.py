"""KAFAL's native setting as its official code runs it (ycao5602/KAFAL f4f1875): the residual ResNet-8,
the crop augmentation, the teacher's BatchNorm mode, the distillation pool, per-client budgets and a
partition read from KAFAL's file format."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
import yaml
from helpers import ROOT, assert_query_contract, query, tiny_study_config, trained_setting
from torch import nn

from fal.config.base import ConfigError
from fal.config.budgets import client_budgets
from fal.config.fidelity import FidelityConfig
from fal.config.partition_file import PartitionFileError, partition_digest, read_partition_file
from fal.data.images import ImageBank, random_crop
from fal.federated.algorithms.kcfu import KCFUConfig, compensation_loss, kcfu_distillation_pools
from fal.federated.models import KafalResNet8, build_model, count_parameters
from fal.plan.catalog import DATASETS, METHODS
from fal.plan.study import resolve_study

# ------------------------------------------------------------------------------------------------
# 1. ResNet-8 adds its residuals


class OfficialBasicBlock(nn.Module):
    """KA:models/preact_resnet.py BasicBlock, restated: conv-BN-ReLU-conv-BN, += shortcut, ReLU."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + residual)


class OfficialResNet8(nn.Module):
    """KA:PreAct_ResNet_Cifar(BasicBlock, [1, 1, 1]): conv, three blocks, BN, ReLU, average pool, fc."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.layer1 = OfficialBasicBlock(16, 16)
        self.layer2 = OfficialBasicBlock(16, 32, 2, nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False)))
        self.layer3 = OfficialBasicBlock(32, 64, 2, nn.Sequential(nn.Conv2d(32, 64, 1, 2, bias=False)))
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = torch.relu(self.bn(x))
        return self.fc(nn.functional.avg_pool2d(x, x.shape[-1]).flatten(1))


def official_state(ours: dict) -> dict:
    """Our ResNet-8's state dict under the official module's names."""
    renamed = {}
    for key, value in ours.items():
        key = key.replace("stem.", "conv1.").replace("linear.", "fc.").replace("shortcut.", "downsample.")
        for i in range(3):
            key = key.replace(f"layers.{i}.", f"layer{i + 1}.")
        renamed[key] = value
    return renamed


@pytest.mark.parametrize("train_mode", [False, True])
def test_resnet8_equals_the_official_residual_block(train_mode):
    ours = build_model("kafal_resnet8", DATASETS["cifar10"], 3, "cpu")
    official = OfficialResNet8(3, 10)
    official.load_state_dict(official_state(ours.state_dict()))  # every parameter has its counterpart
    with torch.no_grad():  # move the BN statistics off their initial values first
        for module in ours.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    official.load_state_dict(official_state(ours.state_dict()))
    ours.train(train_mode)
    official.train(train_mode)
    x = torch.randn(6, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    logits, features = ours(x)
    assert features.shape == (6, 64)
    assert torch.allclose(logits, official(x), atol=1e-6)
    # a network without the shortcuts computes something else
    plain = copy.deepcopy(official)
    for block in (plain.layer1, plain.layer2, plain.layer3):
        block.forward = lambda x, b=block: torch.relu(b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(x))))))
    assert not torch.allclose(logits, plain(x), atol=1e-3)


def test_resnet8_parameter_count_is_the_papers():
    assert count_parameters(KafalResNet8(3, 10)) == 77_946


# ------------------------------------------------------------------------------------------------
# 2. KAFAL's transform: RandomCrop(32, padding=4) after zero padding, per sample


def test_random_crop_is_torchvisions_pad_and_crop():
    images = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [8, 8], [4, 4], [0, 8], [3, 6]])
    cropped = random_crop(images, offsets, 4)
    for i, (top, left) in enumerate(offsets.tolist()):
        chw = images[i].permute(2, 0, 1)
        expected = TF.crop(TF.pad(chw, [4], fill=0), top, left, 32, 32).permute(1, 2, 0)
        assert torch.equal(cropped[i], expected), (top, left)
    assert torch.equal(cropped[2], images[2])  # offset (4, 4): the image itself
    assert cropped[0, :4].sum() == 0 and cropped[0, :, :4].sum() == 0  # zero padding, top-left corner


def test_crop_offsets_are_uniform_in_0_to_8_per_sample():
    bank = ImageBank(np.zeros((2, 3, 32, 32), dtype=np.uint8), (0.5,) * 3, (0.5,) * 3, "cpu", crop_padding=4)
    offsets = bank.crop_offsets(81_000, torch.Generator().manual_seed(0))
    assert offsets.shape == (81_000, 2) and offsets.min() == 0 and offsets.max() == 8
    pairs = torch.bincount(offsets[:, 0] * 9 + offsets[:, 1], minlength=81).double()
    assert pairs.min() > 850 and pairs.max() < 1150  # every (row, column) offset about 1,000 times
    flat = ImageBank(np.zeros((2, 1, 28, 28), dtype=np.uint8), (0.5,), (0.5,), "cpu")
    generator = torch.Generator().manual_seed(0)
    assert flat.crop_offsets(10, generator) is None
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())  # nothing drawn


def test_kafal_schedule_crops_and_normalises_with_cifar_statistics():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    study = resolve_study(config, "kafal_table2_3")
    assert study.protocol.transform == "kafal" and study.protocol.budget_rule == "per_client"
    from fal.data.cache import DatasetArrays
    from fal.data.views import load_setting_data

    images = np.full((4, 3, 32, 32), 255, dtype=np.uint8)
    arrays = DatasetArrays(images, np.arange(4) % 2, images[:2], np.arange(2))
    import pandas as pd

    partition = pd.DataFrame(
        {
            "split": ["train"] * 4 + ["test"] * 2,
            "position": [0, 1, 2, 3, 0, 1],
            "source_index": [0, 1, 2, 3, 0, 1],
            "query_source_index": [0, 1, 2, 3, 0, 1],
            "label": [0, 1, 0, 1, 0, 1],
            "client": [0, 0, 1, 1, 0, 1],
            "client_rank": [0, 1, 0, 1, 0, 0],
        }
    )
    data = load_setting_data(arrays, partition, DATASETS["cifar10"], 2, "cpu", "kafal")
    white = data.test_bank.batch(torch.tensor([0]))[0, :, 0, 0]
    expected = (1 - torch.tensor([0.4914, 0.4822, 0.4465])) / torch.tensor([0.2023, 0.1994, 0.2010])
    assert torch.allclose(white, expected, atol=1e-5)
    assert data.train_bank.crop_padding == 4 and data.test_bank.crop_padding == 0
    cropped = data.train_bank.batch(torch.tensor([0]), None, torch.tensor([[0, 0]]))
    padded = (0 - torch.tensor([0.4914, 0.4822, 0.4465])) / torch.tensor([0.2023, 0.1994, 0.2010])
    assert torch.allclose(cropped[0, :, 0, 0], padded, atol=1e-5)  # the zero-padded border, normalised


# ------------------------------------------------------------------------------------------------
# 3. The teacher's BatchNorm mode


def _student_teacher():
    torch.manual_seed(0)
    teacher = build_model("kafal_resnet8", DATASETS["cifar10"], 1, "cpu")
    with torch.no_grad():  # running statistics that differ from any batch's
        for module in teacher.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
    return copy.deepcopy(teacher), teacher  # the student right after a broadcast


def test_teacher_in_train_mode_distils_nothing_at_the_first_step_after_a_broadcast():
    x = torch.randn(8, 3, 32, 32)
    beta = torch.rand(8)
    partner = torch.randint(0, 8, (8,))
    counts = torch.tensor([3, 1, 0, 2, 5, 1, 1, 0, 2, 1])
    student, teacher = _student_teacher()
    student.train()
    teacher.train()  # official: the server model is never put in eval mode while clients train
    assert compensation_loss(student, teacher, x, beta, partner, counts, KCFUConfig()).item() == 0.0
    student, teacher = _student_teacher()
    student.train()
    teacher.eval()  # the alternative: running statistics
    assert compensation_loss(student, teacher, x, beta, partner, counts, KCFUConfig()).item() > 1e-6


def test_teacher_bn_mode_is_a_fidelity_switch_with_the_official_default():
    assert FidelityConfig().kcfu_teacher_bn == "train"
    assert FidelityConfig.from_dict("corrected").kcfu_teacher_bn == "train"
    assert FidelityConfig.from_dict({"kcfu_teacher_bn": "eval"}).kcfu_teacher_bn == "eval"


def test_a_train_mode_teacher_leaves_the_global_models_statistics_as_broadcast():
    """The teacher is a copy: the next client starts from the broadcast state, as the official clients
    are all loaded before any of them trains (a teacher in train mode moves its running statistics)."""
    from helpers import make_algorithm

    from fal.data.synthetic import synthetic_arrays
    from fal.federated.algorithms.kcfu import KCFUContext
    from fal.federated.flconfig import FLConfig
    from fal.federated.training import ClientData
    from fal.seeding import torch_generator

    arrays = synthetic_arrays(num_classes=4, per_class=10, test_per_class=2)
    bank = ImageBank(arrays.train_images, (0.5,), (0.25,), "cpu")
    clients = [ClientData(np.arange(8), arrays.train_labels[:8])]
    cfg = FLConfig(
        rounds=2,
        local_epochs=1,
        batch_size=4,
        lr=0.01,
        momentum=0.9,
        weight_decay=0.0,
        lr_decay=0.1,
        lr_decay_at=0.75,
        client_fraction=1.0,
        algorithm="kcfu",
    )
    for mode in ("train", "eval"):
        context = KCFUContext(clients, [np.arange(8, 40)], 4, bank, {"algorithm": "kcfu"}, teacher_bn=mode)
        algorithm = make_algorithm(cfg, context)
        global_model = build_model("cnn4conv", DATASETS["octmnist"], 0, "cpu")
        algorithm.start_cycle(global_model, 1)
        before = copy.deepcopy(global_model.state_dict())
        local = copy.deepcopy(global_model)
        algorithm.client_update(
            local,
            0,
            clients[0],
            bank,
            round_index=1,
            lr=0.01,
            global_model=global_model,
            generator=torch_generator(1),
            where="t",
        )
        assert all(torch.equal(before[k], v) for k, v in global_model.state_dict().items()), mode
        assert not all(torch.equal(before[k], v) for k, v in local.state_dict().items())  # the client trained


# ------------------------------------------------------------------------------------------------
# 4. The distillation pool


def test_initial_pool_distils_on_samples_labelled_after_cycle_1():
    import pandas as pd

    pools = [np.arange(0, 10), np.arange(10, 20)]
    labelled = pd.DataFrame(
        {
            "client": [0, 0, 0, 1, 1],
            "position": [3, 7, 1, 12, 15],
            "rank": [0, 1, 2, 0, 1],
            "cycle_added": [2, 1, 1, 2, 1],
        }
    )
    initial = kcfu_distillation_pools(pools, labelled, 2, "initial")
    current = kcfu_distillation_pools(pools, labelled, 2, "current")
    assert 3 in initial[0] and 12 in initial[1]  # labelled in cycle 2, still distilled on (official)
    assert 3 not in current[0] and 12 not in current[1]
    assert 1 not in initial[0] and 15 not in initial[1]  # the initial labelled set never is
    assert FidelityConfig().kcfu_distillation_pool == "initial"
    assert FidelityConfig.from_dict("corrected").kcfu_distillation_pool == "current"


# ------------------------------------------------------------------------------------------------
# 5. Per-client budgets


UNEQUAL = [list(range(0, 70)), list(range(70, 110)), list(range(110, 136))]
"""Three clients of 70, 40 and 26 images of a 4 × 40 synthetic training set (24 unassigned)."""


def test_kafal_budgets_are_ceilings_of_each_clients_share():
    sizes = [5021, 4556, 5008, 5014, 5565, 5826, 5177, 5186, 4522, 4125]  # KAFAL's file's clients
    budgets = client_budgets("per_client", 50000, sizes, 0.1, 0.05)
    assert budgets.initial == tuple(math.ceil(0.1 * n) for n in sizes)
    assert budgets.initial[:3] == (503, 456, 501) and budgets.query[:3] == (252, 228, 251)
    assert client_budgets("equal", 1700, [170] * 10, 0.1, 0.1).initial == (17,) * 10  # FairFAL's int(R·r/K)


@pytest.fixture(scope="module")
def unequal():
    return trained_setting(
        num_clients=3,
        per_class=40,
        test_per_class=5,
        rounds=1,
        local_model_epochs=2,
        keep_client_models=True,
        partition_file=UNEQUAL,
        protocol={"initial_ratio": 0.1, "query_ratio": 0.05, "end_ratio": 0.2, "budget_rule": "per_client"},
    )


def test_the_initial_sets_are_each_clients_share(unequal):
    from fal.data.build import labelled_lists

    initial = labelled_lists(unequal.part.initial_labelled, 3)
    assert [len(x) for x in initial] == [math.ceil(0.1 * len(c)) for c in UNEQUAL] == [7, 4, 3]
    for members, chosen in zip(UNEQUAL, initial):
        assert set(chosen.tolist()) <= set(members)


METHOD_STRATEGIES = {}
for _name, _spec in yaml.safe_load((ROOT / "config.yaml").read_text())["strategies"].items():
    METHOD_STRATEGIES.setdefault(_spec["method"], (_name, _spec))
for _name, _info in METHODS.items():  # a declared method no strategy uses yet (a contributor's new one)
    _query = {"query_model": _info.query_models[0]} if _info.query_models else {}
    METHOD_STRATEGIES.setdefault(_name, (f"{_name}_probe", {"method": _name, **_query}))
"""One strategy of every declared method (config.yaml's where it has one): each runs through the real query
stage, which checks the query contract (exact budget, no duplicates, only the client's unlabelled samples)."""


@pytest.mark.parametrize("method", sorted(METHOD_STRATEGIES))
def test_every_method_picks_each_clients_own_budget(unequal, method):
    name, spec = METHOD_STRATEGIES[method]
    spec = {k: v for k, v in spec.items() if k != "federated"}  # the query only: cycle 1 is FedAvg's
    if spec["method"] == "ll4al":
        pytest.skip("LL4AL queries a model trained with its loss module (tests/strategies/test_ll4al.py)")
    options = dict(spec.get("options", {}))
    if spec["method"] == "ifal":
        options.update(kd_epochs=2, kmeans_n_init=1)
    if spec["method"] == "gcnal":
        options.update(steps=5)
    out = query(unequal, name, {**spec, "options": options})
    assert_query_contract(unequal, out)  # each client's own budget, through the real query stage
    from fal.data.build import labelled_lists

    added = [
        len(after) - len(before) for after, before in zip(labelled_lists(out.labelled, 3), [[0] * 7, [0] * 4, [0] * 3])
    ]
    assert added == [math.ceil(0.05 * len(c)) for c in UNEQUAL] == [4, 2, 2]


# ------------------------------------------------------------------------------------------------
# 6. A partition from a file


def test_partition_file_round_trips(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps(UNEQUAL))
    clients = read_partition_file(path, 160, 3)
    assert clients == UNEQUAL
    reformatted = tmp_path / "pretty.json"
    reformatted.write_text(json.dumps(UNEQUAL, indent=2))
    assert partition_digest(read_partition_file(reformatted, 160, 3)) == partition_digest(clients)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[[1, 2], [3", "not valid JSON"),
        ('{"0": [1]}', "must be a JSON list"),
        ("[[0, 1], [2, 3]]", "holds 2 clients, the study has num_clients 3"),
        ("[[0, 1], [], [2]]", "client 1 is empty"),
        ("[[0, 1], [2, 500], [3]]", "client 1 holds 1 indices outside the training set 0..159"),
        ("[[0, 1, 1], [2], [3]]", "client 0 lists 1 indices twice"),
        ("[[0, 1], [1, 2], [3]]", "clients 0 and 1 share 1 indices"),
        ("[[0, 1.5], [2], [3]]", "not whole numbers"),
    ],
)
def test_each_kind_of_invalid_partition_file_fails_in_one_line(tmp_path, content, message):
    path = tmp_path / "split.json"
    path.write_text(content)
    with pytest.raises(PartitionFileError, match=message):
        read_partition_file(path, 160, 3)


def test_a_study_refuses_a_bad_partition_file_before_any_job_runs(tmp_path):
    config = tiny_study_config("tiny_kafal_file")
    study = config["studies"]["tiny_kafal_file"]
    study["partition"]["path"] = str(ROOT / study["partition"]["path"])
    setting = resolve_study(config, "tiny_kafal_file").settings[0]
    assert setting.partition == "file" and f"-file{setting.partition_digest[:8]}-" in setting.id
    assert "path" not in str(setting.to_dict()) and "client_sizes" not in setting.to_dict()
    bad = tmp_path / "bad.json"
    bad.write_text("[[0, 1], [1, 2]]")
    study["partition"] = {"kind": "file", "path": str(bad)}
    with pytest.raises(ConfigError, match=r"partition.path: .*holds 2 clients.*\n.*share 1 indices"):
        resolve_study(config, "tiny_kafal_file")
    study["partition"] = {"kind": "file", "path": str(tmp_path / "missing.json")}
    with pytest.raises(ConfigError, match="no such file"):
        resolve_study(config, "tiny_kafal_file")


# ------------------------------------------------------------------------------------------------
# 7. The KCFU local step in round 0 and the unlabelled batches across epochs (KA:main.py:86-137)


def _bn_first_model(num_classes: int) -> nn.Module:
    """BatchNorm on the input images: its running statistics depend on the batches alone, so the test can
    replay them without replaying the optimisation."""

    class BNFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm2d(1)
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2, num_classes)

        def forward(self, x):
            f = self.conv(self.bn(x)).mean(dim=(2, 3))
            return self.fc(f), f

    torch.manual_seed(0)
    return BNFirst()


def _kcfu_client(cfg, round_index, pool_size, *, epochs=1, seen=None, before_epoch=None):
    from fal.data.synthetic import synthetic_arrays
    from fal.federated.algorithms.kcfu import kcfu_client_update
    from fal.federated.training import ClientData
    from fal.seeding import torch_generator

    arrays = synthetic_arrays(num_classes=4, per_class=10, test_per_class=2, size=16)
    bank = ImageBank(arrays.train_images, (0.5,), (0.25,), "cpu")
    client = ClientData(np.arange(8), arrays.train_labels[:8])
    counts = torch.bincount(torch.tensor(client.labels), minlength=4)
    student = _bn_first_model(4)
    if seen is not None:
        student.bn.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().clone()))
    loss = kcfu_client_update(
        student,
        _bn_first_model(4),
        client,
        np.arange(8, 8 + pool_size),
        counts,
        bank,
        epochs=epochs,
        batch_size=4,
        lr=0.05,
        momentum=0.9,
        weight_decay=0.0,
        round_index=round_index,
        cfg=cfg,
        generator=torch_generator(3),
        where="t",
        before_epoch=before_epoch,
        teacher_bn="train",
    )
    return student, loss, bank


def test_round_0_runs_the_mixed_forward_and_its_batchnorm_statistics_move_while_nothing_is_distilled():
    """KA:main.py:117 and :127: the student's forward on the mixed batch runs in round 0 as well (its
    BatchNorm running statistics move), and the distillation term is multiplied by int(comm > 0) = 0."""
    seen: list[torch.Tensor] = []
    student, loss, bank = _kcfu_client(KCFUConfig(), 0, 22, seen=seen)  # 8 labelled, batch 4: two local steps
    assert [len(x) for x in seen] == [4, 4, 4, 4]  # labelled, mixed, labelled, mixed
    pool = bank.batch(torch.arange(8, 30), torch.zeros(22, dtype=torch.bool)).flatten(1)
    flipped = bank.batch(torch.arange(8, 30), torch.ones(22, dtype=torch.bool)).flatten(1)
    for mixed in (seen[1], seen[3]):
        is_image = [
            bool(((torch.cat([pool, flipped]) - row).abs().amax(dim=1) < 1e-6).any()) for row in mixed.flatten(1)
        ]
        assert sum(is_image) <= 1  # mixtures, not pool images (the batch's one partner mixed with itself stays one)
    replay = nn.BatchNorm2d(1)
    for x in seen:
        replay(x)
    assert int(student.bn.num_batches_tracked) == 4  # one per forward: two per local step
    assert torch.allclose(student.bn.running_mean, replay.running_mean, atol=1e-7)
    assert torch.allclose(student.bn.running_var, replay.running_var, atol=1e-7)

    without, loss_without, _ = _kcfu_client(KCFUConfig(compensation=False), 0, 22)
    assert loss == loss_without  # the distillation term adds exactly 0 to the loss ...
    trained = [name for name, _ in student.named_parameters()]
    assert all(torch.equal(student.state_dict()[k], without.state_dict()[k]) for k in trained)  # ... and no gradient
    assert int(without.bn.num_batches_tracked) == 2
    assert not torch.allclose(student.bn.running_mean, without.bn.running_mean)  # only the statistics differ


def _record_unlabelled_batches(monkeypatch, pool_size):
    from fal.federated.algorithms import kcfu

    events: list = []
    real_next, real_new_pass = kcfu.UnlabelledBatches.next, kcfu.UnlabelledBatches.new_pass

    def new_pass(self):
        real_new_pass(self)
        events.append(("pass", self.order.copy()))

    def next_batch(self):
        batch = real_next(self)
        events.append(("batch", batch.copy()))
        return batch

    monkeypatch.setattr(kcfu.UnlabelledBatches, "new_pass", new_pass)
    monkeypatch.setattr(kcfu.UnlabelledBatches, "next", next_batch)
    _kcfu_client(KCFUConfig(), 1, pool_size, epochs=2, before_epoch=lambda epoch: events.append(("epoch", epoch)))
    return events


def test_each_local_epoch_draws_its_unlabelled_batches_from_a_new_permutation(monkeypatch):
    """KA:main.py:94: the unlabelled loader is read afresh in every local epoch (a new shuffle), even when
    the previous epoch left part of its pass unread."""
    events = _record_unlabelled_batches(monkeypatch, pool_size=10)  # two steps of 4 use 8 of 10 per epoch
    kinds = [kind for kind, _ in events]
    assert kinds == ["pass", "epoch", "batch", "batch", "pass", "epoch", "batch", "batch"]
    pool = np.arange(8, 18)
    first, second = events[0][1], events[4][1]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))  # each a permutation of the pool
    assert not np.array_equal(first, second)  # drawn anew at the start of epoch 2
    assert np.array_equal(np.concatenate([events[2][1], events[3][1]]), pool[first[:8]])
    assert np.array_equal(np.concatenate([events[6][1], events[7][1]]), pool[second[:8]])  # not the 2 left over


def test_an_exhausted_pass_hands_out_its_short_batch_and_the_next_batch_starts_a_new_pass(monkeypatch):
    """DataLoader(drop_last=False) read endlessly (KA:main.py:78-82): 6 images in batches of 4 give 4 then 2."""
    events = _record_unlabelled_batches(monkeypatch, pool_size=6)
    assert [(kind, len(value)) for kind, value in events if kind == "batch"] == [("batch", 4), ("batch", 2)] * 2
    for start in (0, 4):  # each epoch: one pass, every image once
        assert sorted(np.concatenate([events[start + 2][1], events[start + 3][1]]).tolist()) == list(range(8, 14))


def test_unlabelled_batches_start_a_new_pass_after_the_short_one():
    from fal.federated.algorithms.kcfu import UnlabelledBatches
    from fal.seeding import numpy_rng

    batches = UnlabelledBatches(np.arange(100, 103), numpy_rng(0), 2)
    batches.new_pass()
    taken = [batches.next() for _ in range(4)]
    assert [len(b) for b in taken] == [2, 1, 2, 1]  # a pool of 3 in batches of 2: each pass ends short
    assert sorted(np.concatenate(taken[:2]).tolist()) == sorted(np.concatenate(taken[2:]).tolist()) == [100, 101, 102]
