"""The Dockerfile, compose files and Kubernetes manifests agree with the code and with each other.

Static facts only (no Docker here); ci/container_smoke.sh builds and runs the image for real, and
ci/lint_container.sh runs hadolint, `docker compose config` and the Kubernetes schemas.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from dataclasses import fields

import pytest
import yaml

from app.config import Settings
from client.cli import build_parser
from harness.nodes import GUNICORN_CMD, REPO

DEFAULTS = Settings()
SETTING_NAMES = {f.name.upper() for f in fields(Settings)}
CODE_PATHS = ("app/", "detector/", "scripts/", "gunicorn.conf.py")
HOST_OUTPUT = "${OUTPUT_DIR:-./output}"  # the compose file's host folder for the results


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for args in instructions("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_base_image_is_pinned_to_the_python_the_tests_run():
    (base,) = instructions("FROM")
    name, _, tag = base.partition(":")
    assert name == "python" and tag and "latest" not in tag and "@" not in name
    assert re.fullmatch(r"\d+\.\d+\.\d+-slim-bookworm", tag), tag
    assert tag.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")


def test_cmd_is_the_gunicorn_command_the_tests_run():
    (cmd,) = instructions("CMD")
    assert json.loads(cmd) == ["gunicorn", *GUNICORN_CMD[3:]] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert not instructions("ENTRYPOINT")
    text = (REPO / "Dockerfile").read_text()
    assert "flask run" not in text and "FLASK_DEBUG" not in text and "--reload" not in text


def test_runs_as_a_numeric_non_root_user_after_the_last_root_step():
    words = [w for w, _ in dockerfile()]
    (user,) = instructions("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    assert max(i for i, w in enumerate(words) if w == "RUN") < words.index("USER")


def test_port_volumes_and_healthcheck_match_the_settings():
    assert instructions("EXPOSE") == [str(DEFAULTS.port)]
    (volumes,) = instructions("VOLUME")
    cache = dockerfile_env()["TFHUB_CACHE_DIR"]
    assert set(json.loads(volumes)) == {DEFAULTS.images_dir, DEFAULTS.output_dir, cache}
    (health,) = instructions("HEALTHCHECK")
    assert "/api/ready" in health and "CMD" in health and "--start-period" in health


def test_dependencies_are_installed_before_the_code_is_copied():
    steps = dockerfile()
    copies = [(i, args) for i, (w, args) in enumerate(steps) if w == "COPY"]
    install = next(i for i, (w, args) in enumerate(steps) if w == "RUN" and "pip install" in args)
    (req_copy,) = [i for i, args in copies if "requirements.txt" in args]
    code_copies = [i for i, args in copies if any(p in args.split()[0] for p in CODE_PATHS)]
    assert req_copy < install < min(code_copies)
    assert '-r "${REQUIREMENTS}"' in steps[install][1] and "--no-cache-dir" in steps[install][1]


def test_build_arguments_select_requirements_and_bake_a_model():
    args = dict(a.partition("=")[::2] for a in instructions("ARG"))
    assert args["REQUIREMENTS"] == "requirements.txt" and args["BAKE_MODEL"] == '""'
    bake = next(a for w, a in dockerfile() if w == "RUN" and "fetch_model" in a)
    assert "python -m scripts.fetch_model" in bake
    assert '"${BAKE_MODEL}" --dest /app/model' in bake
    assert dockerfile_env()["MODEL_HANDLE"] == "${BAKE_MODEL:+/app/model}"  # empty -> config default


def _requirements(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            package, sep, version = line.partition("==")
            assert sep, f"{name}: {line!r} is not pinned with =="
            pins[package] = version
    return pins


def test_gpu_requirements_add_cuda_to_the_same_tensorflow():
    cpu, gpu = _requirements("requirements.txt"), _requirements("requirements-gpu.txt")
    assert "-r requirements.txt" in (REPO / "requirements-gpu.txt").read_text().splitlines()
    assert gpu["tensorflow[and-cuda]"] == cpu["tensorflow"]
    assert all(p.startswith(("nvidia-", "tensorflow[")) for p in gpu)


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Go's filepath.Match plus `**` (any number of folders)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _docker_excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for raw in patterns:
        regex = _pattern_regex(raw.lstrip("!").strip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not raw.startswith("!")
    return excluded


def test_dockerignore_sends_only_what_a_node_runs():
    patterns = [
        ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    sent = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv")]
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), REPO)
            if not _docker_excluded(rel, patterns):
                sent.append(rel)
    assert {
        "gunicorn.conf.py",
        "requirements.txt",
        "requirements-gpu.txt",
        "app/api.py",
        "detector/model.py",
        "scripts/fetch_model.py",
        "client/sender.py",
        "pyproject.toml",
    } <= set(sent)
    allowed = (
        "app/",
        "client/",
        "detector/",
        "measure/",
        "reporting/",
        "scripts/",
        "gunicorn.conf.py",
        "pyproject.toml",
        "requirements",
    )
    assert [s for s in sent if not s.startswith(allowed)] == []
    assert not any("__pycache__" in s or s.endswith(".pyc") for s in sent)
    for kept_out in (
        "tests/conftest.py",
        ".git/HEAD",
        "output/a.jpg.json",
        "images/a.jpg",
        "docs/deploy.md",
        "app/__pycache__/api.cpython-311.pyc",
        "scripts/x.pyc",
        "Dockerfile",
        ".ci/run",
    ):
        assert _docker_excluded(kept_out, patterns), kept_out
    for source in (a.split()[0] for a in instructions("COPY")):
        assert (REPO / source).exists() and not _docker_excluded(source.rstrip("/"), patterns), source


# --- docker-compose -------------------------------------------------------------------------------


def load_yaml(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml("docker-compose.yml")


def _nodes(compose: dict) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("node")}


def _volume_targets(service: dict) -> dict[str, tuple[str, bool]]:
    out = {}
    for spec in service["volumes"]:
        read_only = spec.endswith(":ro")
        source, target = spec.removesuffix(":ro").removesuffix(":rw").rsplit(":", 1)  # source may hold ${X:-y}
        out[target] = (source, read_only)
    return out


def test_three_nodes_on_host_ports_5000_to_5002(compose):
    nodes = _nodes(compose)
    assert sorted(nodes) == ["node1", "node2", "node3"]
    published = {}
    for name, svc in nodes.items():
        (mapping,) = svc["ports"]
        host, container = mapping.split(":")
        assert int(container) == DEFAULTS.port
        published[name] = int(host)
        assert svc["hostname"] == name
        assert svc["build"]["context"] == "." and svc["image"] == compose["services"]["sender"]["image"]
    assert published == {"node1": 5000, "node2": 5001, "node3": 5002}


def test_nodes_share_read_only_images_one_output_and_one_model_cache(compose):
    cache = dockerfile_env()["TFHUB_CACHE_DIR"]
    mounts = [_volume_targets(svc) for svc in _nodes(compose).values()]
    assert all(m == mounts[0] for m in mounts)
    m = mounts[0]
    assert m[DEFAULTS.images_dir] == ("${IMAGES_DIR:-./images}", True)
    assert m[DEFAULTS.output_dir] == (HOST_OUTPUT, False) and m[cache] == ("model-cache", False)
    assert set(compose["volumes"]) == {"model-cache"}


def test_a_fresh_clone_has_the_images_the_main_job_sends_and_the_output_folder_is_given_to_the_nodes_user(compose):
    """./images holds the sample photos (so Docker never creates it empty); ./output does not exist in a
    clone, so Docker creates it owned by root: output-init hands it to the image's user before anything runs."""
    samples = sorted(p.name for p in (REPO / "images").glob("*.jpg"))
    assert "chelsea.jpg" in samples and len(samples) >= 3
    init = compose["services"]["output-init"]
    (user,) = instructions("USER")
    assert init["command"] == ["chown", user, DEFAULTS.output_dir]
    assert init["user"] == "0:0" and init["cap_drop"] == ["ALL"] and init["cap_add"] == ["CHOWN"]
    assert init["network_mode"] == "none" and "profiles" not in init and init["restart"] == "no"
    assert _volume_targets(init) == {DEFAULTS.output_dir: (HOST_OUTPUT, False)}
    for name, svc in compose["services"].items():
        if name != "output-init":
            assert "user" not in svc, name  # the image's non-root USER
            assert svc["depends_on"]["output-init"] == {"condition": "service_completed_successfully"}, name


def test_node_environment_names_are_real_settings(compose):
    for svc in _nodes(compose).values():
        env = svc["environment"]
        names = set(env) if isinstance(env, dict) else {e.split("=")[0] for e in env}
        assert names and names <= SETTING_NAMES | {"TFHUB_CACHE_DIR"}, names - SETTING_NAMES


def _sender_args(argv: list[str]) -> argparse.Namespace:
    """A deployment's sender command, parsed by the sender's own command line (so it is a valid one)."""
    assert argv[:2] == ["python", "scripts/sender.py"], argv
    return build_parser().parse_args(argv[2:])


def test_sender_profile_runs_the_documented_sender_command_against_every_node(compose):
    sender = compose["services"]["sender"]
    nodes = _nodes(compose)
    assert sender["profiles"] == ["sender"]
    healthy = {n: {"condition": "service_healthy"} for n in nodes}
    assert sender["depends_on"] == {"output-init": {"condition": "service_completed_successfully"}, **healthy}
    assert _volume_targets(sender)[DEFAULTS.images_dir][1] is True
    assert _volume_targets(sender)[DEFAULTS.output_dir] == (HOST_OUTPUT, False)
    assert "entrypoint" not in sender  # no shell script: one documented command
    args = _sender_args(sender["command"])
    assert str(args.folder) == DEFAULTS.images_dir and args.nodes == [f"{n}:{DEFAULTS.port}" for n in nodes]
    assert args.output and args.wait and str(args.report) == f"{DEFAULTS.output_dir}/report"


def test_gpu_override_builds_with_cuda_and_reserves_gpus(compose):
    gpu = load_yaml("docker-compose.gpu.yml")
    assert set(gpu["services"]) == set(compose["services"])
    assert gpu["services"]["output-init"]["image"] == gpu["services"]["sender"]["image"]
    for name in _nodes(compose):
        svc = gpu["services"][name]
        assert svc["build"]["args"]["REQUIREMENTS"] == "requirements-gpu.txt"
        (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert svc["image"] != compose["services"][name]["image"]  # never overwrites the CPU image


# --- Kubernetes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    objects = {}
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def _container(obj: dict) -> dict:
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    return container


def _mounts(obj: dict) -> dict[str, tuple[str, bool]]:
    """mount path -> (claim name or volume kind, read only)."""
    volumes = {v["name"]: v for v in obj["spec"]["template"]["spec"]["volumes"]}
    out = {}
    for m in _container(obj)["volumeMounts"]:
        vol = volumes[m["name"]]
        claim = vol.get("persistentVolumeClaim", {}).get("claimName") or next(k for k in vol if k != "name")
        out[m["mountPath"]] = (claim, bool(m.get("readOnly")))
    return out


def test_kustomization_lists_the_long_running_objects():
    kustomization = load_yaml("deploy/k8s/kustomization.yaml")
    resources = kustomization["resources"]
    assert all((REPO / "deploy" / "k8s" / r).is_file() for r in resources)
    assert {"deployment.yaml", "service.yaml", "pvc.yaml", "configmap.yaml"} <= set(resources)


def test_deployment_probes_resources_and_user(k8s):
    deployment = k8s[("Deployment", "objdet-node")]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    container = _container(deployment)
    assert "command" not in container and "args" not in container  # the image's CMD runs
    image = container["image"]
    assert image.startswith("objdet-node:") and not image.endswith(":latest")
    (port,) = container["ports"]
    assert port["containerPort"] == DEFAULTS.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/ready", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/api/health", "port": port["name"]}
    # The comments say which probe may fail under load and why (tests/test_overload.py shows it does).
    text = (REPO / "deploy" / "k8s" / "deployment.yaml").read_text()
    assert "Liveness CANNOT fail because the node is busy" in text and "Readiness MAY fail" in text
    assert container["livenessProbe"]["timeoutSeconds"] >= 2 and container["readinessProbe"]["timeoutSeconds"] >= 2
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    pod_security = spec["template"]["spec"]["securityContext"]
    (user,) = instructions("USER")
    assert pod_security["runAsNonRoot"] is True
    assert f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}" == user
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > DEFAULTS.graceful_timeout


def test_deployment_volumes_are_the_images_output_and_model_cache_claims(k8s):
    deployment = k8s[("Deployment", "objdet-node")]
    mounts = _mounts(deployment)
    cache = dockerfile_env()["TFHUB_CACHE_DIR"]
    assert mounts[DEFAULTS.images_dir] == ("objdet-images", True)
    assert mounts[DEFAULTS.output_dir] == ("objdet-output", False)
    assert mounts[cache] == ("objdet-model-cache", False)
    claims = {name for kind, name in k8s if kind == "PersistentVolumeClaim"}
    assert {"objdet-images", "objdet-output", "objdet-model-cache"} <= claims
    assert k8s[("PersistentVolumeClaim", "objdet-output")]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_settings_come_from_a_configmap_of_real_setting_names(k8s):
    deployment = k8s[("Deployment", "objdet-node")]
    (source,) = _container(deployment)["envFrom"]
    config = k8s[("ConfigMap", source["configMapRef"]["name"])]
    assert set(config["data"]) <= SETTING_NAMES
    assert all(isinstance(v, str) for v in config["data"].values())


def test_services_reach_the_pods_one_balanced_one_headless(k8s):
    pod_labels = k8s[("Deployment", "objdet-node")]["spec"]["template"]["metadata"]["labels"]
    services = [obj for (kind, _), obj in k8s.items() if kind == "Service"]
    assert len(services) == 2
    for svc in services:
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        (port,) = svc["spec"]["ports"]
        assert port["port"] == DEFAULTS.port and port["targetPort"] == "http"
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1 and not headless[0]["spec"].get("publishNotReadyAddresses", False)


def test_sender_job_addresses_every_ready_pod_through_the_headless_service(k8s):
    job = k8s[("Job", "objdet-sender")]
    headless = next(
        name for (kind, name), o in k8s.items() if kind == "Service" and o["spec"].get("clusterIP") == "None"
    )
    container = _container(job)
    assert "args" not in container  # no shell script: one documented command
    args = _sender_args(container["command"])
    assert str(args.folder) == DEFAULTS.images_dir and args.discover == f"{headless}:{DEFAULTS.port}"
    assert args.min_nodes >= 1 and args.wait and args.output
    assert str(args.report) == f"{DEFAULTS.output_dir}/report"
    mounts = _mounts(job)
    assert mounts[DEFAULTS.images_dir] == ("objdet-images", True)
    assert mounts[DEFAULTS.output_dir] == ("objdet-output", False)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_fetch_model_job_fills_the_cache_the_nodes_read(k8s):
    job = k8s[("Job", "objdet-fetch-model")]
    cache = dockerfile_env()["TFHUB_CACHE_DIR"]
    # Kubernetes itself expands $(MODEL_HANDLE) from the ConfigMap: no shell in between.
    assert _container(job)["command"] == ["python", "scripts/fetch_model.py", "$(MODEL_HANDLE)", "--cache-dir", cache]
    assert _mounts(job)[cache] == ("objdet-model-cache", False)
