"""``comments bench`` as a user runs it: a real process, a table, one JSON object last.

Only the plumbing is checked, on the tiny model and on a few hundred sockets: figures
are present, positive and finite, and ours agree with Detoxify's. Timings are never
compared here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL, pg_url

SPEEDS = ("naive", "torch_batched", "onnx", "onnx_int8")


def bench(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Offline: the benchmark builds its model locally and must never reach for a hub.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "comments", "bench", "--workdir", str(workdir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def last_json(stdout: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return report


def is_positive(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def is_finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def test_quick_scoring_benchmark_prints_figures(tmp_path: Path) -> None:
    done = bench(tmp_path, "--quick", "--only", "scoring", "--json", "--model-size", "tiny")
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert is_positive(report["classifier_speedup"])
    delta = report["classifier_max_delta"]
    assert isinstance(delta, float) and math.isfinite(delta)
    assert 0 <= delta <= 1e-3, "ONNX fp32 must give Detoxify's scores"
    for name in SPEEDS:
        assert is_positive(report[f"scoring_{name}_per_s"]), name
    assert is_positive(report["classifier_speedup_int8"])
    for ceiling in (
        "scoring_gemm_gflops",
        "scoring_gemm_spread",
        "scoring_onnx_gflops",
        "scoring_onnx_share_of_gemm",
        "scoring_naive_gflops",
        "classifier_speedup_ceiling",
    ):
        assert is_positive(report[ceiling]), ceiling
    assert math.isfinite(report["classifier_max_delta_int8"])
    assert report["scoring_comments"] == 200  # --quick's default
    assert report["sections"] == ["scoring"] and report["failed"] == []
    assert report["quick"] is True
    assert report["machine"]["cores"] >= 1 and report["machine"]["onnxruntime"]
    assert report["targets"] == {}, "a tiny model is not held to the full-size targets"
    # The table comes first, on stdout too.
    table = done.stdout.strip().splitlines()[:-1]
    assert any(line.split()[:1] == ["scoring_naive_per_s"] for line in table)

    # The model and its ONNX exports are built once and reused by later runs.
    built = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".ckpt", ".onnx"))
    assert [p.suffix for p in built].count(".onnx") == 2  # fp32 and int8
    stamps = {p: p.stat().st_mtime_ns for p in built}
    again = bench(
        tmp_path, "--only", "scoring", "--json", "--model-size", "tiny", "--comments", "12"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert last_json(again.stdout)["scoring_comments"] == 12
    assert {p: p.stat().st_mtime_ns for p in built} == stamps


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    done = bench(tmp_path, "--only", "fanout-that-does-not-exist")
    assert done.returncode == 2
    assert "unknown section 'fanout-that-does-not-exist'" in done.stderr
    assert "scoring" in done.stderr


def test_skipping_every_section_is_refused(tmp_path: Path) -> None:
    every = (
        *("scoring", "fanout", "reading", "ingest", "reactions"),
        *("importing", "moderation", "gc", "counts"),
    )
    done = bench(tmp_path, *(arg for name in every for arg in ("--skip", name)))
    assert done.returncode == 2
    assert "no section left to run" in done.stderr


@pytest.mark.parametrize(
    ("feed", "e2e", "scoring"),
    [("peer", "onnx", "inline"), ("api", "off", "inline"), ("peer", "onnx", "workers")],
)
def test_quick_fanout_benchmark_prints_figures(
    tmp_path: Path, feed: str, e2e: str, scoring: str
) -> None:
    # Three servers (four with the end-to-end node, on the tiny model), a few hundred
    # sockets each, short phases: the plumbing, not the speed.
    done = bench(
        tmp_path,
        "--quick",
        "--only",
        "fanout",
        "--json",
        "--fanout-feed",
        feed,
        *("--fanout-e2e", e2e, "--model-size", "tiny", "--fanout-e2e-scoring", scoring),
        *("--fanout-sockets", "240,120", "--fanout-burst", "10", "--fanout-rate", "20"),
        *("--fanout-steady-seconds", "0.5", "--fanout-rounds", "1", "--fanout-redis", REDIS_URL),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["fanout"] and report["failed"] == []
    for key in (
        "fanout_ratio_vs_websockets",
        "fanout_ratio_vs_broadcaster",
        "fanout_p99_ratio_vs_websockets",
        "fanout_p99_ratio_vs_broadcaster",
        "e2e_p50_ms",
        "e2e_p95_ms",
        "e2e_p99_ms",
        "rss_per_socket_kb",
    ):
        assert is_positive(report[key]), key
    # The headline figures come from the largest size when 5k is not run.
    assert report["fanout_reference_sockets"] == 240
    assert report["fanout_sockets_held"] == 240
    for server in ("websockets", "broadcaster", "ours"):
        assert report[f"fanout_{server}_lost"] == 0, server
        assert is_positive(report[f"fanout_{server}_rss_per_socket_kb"]), server
        for size in ("240", "120"):
            key = f"fanout_{server}_{size}"
            for figure in ("burst_per_s", "p50_ms", "p95_ms", "p99_ms"):
                assert is_positive(report[f"{key}_{figure}"]), (server, size, figure)
            # CPU time is counted in 10 ms ticks: a tiny load may not reach one.
            for figure in ("server_cores", "loadgen_cores"):
                assert is_finite(report[f"{key}_{figure}"]), (server, size, figure)
                assert report[f"{key}_{figure}"] >= 0
    if e2e == "off":  # the e2e figures are then the peer- or API-fed node's
        assert report["e2e_classifier_in_path"] == 0
        assert "e2e_lost" not in report
    else:  # every comment POSTed to the end-to-end node was scored, shown, received
        assert report["e2e_classifier_in_path"] == 1
        assert report["e2e_lost"] == 0
        if scoring == "inline":  # a worker's scoring is not on the node's /metrics
            assert is_positive(report["e2e_scoring_mean_ms"])
        # The floor, measured in the same run: one lone score plus one bare broadcast.
        for key in ("e2e_floor_scoring_ms", "e2e_floor_fanout_ms", "e2e_p99_over_floor"):
            assert is_positive(report[key]), key
        floor = report["e2e_floor_scoring_ms"] + report["e2e_floor_fanout_ms"]
        assert report["e2e_floor_ms"] == pytest.approx(floor)
    if feed == "api":  # comments POSTed to the node: how fast it took them
        assert is_positive(report["fanout_ours_240_posts_per_s"])
    else:
        assert "fanout_ours_240_posts_per_s" not in report
    assert report["targets"] == {}, "a quick run is not held to the full-size targets"
    table = done.stdout.strip().splitlines()[:-1]
    assert any(line.split()[:1] == ["fanout_ratio_vs_websockets"] for line in table)


def test_quick_reading_benchmark_prints_figures(tmp_path: Path) -> None:
    done = bench(
        tmp_path,
        "--quick",
        "--only",
        "reading",
        "--json",
        *("--reading-comments", "300", "--reading-seconds", "0.3", "--reading-rounds", "1"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["reading"] and report["failed"] == []
    assert report["reading_comments"] == 300
    assert report["reading_index_used"] == 1
    assert report["targets"] == {
        "reading_index_used": {"target": ">= 1 (the page is read from an index)", "met": True}
    }
    for key in (
        "reading_healthz_per_s",
        "reading_page_per_s",
        "reading_newest_page_per_s",
        "reading_ratio_vs_healthz",
        "reading_newest_ratio_vs_healthz",
        "reading_counts_per_s",
        "read_page_ratio_vs_healthz",
        "read_counts_ratio_vs_healthz",
        "reading_page_kb",
        "reading_seed_per_s",
    ):
        assert is_positive(report[key]), key


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_quick_ingest_benchmark_prints_figures(tmp_path: Path, database: str) -> None:
    # On PostgreSQL the benchmark creates and drops a database of its own on the server.
    spec = "sqlite" if database == "sqlite" else pg_url("postgres")
    # 1,000 refusals: the kernel counts a process's CPU in 10 ms ticks, and a refusal costs
    # a fraction of a millisecond, so a few dozen can add up to no tick at all.
    done = bench(
        tmp_path,
        "--quick",
        "--only",
        "ingest",
        "--json",
        *("--ingest-posts", "40", "--ingest-refusals", "1000", "--ingest-database", spec),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["ingest"] and report["failed"] == []
    for key in (
        "post_cpu_ms",
        "ingest_posts_per_s",
        "refusal_cpu_ms",
        "ingest_refusals_per_s",
    ):
        assert is_positive(report[key]), key


def test_quick_gc_benchmark_reports_the_longest_pause(tmp_path: Path) -> None:
    # A few hundred sockets churning for two seconds: the plumbing, not the pause.
    done = bench(
        tmp_path,
        *("--quick", "--only", "gc", "--json", "--gc-sockets", "300", "--gc-seconds", "2"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["gc"] and report["failed"] == []
    assert is_positive(report["gc_max_pause_ms"]) and report["gc_collections"] >= 1
    assert report["gc_sockets"] == 300 and is_positive(report["gc_churn_per_s"])
    assert "gc_max_pause_ms_10k" not in report  # only a run that held 10,000 sockets


def test_quick_counts_benchmark_reports_memory_per_socket(tmp_path: Path) -> None:
    # A hundred sockets of each kind: the plumbing, not the figures (RSS at this size is
    # mostly noise, so only presence and finiteness are checked).
    done = bench(tmp_path, "--quick", "--only", "counts", "--json", "--counts-sockets", "100")
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["counts"] and report["failed"] == []
    for key in ("counts_thread_socket_kib", "counts_socket_kib", "counts_own_articles_socket_kib"):
        assert is_finite(report[key]), key
    assert report["counts_sockets"] == 100


def test_quick_reactions_benchmark_prints_figures(tmp_path: Path) -> None:
    # A few hundred sockets and a few seconds of likes: the plumbing, not the speed.
    done = bench(
        tmp_path,
        *("--quick", "--only", "reactions", "--json", "--reactions-sockets", "300"),
        *("--reactions-readers", "20", "--reactions-rate", "200", "--reactions-seconds", "3"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = last_json(done.stdout)
    assert report["sections"] == ["reactions"] and report["failed"] == []
    for key in (
        "reactions_likes_per_s",
        "reactions_server_cpu_ms_per_like",
        "reactions_server_cores",
        "reactions_likers_loadgen_cores",
        "reactions_frames_per_comment_per_s_max",
        "reactions_frames_per_socket_max",
        "reactions_server_like_frames",
    ):
        assert is_positive(report[key]), key
    assert is_finite(report["reactions_sockets_loadgen_cores"])
    assert report["reactions_sockets"] == 300 and report["reactions_likes_refused"] == 0
    # Every socket got every frame the node counted, and the last one carried the count.
    assert report["reactions_server_like_frames"] == 300 * report["reactions_frames_per_socket_max"]
    assert report["reactions_frames_per_socket_min"] == report["reactions_frames_per_socket_max"]
    assert report["reactions_final_count_ok"] == 1.0
    table = done.stdout.strip().splitlines()[:-1]
    assert any(line.split()[:1] == ["reactions_frames_per_comment_per_s_max"] for line in table)
