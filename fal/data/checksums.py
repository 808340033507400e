"""Known checksums of every dataset source: what a correct download or cache must match.

Declared once, here. The workflow passes a source's entry to its rules as the data's identity, so
where the raw files come from (``paths.data_raw``, ``paths.fmnist_system``, ``data.download``) is not a
rerun trigger, and a cache rebuilt from the same data reruns nothing. Converted-array SHA-256 where we
could check the canonical arrays here; the publishers' MD5 of the raw files otherwise (the values
torchvision and medmnist check their downloads against). No imports beyond the standard library: the
Snakefile reads this on every parse.
"""

from __future__ import annotations

#: SHA-256 of the converted arrays (uint8 NCHW images, int64 labels). The Debian package
#: ``dataset-fashion-mnist`` recompresses the IDX files (so the publisher's MD5s of the .gz files
#: differ) but the decoded arrays are byte-identical to the original release.
KNOWN_ARRAY_SHA256: dict[str, dict[str, str]] = {
    "fmnist": {
        "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train_labels": "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b",
        "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "test_labels": "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae",
    },
}

#: MD5 of the publishers' raw files, by path relative to the raw data directory (torchvision 0.29's
#: CIFAR and SVHN lists; MedMNIST's Zenodo record 10519652 as listed by medmnist 3.0.2's INFO).
KNOWN_RAW_MD5: dict[str, dict[str, str]] = {
    "cifar10": {
        "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
        "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
        "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
        "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
    "octmnist": {"medmnist/octmnist.npz": "c68d92d5b585d8d81f7112f81e2d0842"},
    "dermamnist": {"medmnist/dermamnist.npz": "0744692d530f8e62ec473284d019b0c7"},
    "pathmnist": {"medmnist/pathmnist.npz": "a8b06965200029087d5bd730944a56c1"},
    "svhn": {
        "svhn/train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
        "svhn/test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    },
}


def source_identity(source: str) -> dict[str, dict[str, str]]:
    """Everything known about a source's correct content (a rule param: changes only when this file does)."""
    identity = {}
    if source in KNOWN_ARRAY_SHA256:
        identity["array_sha256"] = KNOWN_ARRAY_SHA256[source]
    if source in KNOWN_RAW_MD5:
        identity["raw_md5"] = KNOWN_RAW_MD5[source]
    if not identity:
        raise ValueError(f"no known checksums for dataset source {source!r}: add them to fal/data/checksums.py")
    return identity
