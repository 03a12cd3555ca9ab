"""Property-based fuzzing of POST /api/detect on a real gunicorn node (hypothesis).

Random bytes (as multipart uploads and as raw bodies under random content types), mutated real
images, and random parameters (paths with `..`, NULs, backslashes and absolute prefixes; random
`output` values; unknown extra parameters) sent as forms, query strings, JSON and multipart fields.
Properties: never a 5xx, always the documented JSON, results only under the output root, nothing
created or changed outside it, and the node still ready after every example.
"""

from __future__ import annotations

import io
import os

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.nodes import start_node
from tests import images as test_images
from tests.fs_snapshot import snapshot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))  # raise it for a longer hunt: FUZZ_EXAMPLES=5000

# Formats whose mutations the node must survive (TIFF and DDS raise unusual exception types in Pillow).
SEED_FORMATS = [
    ("JPEG", "jpg"),
    ("PNG", "png"),
    ("GIF", "gif"),
    ("BMP", "bmp"),
    ("WEBP", "webp"),
    ("TIFF", "tif"),
    ("DDS", "dds"),
]


def _seed_images() -> list[bytes]:
    picture = Image.new("RGB", (48, 32), (200, 40, 40))
    picture.paste((20, 200, 60), (0, 0, 24, 16))
    seeds = []
    for fmt, _ in SEED_FORMATS:
        buf = io.BytesIO()
        picture.save(buf, format=fmt)
        seeds.append(buf.getvalue())
    return seeds


SEEDS = _seed_images()


@pytest.fixture(scope="module")
def fuzz_env(tiny_model_dirs, tmp_path_factory):
    """A node on the generated corpus plus an escape link and a file outside the root."""
    base = tmp_path_factory.mktemp("fuzz")
    root, out, outside = base / "images", base / "output", base / "outside"
    root.mkdir()
    outside.mkdir()
    test_images.write_corpus(root)
    test_images.solid((255, 0, 0)).save(outside / "red.jpg")
    (root / "escape.jpg").symlink_to(outside / "red.jpg")
    (root / "up").symlink_to("..")
    env = {
        "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
        "IMAGES_DIR": str(root),
        "OUTPUT_DIR": str(out),
        "MAX_UPLOAD_MB": "1",
        "MAX_IMAGE_PIXELS": "40000000",
        "API_KEY": "",
    }
    node = start_node(env, base / "node.log")
    yield node, base, root, out
    node.stop()


# --- strategies --------------------------------------------------------------------------------

SEGMENTS = [
    "..",
    ".",
    "",
    "red.jpg",
    "a",
    "same.jpg",
    "escape.jpg",
    "up",
    "outside",
    "etc",
    "passwd",
    "%2e%2e",
    "%252e",
    "..\\..",
    "\x00",
    "\\",
    "~",
    "/dev/zero",
    "fifo",
    "green.png",
    "café ☕.jpg",
]
paths = st.one_of(
    st.sampled_from(
        [
            "red.jpg",
            "a/same.jpg",
            "green.png",
            "../outside/red.jpg",
            "/etc/passwd",
            "up/outside/red.jpg",
            "escape.jpg",
            "/dev/zero",
            "/proc/self/environ",
            "bomb.png",
            "text.jpg",
            "empty.jpg",
        ]
    ),
    st.lists(st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=12)), min_size=1, max_size=6).map("/".join),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=40),
)
valid_outputs = st.sampled_from(["1", "0", "true", "False", "yes", "no", "ON", "off"])
outputs = st.one_of(
    valid_outputs, valid_outputs, st.sampled_from(["", "maybe", "2", " 1", "1\x00"]), st.text(max_size=8)
)
json_outputs = st.one_of(
    outputs,
    st.booleans(),
    st.integers(-2, 2),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
)
names = st.text(min_size=1, max_size=12)
# requests refuses header values with leading or trailing white space before sending them.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)
image_types = st.sampled_from(["image/jpeg", "image/png", "image/gif", "image/webp", "image/x-anything", "image/"])
content_types = st.one_of(
    image_types,
    image_types,
    st.sampled_from(
        [
            "image/svg+xml",
            "application/octet-stream",
            "text/plain",
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "",
        ]
    ),
    header_text,
)
mutated_images = st.builds(
    lambda seed, edits, cut: _mutate(SEEDS[seed], edits, cut),
    st.integers(0, len(SEEDS) - 1),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 1 << 20)),
)
image_bytes = st.one_of(st.binary(max_size=4096), mutated_images, st.sampled_from(SEEDS))


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    if cut is not None:
        out = out[: cut % (len(out) + 1)]
    return bytes(out)


@st.composite
def params(draw, output_values=outputs) -> dict:
    """Random parameters: maybe input, maybe output, maybe unknown extras."""
    found = {}
    if draw(st.booleans()):
        found["input"] = draw(paths)
    if draw(st.booleans()):
        found["output"] = draw(output_values)
    if draw(st.integers(0, 3)) == 0:  # unknown extras make any request a 400: only now and then
        for name, value in draw(st.dictionaries(names, st.text(max_size=12), min_size=1, max_size=2)).items():
            found.setdefault(name, value)
    return found


@st.composite
def detect_requests(draw) -> dict:
    """Keyword arguments for requests.post: one of the accepted request forms, filled at random."""
    shape = draw(st.sampled_from(["form", "query", "json", "multipart", "raw"]))
    if shape == "form":
        return {"data": draw(params())}
    if shape == "query":
        return {"params": draw(params())}
    if shape == "json":
        return {"json": draw(st.one_of(params(json_outputs), st.lists(st.text(max_size=8), max_size=3), st.text()))}
    if shape == "multipart":
        field = draw(st.one_of(st.just("image"), st.just("image"), st.just("image"), names))
        part = (draw(st.text(max_size=30)), draw(image_bytes), draw(content_types))
        fields = draw(params())
        return {"files": {field: part}, "data": fields}
    return {"data": draw(image_bytes), "headers": {"Content-Type": draw(content_types)}}


# --- the test ------------------------------------------------------------------------------------


def test_fuzz_detect_never_5xx_never_outside_the_output_root(fuzz_env, record_property):
    node, base, root, out = fuzz_env
    tmp_parent = base.parent  # pytest's session temp folder: every other test's files live here too
    images_before = snapshot(root, set())
    parent_before = set(snapshot(tmp_parent, {out}))
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=detect_requests())
    def run(request: dict) -> None:
        r = requests.post(node.url + "/api/detect", timeout=30, **request)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, r.text[:500]
        assert r.headers["Content-Type"] == "application/json"
        body = r.json()
        if r.status_code == 200:
            for key in ("result_path", "annotated_image_path"):
                if body[key]:
                    assert os.path.commonpath([out, os.path.realpath(body[key])]) == str(out), body[key]
        else:
            assert r.status_code >= 400 and set(body["error"]) == {"code", "message"}
        assert snapshot(root, set()) == images_before
        assert node.get("/api/ready").status_code == 200

    run()
    examples = sum(statuses.values())
    print(f"fuzz: {examples} examples, statuses {dict(sorted(statuses.items()))}")
    record_property("fuzz_examples", examples)
    record_property("fuzz_statuses", dict(sorted(statuses.items())))
    new_outside = sorted(set(snapshot(tmp_parent, {out})) - parent_before)
    assert not new_outside, new_outside[:10]
    assert snapshot(root, set()) == images_before
    assert node.get("/api/ready").status_code == 200
    assert examples >= EXAMPLES
    assert statuses.get(200, 0) > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0
