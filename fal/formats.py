"""Parquet formats (column names and types) of every table the pipeline writes (torch-free, so light jobs import it cheaply).

Readers pass these to ``fal.io.read_parquet``, which rejects files whose columns or types differ.
"""

from __future__ import annotations

import pyarrow as pa

PARTITION_SCHEMA = pa.schema(
    [
        ("split", pa.string()),
        ("position", pa.int32()),
        ("source_index", pa.int32()),
        ("query_source_index", pa.int32()),
        ("label", pa.int16()),
        ("client", pa.int16()),
        ("client_rank", pa.int32()),
    ]
)
"""One row per sample of a setting's training subset (split "train") and evaluation set ("test").

position: index within the subset, the id every later stage uses; source_index: index in the original
dataset split of the image trained on; query_source_index: of the image scored at query time (differs
under the LT view mismatch); client_rank: order within the client's list (the official list order).
"""

LABELLED_SCHEMA = pa.schema(
    [
        ("client", pa.int16()),
        ("position", pa.int32()),
        ("rank", pa.int32()),
        ("cycle_added", pa.int16()),
    ]
)
"""A labelled set: per client, positions in the official order (new queries first, then older ones)."""

ROUNDS_SCHEMA = pa.schema(
    [
        ("round", pa.int32()),
        ("lr", pa.float64()),
        ("train_loss", pa.float64()),
        ("test_loss", pa.float64()),
        ("test_acc", pa.float64()),
    ]
)
"""Per communication round of one cycle: 1-based round, lr, mean client loss, test loss and accuracy (%).
No wall-clock time: results are byte-reproducible run to run (timings are in the logs and benchmarks)."""

EVALUATION_SCHEMA = pa.schema(
    [("class", pa.int16()), ("correct", pa.int64()), ("total", pa.int64()), ("accuracy", pa.float64())]
)
"""Per-class test accuracy (%) of a cycle's final global model."""

QUERY_SCHEMA = pa.schema(
    [
        ("client", pa.int16()),
        ("class", pa.int16()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)
"""Per-query diagnostics in long format; ``class`` is null for per-client values."""

METRICS_SCHEMA = pa.schema(
    [
        ("study", pa.string()),
        ("setting", pa.string()),
        ("dataset", pa.string()),
        ("rho", pa.float64()),
        ("alpha", pa.float64()),
        ("num_clients", pa.int16()),
        ("strategy", pa.string()),
        ("method", pa.string()),
        ("selector", pa.string()),
        ("seed", pa.int32()),
        ("cycle", pa.int16()),
        ("labelled_ratio", pa.float64()),
        ("round", pa.int16()),
        ("client", pa.int16()),
        ("class", pa.int16()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)
"""The long metrics table; ``labelled_ratio`` is in percent of R; round/client/class may be null."""
