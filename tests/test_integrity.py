"""Result integrity: digests written by every job, checked by its readers and by the scan before a run."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from fal.integrity import DamagedResultError, seal, sidecar_of, verify
from fal.job import logged_failures
from fal.plan.damage import find_damaged, quarantine_damaged


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def chain(tmp_path, monkeypatch):
    """results/s/a → b → c, each sealed by its rule, as three jobs would leave them."""
    monkeypatch.chdir(tmp_path)
    a = write(Path("results/s/a.parquet"), "a")
    seal([a], [], "partition")
    b = write(Path("results/s/b.pt"), "b")
    seal([b], [a], "train")
    c = write(Path("results/s/c.parquet"), "c")
    seal([c], [b], "query")
    return a, b, c


def test_verify_names_the_file_the_rule_and_the_command(chain):
    a, b, _ = chain
    assert verify(b)
    Path(b).write_text("b truncated")
    with pytest.raises(DamagedResultError) as err:
        verify(b)
    message = str(err.value)
    assert "\n" not in message and b in message and "rule train" in message
    assert f"snakemake --cores 1 {b}" in message
    sidecar_of(a).unlink()
    with pytest.raises(DamagedResultError, match="has no content digest"):
        verify(a)


def test_an_intact_study_has_nothing_to_rebuild(chain):
    assert find_damaged(["results/s"]) == {}


def test_a_damaged_file_takes_everything_computed_from_it(chain):
    a, b, c = chain
    Path(b).write_text("edited")
    bad = find_damaged(["results/s"])
    assert set(bad) == {b, c} and bad[c][0] == b and "rule train" in bad[b][1]


def test_a_file_removed_by_a_failed_job_makes_its_consumers_stale(chain):
    a, b, c = chain
    Path(b).unlink()
    sidecar_of(b).unlink()
    bad = find_damaged(["results/s"])
    assert set(bad) == {c} and bad[c] == (b, "is missing (a failed job removed it, or it was deleted)")


def test_a_consumer_of_an_earlier_version_is_stale(chain):
    a, b, c = chain
    Path(b).write_text("b, rebuilt differently")
    seal([b], [a], "train")  # a producer rerun whose consumer did not rerun
    assert find_damaged(["results/s"]) == {c: (c, f"was computed from an earlier version of {b}")}


def test_quarantine_moves_aside_and_deletes_nothing(chain, tmp_path):
    a, b, c = chain
    Path(b).write_text("edited")
    lines = quarantine_damaged(["results/s"], "results", tmp_path / "digests.json")
    assert (
        len(lines) == 1
        and lines[0].startswith(f"Damaged result: {b}")
        and "1 results written with or computed from it" in lines[0]
    )
    assert not Path(b).exists() and not Path(c).exists() and Path(a).exists()
    moved = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "results/.quarantine").rglob("*.*"))
    assert [m.split("/", 3)[3] for m in moved] == sorted([b, c, str(sidecar_of(b)), str(sidecar_of(c))]), moved
    assert quarantine_damaged(["results/s"], "results", tmp_path / "digests.json") == []


def fake_job(inputs, outputs, rule="query"):
    config = {"paths": {"results": "results", "data_cache": "data/cache"}}
    return SimpleNamespace(input=inputs, output=outputs, rule=rule, config=config)


def test_a_job_fails_in_one_line_on_a_damaged_input_and_seals_its_outputs_on_success(chain, caplog):
    a, b, c = chain
    out = "results/s/d.parquet"
    with logged_failures(logging.getLogger("t"), fake_job([b], [out])):
        write(Path(out), "d")
    assert verify(out) and '"rule": "query"' in sidecar_of(out).read_text()
    Path(b).write_text("truncated")
    with pytest.raises(SystemExit) as exit_info:
        with logged_failures(logging.getLogger("t"), fake_job([b], [out])):
            raise AssertionError("the job must not start")
    message = str(exit_info.value)
    assert message.startswith("query: ") and b in message and "\n" not in message
    assert not sidecar_of(out).exists()  # being rewritten: no digest until the job succeeds


def test_a_failed_job_leaves_no_digest(chain):
    a, _, _ = chain
    out = write(Path("results/s/e.parquet"), "old")
    seal([out], [a], "query")
    with pytest.raises(RuntimeError):
        with logged_failures(logging.getLogger("t"), fake_job([a], [out])):
            raise RuntimeError("boom")
    assert not sidecar_of(out).exists()


def test_a_damaged_output_takes_its_jobs_other_outputs_along(tmp_path, monkeypatch):
    """A cycle's last model is read by no job: only if the rounds written with it go too does Snakemake
    rerun the job that rebuilds it."""
    monkeypatch.chdir(tmp_path)
    a = write(Path("results/s/labelled.parquet"), "a")
    seal([a], [], "query")
    model, rounds = write(Path("results/s/model.pt"), "m"), write(Path("results/s/rounds.parquet"), "r")
    seal([model, rounds], [a], "train")
    Path(model).write_text("truncated")
    bad = find_damaged(["results/s"])
    assert set(bad) == {model, rounds} and bad[rounds] == (model, f"written by the same job as {model}")


def test_a_missing_or_damaged_data_cache_is_judged_after_its_rebuild(tmp_path, monkeypatch):
    """The data cache is a deterministic function of the raw data: deleting or damaging it stales
    nothing until it is rebuilt; a byte-identical rebuild reruns nothing, a different one stales its
    consumers."""
    monkeypatch.chdir(tmp_path)
    cache = write(Path("data/cache/fmnist.npz"), "images")
    seal([cache], [], "prepare_dataset")
    model = write(Path("results/s/model.pt"), "m")
    seal([model], [cache], "train")
    roots = ["results/s", "data/cache"]
    Path(cache).write_text("truncated")
    assert find_damaged(roots, regenerable=["data/cache"]) == {
        cache: (cache, "does not match the digest recorded when rule prepare_dataset wrote it (truncated or edited)")
    }
    Path(cache).unlink()
    sidecar_of(cache).unlink()
    assert find_damaged(roots, regenerable=["data/cache"]) == {}
    assert set(find_damaged(roots)) == {model}  # without the exception: stale at once
    write(Path(cache), "images")  # the byte-identical rebuild
    seal([cache], [], "prepare_dataset")
    assert find_damaged(roots, regenerable=["data/cache"]) == {}
    write(Path(cache), "other images")
    seal([cache], [], "prepare_dataset")
    assert find_damaged(roots, regenerable=["data/cache"]) == {
        model: (model, f"was computed from an earlier version of {cache}")
    }
