"""Long-tailed subset, client partition, client test split and initial labelled set of one run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.datasets import DatasetSpec
from fal.config.fidelity import FidelityConfig
from fal.config.partition_file import PartitionFileError, partition_digest, read_partition_file
from fal.config.protocol import ProtocolConfig
from fal.config.setting import SettingConfig
from fal.data.build import build_partition
from fal.data.cache import load_cache
from fal.formats import LABELLED_SCHEMA, PARTITION_SCHEMA
from fal.io import write_json_atomic, write_parquet
from fal.job import Stopwatch, job_logger, logged_failures

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("partition", sm.log[0]), sm) as log:
    clock = Stopwatch()
    setting = SettingConfig.from_params(sm.params.setting)
    arrays = load_cache(sm.input.data, sm.input.data_meta)
    clients = None
    if "partition_file" in sm.input.keys():  # its path is not a param (moving the file reruns nothing); its digest is
        path = sm.input.partition_file
        clients = read_partition_file(path, len(arrays.train_labels), setting.num_clients)
        if partition_digest(clients) != setting.partition_digest:
            raise PartitionFileError(f"{path} changed after the workflow read it; run the workflow again")
        log.info("partition read from %s (digest %s)", path, setting.partition_digest)
    out = build_partition(
        setting,
        ProtocolConfig.from_params(sm.params.config["protocol"]),
        FidelityConfig.from_params(sm.params.config["fidelity"]),
        int(sm.wildcards.seed),
        arrays.train_labels,
        arrays.test_labels,
        clients,
        spec=DatasetSpec.from_params(sm.params.dataset),
    )
    write_parquet(out.partition, sm.output.partition, PARTITION_SCHEMA)
    write_parquet(out.initial_labelled, sm.output.labelled, LABELLED_SCHEMA)
    write_json_atomic(sm.output.summary, out.summary)
    log.info(
        "setting %s seed %s: %d training samples, class counts %s",
        setting.id,
        sm.wildcards.seed,
        out.summary["num_train"],
        out.summary["class_counts"],
    )
    log.info("client sizes %s; budget %s", out.summary["client_sizes"], out.summary["budget"])
    log.info("done in %.1fs", clock.elapsed())
