"""The benchmarks keep the rows an --only run did not re-measure, each with the day it was measured."""

import json
import time

import benchmarks.common as common


def test_an_only_run_replaces_its_own_rows_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    previous = {
        "machine": {"date": "2026-12-01 10:00"},
        "rows": [{"model": "VAE", "FID": 1.5}, {"model": "GAN", "FID": 2.2}],
    }
    (tmp_path / "quality.json").write_text(json.dumps(previous))
    merged = common.merge_rows(
        "quality", [{"model": "GAN", "FID": 2.4}], lambda r: r["model"], ["VAE", "GAN"]
    )
    today = time.strftime("%Y-%m-%d")
    assert merged == [
        {"measured": "2026-12-01", "model": "VAE", "FID": 1.5},
        {"model": "GAN", "FID": 2.4, "measured": today},
    ]
    # the first run of a benchmark has nothing to keep; unknown keys go last
    fresh = common.merge_rows("new", [{"model": "X"}, {"model": "GAN"}], lambda r: r["model"], ["GAN"])
    assert [r["model"] for r in fresh] == ["GAN", "X"]
