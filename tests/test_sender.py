"""scripts/sender.py against real gunicorn nodes on loopback (tiny models): distribution, failover,
resume, upload, local baseline, and the seed's exact command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from client.cli import parse_args
from client.files import crawl
from client.link import Link, ThrottledBody
from client.nodes import Node as NodeHealth
from client.nodes import node_url
from harness.nodes import REPO, Node, address, free_port, start_nodes
from scripts.sender import main as sender_main
from tests import images as corpus
from tests.helpers import SENDER, make_images, noise_jpeg, read_log, run_script, start_sender, wait_for_records


@pytest.fixture(scope="module")
def images_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The IMAGES_DIR of the module's nodes; each test sends its own subfolder."""
    return tmp_path_factory.mktemp("sender-images")


@pytest.fixture(scope="module")
def cluster(tiny_model_dirs, images_root, tmp_path_factory):
    """Three real nodes on the tiny OpenImages-style model, sharing one images root."""
    nodes = start_nodes(3, tiny_model_dirs["openimages"], images_root, tmp_path_factory.mktemp("cluster"))
    yield nodes
    for node in nodes:
        node.stop()


def by_file(records: list[dict]) -> dict[str, dict]:
    """Records keyed by file, asserting there is exactly one per file."""
    counts = Counter(r["file"] for r in records)
    assert not [f for f, n in counts.items() if n > 1], f"files with several records: {counts.most_common(3)}"
    return {r["file"]: r for r in records}


def result_files(nodes, subfolder: str) -> Counter:
    """How many result JSONs each relative path has across the nodes' OUTPUT_DIRs."""
    found: Counter[str] = Counter()
    for node in nodes:
        base = node.output_dir / subfolder
        for path in base.rglob("*.json") if base.exists() else []:
            found[path.relative_to(base).as_posix()[: -len(".json")]] += 1
    return found


# --- pieces without nodes -----------------------------------------------------------------------------


def test_crawl_is_recursive_sorted_case_insensitive_and_limited(tmp_path):
    names = make_images(tmp_path, 6)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "c").mkdir()
    shutil.copy(tmp_path / names[0], tmp_path / "c" / "Z.PNG")  # content does not matter to the crawl
    found = [f.rel for f in crawl(tmp_path)]
    assert found == sorted(names + ["c/Z.PNG"])
    assert any(n.endswith(".JPG") for n in found)
    assert [f.rel for f in crawl(tmp_path, limit=3)] == found[:3]
    assert all(f.size == (tmp_path / f.rel).stat().st_size for f in crawl(tmp_path))


def test_node_addresses_as_host_port_or_url():
    assert node_url("127.0.0.1:5001") == "http://127.0.0.1:5001"
    assert node_url("node1") == "http://node1:5000"
    assert node_url("http://node1:8080/") == "http://node1:8080"
    assert node_url("https://gw.example/detector/") == "https://gw.example/detector"
    for bad in ("", "ftp://x:1", "http://:5000", "host:port"):
        with pytest.raises(ValueError):
            node_url(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["--mode", "path", "--bandwidth", "1"],  # throttling is for uploads
        ["--resume"],  # which log?
        ["--local", "--nodes", "127.0.0.1:5000"],
        ["--mode", "upload", "--remote-root", "/app/images"],
        ["--nodes", "a:1", "a:1"],
        ["--per-node", "0"],
        ["--discover", "svc:5000", "--nodes", "a:1"],
        ["--discover", "no-port"],
        ["--local", "--wait", "5"],
    ],
)
def test_contradicting_options_are_usage_errors(tmp_path, argv):
    with pytest.raises(SystemExit) as exc:
        parse_args([str(tmp_path), *argv])
    assert exc.value.code == 2


def test_output_flag_is_never_taken_for_output_dir(tmp_path):
    args = parse_args([f"{tmp_path}/", "--output", "--nodes", "127.0.0.1:5000", "127.0.0.1:5001"])
    assert args.output is True and args.output_dir == Path("output")
    assert args.nodes == ["127.0.0.1:5000", "127.0.0.1:5001"]


def test_throttled_body_keeps_every_byte_and_its_length():
    data = os.urandom(10_000)
    body = ThrottledBody(data, Link(1e9))
    assert len(body) == len(data)
    assert b"".join(body) == data


# --- node health: taken out, probed back --------------------------------------------------------------


def test_failing_node_is_taken_out_and_probed_back_through_health(cluster):
    node = NodeHealth(address(cluster[0]), slots=1, failures_to_remove=2, probe_interval=0.05)
    try:
        node.failed("test")
        assert node.available  # one failure is not a streak
        node.failed("test")
        assert not node.available
        assert node.wait_available(10)  # the node is actually up: the first probe brings it back
        assert node.probes >= 1 and node.removals == 1
    finally:
        node.close()


def test_dead_node_stays_out_while_probes_fail():
    node = NodeHealth(f"127.0.0.1:{free_port()}", slots=1, failures_to_remove=1, probe_interval=0.05)
    try:
        node.failed("connection refused")
        deadline = time.monotonic() + 20
        while node.probes < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.probes >= 3
        assert not node.available
    finally:
        node.close()


# --- distribution over nodes ----------------------------------------------------------------------------


def test_every_image_is_processed_exactly_once_across_nodes(cluster, images_root, tmp_path):
    folder = images_root / "once"
    names = make_images(folder, 60)
    log = tmp_path / "once.jsonl"
    nodes = [address(n) for n in cluster]
    rc = sender_main([str(folder), "--nodes", *nodes, "--per-node", "2", "--log", str(log), "--no-progress"])
    assert rc == 0
    records = by_file(read_log(log))
    assert sorted(records) == names
    assert all(r["ok"] and r["status"] == 200 and r["attempts"] == 1 for r in records.values())
    assert {r["node"] for r in records.values()} == set(nodes)  # the shared queue fed all three
    assert {r["host"] for r in records.values()} == {socket.gethostname()}
    for r in records.values():
        assert r["transfer"] == pytest.approx(r["round_trip"] - r["timings"]["total"], abs=2e-6)
        assert "Portrait" in r["labels"]  # the tiny model's H/(H+W) = 48/112: always over the threshold
    # Server side: each image has exactly one result JSON over all the nodes' output folders.
    assert result_files(cluster, "once") == Counter({n: 1 for n in names})


def test_seed_command_line_works_unchanged(cluster, images_root, tmp_path):
    folder = images_root / "seed"
    names = make_images(folder, 9)
    nodes = [address(n) for n in cluster]
    # The seed's exact arguments: positional folder with a trailing slash, --output, --nodes a b c.
    proc = run_script(SENDER, [f"{folder}/", "--output", "--nodes", *nodes], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    logs = list((tmp_path / "output").glob("sender-*.jsonl"))  # the default log, under ./output
    assert len(logs) == 1
    records = by_file(read_log(logs[0]))
    assert sorted(records) == names and all(r["ok"] for r in records.values())
    assert {r["node"] for r in records.values()} <= set(nodes)
    for name in names:  # --output: annotated images were saved by whichever node did the image
        assert sum((n.output_dir / "seed" / name).is_file() for n in cluster) == 1
    summary = proc.stdout.splitlines()  # the summary table: a row for all, then one per node
    assert summary[0].split()[:6] == ["node", "images", "ok", "failed", "wall", "s"]
    assert [line.split()[0] for line in summary[2:6]] == ["all", *nodes]


def test_runs_as_a_module_from_the_repository_root(cluster, images_root, tmp_path):
    folder = images_root / "module"
    make_images(folder, 3)
    log = tmp_path / "m.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.sender", str(folder), "--nodes", address(cluster[0]), "--log", str(log)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_log(log)) == 3


def test_remote_root_maps_the_local_folder_to_the_nodes_path(cluster, images_root, tmp_path):
    # The client's copy lives outside the nodes' IMAGES_DIR; the nodes hold the same files under "mapped".
    local = tmp_path / "local-copy"
    names = make_images(local, 4)
    shutil.copytree(local, images_root / "mapped")
    log = tmp_path / "mapped.jsonl"
    rc = sender_main(
        [
            str(local),
            "--remote-root",
            str(images_root / "mapped"),
            "--nodes",
            address(cluster[0]),
            "--log",
            str(log),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert sorted(by_file(read_log(log))) == names

    # Without the mapping the node sees a path outside its folder: 403, final at once, exit status 1.
    log = tmp_path / "unmapped.jsonl"
    rc = sender_main([str(local), "--nodes", *[address(n) for n in cluster], "--log", str(log), "--no-progress"])
    assert rc == 1
    records = by_file(read_log(log))
    assert all(not r["ok"] and r["status"] == 403 and r["attempts"] == 1 for r in records.values())


def test_undecodable_images_get_one_final_422_record(cluster, images_root, tmp_path):
    folder = images_root / "bad"
    folder.mkdir()
    corpus.write_corpus(folder)
    log = tmp_path / "bad.jsonl"
    rc = sender_main([str(folder), "--nodes", *[address(n) for n in cluster], "--log", str(log), "--no-progress"])
    assert rc == 1
    records = by_file(read_log(log))
    assert sorted(records) == sorted(corpus.GOOD + corpus.BAD)
    for name in corpus.BAD:
        r = records[name]
        assert (r["ok"], r["status"], r["attempts"]) == (False, 422, 1), r  # 4xx is not retried
        assert r["error"].startswith("422 ")
    assert all(records[name]["ok"] for name in corpus.GOOD)


def test_a_run_with_failed_images_still_writes_its_report_and_exits_1(cluster, images_root, tmp_path):
    folder = images_root / "report-on-failure"
    names = make_images(folder, 4)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    log, out = tmp_path / "run.jsonl", tmp_path / "report"
    proc = run_script(
        SENDER, [str(folder), "--nodes", address(cluster[0]), "--log", str(log), "--report", str(out)], cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr  # the exit status still says an image failed
    records = by_file(read_log(log))
    assert sorted(records) == sorted([*names, "broken.jpg"]) and not records["broken.jpg"]["ok"]
    html = (out / "report.html").read_text()
    assert "Failed images" in html and "broken.jpg" in html
    assert f"report: {out / 'report.html'}" in proc.stderr


def test_discover_uses_every_address_a_name_resolves_to(cluster, images_root, tmp_path):
    folder = images_root / "discover"
    names = make_images(folder, 5)
    log = tmp_path / "d.jsonl"
    port = cluster[1].port
    rc = sender_main([str(folder), "--discover", f"localhost:{port}", "--log", str(log), "--no-progress"])
    assert rc == 0
    records = by_file(read_log(log))
    assert sorted(records) == names and {r["node"] for r in records.values()} == {f"127.0.0.1:{port}"}


def test_discover_gives_up_when_too_few_nodes_are_ready(cluster, images_root, tmp_path, capsys):
    folder = images_root / "discover-short"
    make_images(folder, 2)
    log = tmp_path / "short.jsonl"
    argv = [str(folder), "--discover", f"localhost:{cluster[0].port}", "--min-nodes", "5", "--wait", "1"]
    rc = sender_main([*argv, "--log", str(log), "--no-progress"])
    assert rc == 1 and not log.exists()
    assert "only 1 of 5 node(s) ready" in capsys.readouterr().err


def test_wait_holds_the_run_until_a_late_node_is_ready(tiny_model_dirs, images_root, tmp_path):
    folder = images_root / "late"
    names = make_images(folder, 3)
    port = free_port()
    log = tmp_path / "late.jsonl"
    sender = start_sender(
        [str(folder), "--nodes", f"127.0.0.1:{port}", "--wait", "120", "--log", str(log)],
        tmp_path,
        tmp_path / "late.err",
    )
    try:
        time.sleep(1.5)  # the sender is waiting: nothing is sent to a node that is not there
        assert sender.poll() is None and not log.exists()
        env = {
            "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
            "IMAGES_DIR": str(images_root),
            "OUTPUT_DIR": str(tmp_path / "late-out"),
        }
        node = Node(env, tmp_path / "late-node.log", port=port).start()
        try:
            assert sender.wait(180) == 0, (tmp_path / "late.err").read_text()
        finally:
            node.stop()
    finally:
        if sender.poll() is None:
            sender.kill()
    records = by_file(read_log(log))
    assert sorted(records) == names and all(r["ok"] and r["attempts"] == 1 for r in records.values())


# --- upload mode and bandwidth -------------------------------------------------------------------------


def test_upload_mode_sends_the_bytes(cluster, tmp_path):
    folder = tmp_path / "up"  # outside every node's IMAGES_DIR: only the bytes can get there
    names = make_images(folder, 6)
    log = tmp_path / "up.jsonl"
    rc = sender_main(
        [
            str(folder),
            "--mode",
            "upload",
            "--nodes",
            *[address(n) for n in cluster[:2]],
            "--log",
            str(log),
            "--no-progress",
        ]
    )
    assert rc == 0
    records = by_file(read_log(log))
    assert sorted(records) == names
    for name, r in records.items():
        assert r["ok"] and r["mode"] == "upload"
        assert r["bytes_sent"] == r["size"] == (folder / name).stat().st_size
        assert r["request_bytes"] > r["bytes_sent"]  # multipart framing around the image
        assert r["transfer"] > 0
        assert "/uploads/" in r["result_path"]


def test_bandwidth_throttles_the_upload(cluster, tmp_path):
    size = noise_jpeg(tmp_path / "slow" / "noise.jpg")
    log = tmp_path / "slow.jsonl"
    mbps = 0.25
    rc = sender_main(
        [
            str(tmp_path / "slow"),
            "--mode",
            "upload",
            "--bandwidth",
            str(mbps),
            "--nodes",
            address(cluster[0]),
            "--log",
            str(log),
            "--no-progress",
        ]
    )
    assert rc == 0
    (r,) = read_log(log)
    assert r["bytes_sent"] == size and r["bandwidth_mbps"] == mbps
    # The throttle never hands out bytes ahead of the rate: the request body alone needs size/rate seconds.
    assert r["transfer"] >= r["request_bytes"] / (mbps * 1e6)


# --- local baseline -----------------------------------------------------------------------------------


def test_local_run_gives_the_same_labels_as_the_nodes(cluster, tiny_model_dirs, images_root, tmp_path):
    folder = images_root / "same"
    folder.mkdir()
    corpus.write_corpus(folder)
    for name in corpus.BAD:
        (folder / name).unlink()
    remote_log, local_log = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    assert (
        sender_main([str(folder), "--nodes", *[address(n) for n in cluster], "--log", str(remote_log), "--no-progress"])
        == 0
    )
    out = tmp_path / "local-out"
    assert (
        sender_main(
            [
                str(folder),
                "--local",
                "--model",
                str(tiny_model_dirs["openimages"]),
                "--output",
                "--output-dir",
                str(out),
                "--log",
                str(local_log),
                "--no-progress",
            ]
        )
        == 0
    )
    remote, local = by_file(read_log(remote_log)), by_file(read_log(local_log))
    assert sorted(local) == sorted(remote) == sorted(corpus.GOOD)
    for name in corpus.GOOD:
        assert local[name]["labels"] == remote[name]["labels"], name
        assert local[name]["scores"] == remote[name]["scores"], name
        assert local[name]["node"] == "local" and local[name]["host"] == socket.gethostname()
        assert local[name]["status"] is None and local[name]["timings"]["inference"] > 0
        result = json.loads((out / f"{name}.json").read_text())  # the node's output layout, locally
        assert result["detection_class_entities"] == local[name]["labels"]
        assert (out / name).is_file() or (out / f"{name}.png").is_file()  # --output: annotated copy
    assert local["red.jpg"]["labels"][0] == "Person"


# --- failover and resume ------------------------------------------------------------------------------


def test_node_killed_mid_run_every_image_still_ok_once(tiny_model_dirs, cluster, images_root, tmp_path):
    folder = images_root / "kill"
    names = make_images(folder, 300)
    (victim,) = start_nodes(1, tiny_model_dirs["openimages"], images_root, tmp_path / "victim")
    try:
        log = tmp_path / "kill.jsonl"
        nodes = [address(cluster[0]), address(victim)]
        sender = start_sender([str(folder), "--nodes", *nodes, "--log", str(log)], tmp_path, tmp_path / "err.txt")
        wait_for_records(log, lambda rs: sum(r["node"] == nodes[1] for r in rs) >= 3)
        os.killpg(victim.process.pid, signal.SIGKILL)  # master and workers, no goodbye
        assert sender.wait(120) == 0, (tmp_path / "err.txt").read_text()
    finally:
        victim.stop()
    records = by_file(read_log(log))
    assert sorted(records) == names and all(r["ok"] for r in records.values())
    victims = [r for r in records.values() if r["node"] == nodes[1]]
    assert 3 <= len(victims) < len(names)
    moved = [r for r in records.values() if r["attempts"] > 1]
    assert moved and all(r["tried"][0] == nodes[1] and r["node"] == nodes[0] for r in moved)
    assert f"node {nodes[1]} taken out" in (tmp_path / "err.txt").read_text()


def test_resume_after_the_sender_is_killed(cluster, images_root, tmp_path):
    folder = images_root / "resume"
    names = make_images(folder, 200)
    log = tmp_path / "resume.jsonl"
    nodes = [address(n) for n in cluster[:2]]
    sender = start_sender([str(folder), "--nodes", *nodes, "--log", str(log)], tmp_path, tmp_path / "e1.txt")
    try:
        first = wait_for_records(log, lambda rs: len(rs) >= 20)
    finally:
        sender.kill()
        sender.wait(30)
    first = read_log(log)
    assert 20 <= len(first) < len(names)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write('{"file": "a/img-0000.jpg", "ok": tr')  # a line torn by the kill
    proc = run_script(SENDER, [str(folder), "--nodes", *nodes, "--log", str(log), "--resume"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]  # the torn line is gone: every line parses
    assert sum("run_info" in line for line in parsed) == 2  # one run-info line per run
    records = [r for r in parsed if "run_info" not in r]
    ok = by_file([r for r in records if r["ok"]])
    assert sorted(ok) == names
    done_first = {r["file"] for r in first if r["ok"]}
    second = [r for r in records if r["run"] != first[0]["run"]]
    assert not done_first & {r["file"] for r in second}  # nothing done before was sent again
    assert len(second) == len(names) - len(done_first)

    # Resuming a finished log has nothing to do and succeeds.
    again = run_script(SENDER, [str(folder), "--nodes", *nodes, "--log", str(log), "--resume"], cwd=tmp_path)
    assert again.returncode == 0 and len(log.read_text().splitlines()) == len(lines)


def test_all_nodes_down_every_image_gets_a_failed_record(tmp_path):
    names = make_images(tmp_path / "imgs", 5)
    log = tmp_path / "down.jsonl"
    rc = sender_main(
        [
            str(tmp_path / "imgs"),
            "--nodes",
            f"127.0.0.1:{free_port()}",
            "--give-up",
            "1",
            "--log",
            str(log),
            "--no-progress",
        ]
    )
    assert rc == 1
    records = by_file(read_log(log))
    assert sorted(records) == names
    assert all(not r["ok"] for r in records.values())
    assert any("no node in service" in r["error"] for r in records.values())
