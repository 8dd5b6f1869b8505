"""Memory stays bounded whatever the size of the project's files (issue 18: a 2 GB data file gave a 4.2 GB peak)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.memory import staging_peak_mb, make_project

LIMIT_MB = 200


@pytest.mark.slow
def test_a_rebuild_with_a_2_gb_file_stages_it_in_bounded_memory(tmp_path: Path) -> None:
    project = make_project(tmp_path / "Inference", data_bytes=2 * 2**30)
    peak = staging_peak_mb(project, tmp_path / "work", scan=False)
    assert peak <= LIMIT_MB, f"peak resident memory {peak:.0f} MB"
    assert (tmp_path / "work" / "app" / "Inference" / "data" / "weights.bin").stat().st_size == 2 * 2**30
