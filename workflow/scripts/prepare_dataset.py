"""Convert one source dataset into the verified uint8 array cache."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1]))  # type: ignore[name-defined]  # noqa: F821

from fal.config.datasets import SourceSpec
from fal.data.sources import prepare_cache
from fal.job import Stopwatch, job_logger, logged_failures

sm = snakemake  # type: ignore[name-defined]  # noqa: F821  (Snakemake injects it into the script)
with logged_failures(job_logger("prepare_dataset", sm.log[0]), sm) as log:
    clock = Stopwatch()
    spec = SourceSpec.from_params(sm.params.source)
    source = spec.name
    # Where the raw files are is not a param (moving them reruns nothing): the data must match the
    # source's declared checksums (in params.source).
    meta, arrays, origin = prepare_cache(
        spec,
        Path(sm.config["paths"]["data_raw"]),
        sm.config["paths"],
        sm.config.get("data", {}).get("download", True),
        Path(sm.output.npz),
        Path(sm.output.meta),
    )
    log.info(
        "%s from %s: train %s, test %s, file sha256 %s (%.1fs)",
        source,
        origin,
        arrays.train_images.shape,
        arrays.test_images.shape,
        meta["file_sha256"],
        clock.elapsed(),
    )
