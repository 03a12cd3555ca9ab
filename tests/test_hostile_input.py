"""Hostile and broken input through real HTTP against a real gunicorn node.

Each case of CASES names its kind: path traversal in every form, links and special files, decompression
bombs, broken and unusual images, oversized, chunked and malformed bodies, wrong content types and
parameters, very long and non-UTF-8 names. Every one must get the documented JSON answer
({"error": {"code", "message"}} with the listed 4xx; 200 for unusual but valid images), write nothing
outside the output root, and leave the node ready and serving. The module builds its own images root
and its own node, so it may plant links, FIFOs and devices without touching the session corpus.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import requests
from PIL import Image

from harness.nodes import Node, start_node
from tests.fs_snapshot import snapshot
from tests.images import gif_bomb, jpeg_bomb, jpeg_bytes, png_bomb, solid

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SECRET = "TOP-SECRET-4f1c: nothing of this may ever appear in an answer"
LIMIT_MB = 1
NAME_255 = "n" * 251 + ".jpg"  # 255 bytes: the longest name a Linux file system allows
NON_UTF8_NAME = b"\xff\xfe-latin1.jpg"  # a valid image whose name is not valid UTF-8


# ---------------------------------------------------------------------------------------------
# The images root, with everything a hostile or careless user can put there.


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_rgb48(width: int = 80, height: int = 60) -> bytes:
    """A 16-bit-per-channel RGB PNG (48 bits per pixel), pure red."""
    row = b"\x00" + (b"\xff\xff\x00\x00\x00\x00" * width)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(row * height))
        + _png_chunk(b"IEND", b"")
    )


def bmp_bomb() -> bytes:
    """A BMP header declaring 60000 x 60000 pixels and no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    """`image` encoded as `fmt` in memory."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def dds_unknown_pixel_format() -> bytes:
    """A DDS file whose pixel-format flags are 0: Pillow raises NotImplementedError while opening it."""
    data = bytearray(encoded(solid((255, 0, 0), (8, 8)), "DDS"))
    struct.pack_into("<I", data, 80, 0)  # DDS_PIXELFORMAT.dwFlags
    return bytes(data)


def blp_unknown_compression() -> bytes:
    """A BLP2 file with compression 7: Pillow raises BLPFormatError (a NotImplementedError) while decoding."""
    data = bytearray(encoded(Image.new("P", (8, 8), 1), "BLP"))
    struct.pack_into("<i", data, 4, 7)
    return bytes(data)


def tiff_second_page_without_size() -> bytes:
    """A two-page TIFF whose second page lacks ImageWidth/ImageLength: Pillow raises TypeError counting pages."""
    pages = [solid((255, 0, 0), (8, 8)), solid((0, 0, 255), (8, 8))]
    data = bytearray(encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert data[:2] == b"II"
    offsets, offset = [], struct.unpack_from("<I", data, 4)[0]
    while offset:
        offsets.append(offset)
        count = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    second = offsets[1]
    for i in range(struct.unpack_from("<H", data, second)[0]):
        entry = second + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] in (256, 257):
            struct.pack_into("<H", data, entry, 50000 + i)  # an unknown private tag instead
    return bytes(data)


def build_root(base: Path) -> dict[str, bool]:
    """Write the images root, a folder outside it and a sibling folder; return what this machine allowed."""
    root, outside, evil = base / "images", base / "outside", base / "images-evil"
    for folder in (root / "sub", outside, evil):
        folder.mkdir(parents=True)
    red = jpeg_bytes(solid((255, 0, 0)))
    (outside / "red.jpg").write_bytes(red)
    (outside / "secret.txt").write_text(SECRET + "\n")
    (evil / "red.jpg").write_bytes(red)

    (root / "red.jpg").write_bytes(red)
    solid((0, 255, 0)).save(root / "green.png")
    (root / "sub" / "blue.jpg").write_bytes(jpeg_bytes(solid((0, 0, 255))))

    # Links and special files.
    (root / "escape.jpg").symlink_to("../outside/red.jpg")
    (root / "escape_dir").symlink_to(outside)
    (root / "chain1.jpg").symlink_to("chain2.jpg")
    (root / "chain2.jpg").symlink_to(outside / "red.jpg")
    (root / "loop_a.jpg").symlink_to("loop_b.jpg")
    (root / "loop_b.jpg").symlink_to("loop_a.jpg")
    (root / "dangling.jpg").symlink_to("no-such-file.jpg")
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "parent").symlink_to("..")
    os.link(outside / "red.jpg", root / "hardlink.jpg")  # same file system: tmp_path
    os.link(outside / "secret.txt", root / "hardlink_secret.jpg")
    os.mkfifo(root / "fifo.jpg")
    try:  # needs CAP_MKNOD (root in a container); the case is skipped elsewhere
        os.mknod(root / "chr.jpg", stat.S_IFCHR | 0o644, os.makedev(1, 5))  # the /dev/zero device
        can_mknod = True
    except OSError:
        can_mknod = False
    with open(root / "huge.jpg", "wb") as fh:  # 500 MB, sparse: a real JPEG start, then a hole
        fh.write(red)
        fh.truncate(500 * 1024 * 1024)

    # Decompression bombs, broken files, non-images with image extensions.
    (root / "bomb.png").write_bytes(png_bomb(100_000, 100_000))
    (root / "bomb.jpg").write_bytes(jpeg_bomb())
    (root / "bomb.gif").write_bytes(gif_bomb())
    (root / "bomb.bmp").write_bytes(bmp_bomb())
    (root / "empty.jpg").write_bytes(b"")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8))
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif")):
        whole = encoded(noise, fmt)
        (root / f"truncated.{ext}").write_bytes(whole[: len(whole) // 2])
    (root / "text.png").write_text("this is not an image\n" * 20)
    (root / "page.jpg").write_text("<!doctype html><html><body><img src=x onerror=alert(1)></body></html>\n")
    (root / "program.gif").write_bytes(Path(sys.executable).read_bytes()[:65536])
    (root / "drawing.png").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n')
    (root / "corrupt.dds").write_bytes(dds_unknown_pixel_format())
    (root / "corrupt.blp").write_bytes(blp_unknown_compression())
    (root / "corrupt.tif").write_bytes(tiff_second_page_without_size())

    # Unusual but valid images.
    Image.new("CMYK", (160, 120), (0, 255, 255, 0)).save(root / "cmyk.jpg", quality=95)
    Image.fromarray(np.full((90, 120), 65535, dtype=np.uint16)).save(root / "gray16.png")
    (root / "rgb48.png").write_bytes(png_rgb48())
    Image.fromarray(np.full((90, 120), 40000, dtype=np.uint16)).save(root / "gray16.tif")
    frames = [solid((255, 0, 0), (100, 100)), solid((0, 0, 255), (100, 100))]
    for fmt, ext in (("GIF", "gif"), ("PNG", "png"), ("WEBP", "webp")):
        frames[0].save(root / f"animated.{ext}", format=fmt, save_all=True, append_images=frames[1:], duration=100)

    # Names: the longest possible, not UTF-8, control characters and quotes.
    (root / NAME_255).write_bytes(red)
    with open(os.path.join(os.fsencode(root), NON_UTF8_NAME), "wb") as fh:
        fh.write(red)
    for name in (
        "new\nline.jpg",
        "tab\there.jpg",
        "quote'\"`.jpg",
        "-rf.jpg",
        " leading space.jpg",
        "emoji 😀.jpg",
        "%2e%2e.jpg",
        "back\\slash.jpg",
    ):
        (root / name).write_bytes(red)
    return {"mknod": can_mknod}


# ---------------------------------------------------------------------------------------------
# The node and the checks run after every case.


@dataclass
class Hostile:
    """The module's node and folders."""

    node: Node
    base: Path
    root: Path
    out: Path
    outside: Path
    can_mknod: bool


@pytest.fixture(scope="module")
def hostile(tiny_model_dirs, tmp_path_factory) -> Iterator[Hostile]:
    """A node (tiny model, 1 MB upload limit) on an images root full of traps."""
    base = tmp_path_factory.mktemp("hostile")
    allowed = build_root(base)
    out = base / "output"
    env = {
        "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
        "IMAGES_DIR": str(base / "images"),
        "OUTPUT_DIR": str(out),
        "MAX_UPLOAD_MB": str(LIMIT_MB),
        "MAX_IMAGE_PIXELS": "40000000",
        "API_KEY": "",
    }
    node = start_node(env, base / "node.log")
    yield Hostile(node, base, base / "images", out, base / "outside", allowed["mknod"])
    node.stop()


def assert_still_serving(node: Node) -> None:
    """The node is ready and answers a good request."""
    assert node.get("/api/ready").status_code == 200
    ok = node.post("/api/detect", data={"input": "green.png"})
    assert ok.status_code == 200 and ok.json()["detection_class_entities"][0] == "Cat", ok.text


def assert_json_answer(h: Hostile, r: requests.Response, status: int, code: str | None) -> dict:
    """The documented answer: JSON, the expected status and code, no trace, no secret; results in the root."""
    assert r.status_code == status, r.text[:500]
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert "Traceback" not in r.text and SECRET[:10] not in r.text and "root:x:" not in r.text
    if status == 200:
        for key in ("result_path", "annotated_image_path"):
            if body[key]:
                assert os.path.commonpath([h.out, body[key]]) == str(h.out), body[key]
        assert Path(body["result_path"]).is_file()
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert body["error"]["code"] == code and isinstance(body["error"]["message"], str)
    return body


# ---------------------------------------------------------------------------------------------
# The matrix.


@dataclass
class Case:
    """One hostile request: its kind, what to send, and the documented answer."""

    kind: str
    name: str
    send: Callable[[Hostile], dict]  # keyword arguments for requests.request (+ method, path)
    status: int
    code: str | None = None  # the error code; None for 200
    xfail: str | None = None  # a server bug this case shows (strict: the fix must make it pass)
    check: Callable[[Hostile, dict], None] | None = None  # extra checks on the answer's body
    needs: str | None = None  # a capability of this machine ("mknod")


def form(**fields) -> Callable[[Hostile], dict]:
    """A urlencoded form body (values may use {base}, {root})."""
    return lambda h: {
        "data": urlencode({k: v.format(base=h.base, root=h.root) for k, v in fields.items()}),
        "headers": FORM,
    }


def raw_form(body: str) -> Callable[[Hostile], dict]:
    """A urlencoded body exactly as written (to control the percent-encoding)."""
    return lambda h: {"data": body.encode("latin-1"), "headers": FORM}


def query(qs: str) -> Callable[[Hostile], dict]:
    """No body; the parameters in the query string exactly as written."""
    return lambda h: {"path": "/api/detect?" + qs}


def as_json(body) -> Callable[[Hostile], dict]:
    """A JSON body (json.dumps escapes lone surrogates as \\udXXX)."""
    return lambda h: {"json": body}


def raw(body: bytes, content_type: str | None) -> Callable[[Hostile], dict]:
    """A raw body with the given Content-Type (None: no such header)."""
    return lambda h: {"data": body, "headers": {"Content-Type": content_type} if content_type else {}}


def upload(name: str, data: bytes | Callable[[Hostile], bytes], **fields: str) -> Callable[[Hostile], dict]:
    """Multipart with one file in field `image` (plus form fields)."""
    return lambda h: {"files": {"image": (name, data(h) if callable(data) else data)}, "data": fields}


def multipart(body: bytes, boundary: str = "xx") -> Callable[[Hostile], dict]:
    """A hand-built multipart body."""
    return lambda h: {"data": body, "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}


def chunked(parts: list[bytes], content_type: str) -> Callable[[Hostile], dict]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length), as a streaming client does."""
    return lambda h: {"data": iter(parts), "headers": {"Content-Type": content_type}}


def root_file(name: str) -> Callable[[Hostile], bytes]:
    """The bytes of a file of the images root."""
    return lambda h: (h.root / name).read_bytes()


def in_uploads(h: Hostile, body: dict) -> None:
    """An upload's results land in OUTPUT_DIR/uploads, under a name the client did not choose."""
    result = Path(body["result_path"])
    assert result.parent == h.out / "uploads", result
    assert body["file"].startswith("uploads/") and "/" not in body["file"][len("uploads/") :]


def first_label(label: str) -> Callable[[Hostile, dict], None]:
    """The tiny model saw the right colour (the image was decoded, not guessed)."""

    def check(h: Hostile, body: dict) -> None:
        assert body["detection_class_entities"][0] == label, body["detection_class_entities"]

    return check


def no_result_for(name: str) -> Callable[[Hostile, dict], None]:
    """No result and no orphan annotated image for `name` under the output root."""

    def check(h: Hostile, body: dict) -> None:
        assert not [p for p in h.out.rglob("*") if p.name.startswith(name[:40])]

    return check


RED = jpeg_bytes(solid((255, 0, 0)))
OVER_LIMIT = 2 * LIMIT_MB * 1024 * 1024
DEEP_JSON = '{"input": ' + "[" * 50_000 + "]" * 50_000 + "}"
BAD_HEADER_MULTIPART = (
    b'--xx\r\nContent-Disposition: form-data; name="image"; filename="\xff\xfe.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n" + RED + b"\r\n--xx--\r\n"
)
MANY_PARTS = (
    b"".join(b'--xx\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(1100))
    + b"--xx--\r\n"
)
TRUNCATED_MULTIPART = b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n' + RED[:1000]

CASES = [
    # --- path traversal ---
    Case("dot-dot traversal", "dotdot", form(input="../outside/red.jpg"), 403, "forbidden"),
    Case("dot-dot traversal", "dotdot-via-subfolder", form(input="sub/../../outside/red.jpg"), 403, "forbidden"),
    Case("dot-dot traversal", "dotdot-deep", form(input="../../../../../../../../etc/passwd"), 403, "forbidden"),
    Case("absolute path outside the root", "absolute", form(input="{base}/outside/red.jpg"), 403, "forbidden"),
    Case("absolute path outside the root", "etc-passwd", form(input="//etc//passwd"), 403, "forbidden"),
    Case("absolute path outside the root", "filesystem-root", form(input="/"), 403, "forbidden"),
    Case(
        "absolute path into the root, then dot-dot",
        "root-dotdot",
        form(input="{root}/../outside/red.jpg"),
        403,
        "forbidden",
    ),
    Case(
        "sibling folder sharing the root's name prefix",
        "sibling-relative",
        form(input="../images-evil/red.jpg"),
        403,
        "forbidden",
    ),
    Case(
        "sibling folder sharing the root's name prefix",
        "sibling-absolute",
        form(input="{base}/images-evil/red.jpg"),
        403,
        "forbidden",
    ),
    Case("URL-encoded traversal", "urlencoded-body", raw_form("input=%2e%2e%2foutside%2fred.jpg"), 403, "forbidden"),
    Case("URL-encoded traversal", "urlencoded-query", query("input=..%2Foutside%2Fred.jpg"), 403, "forbidden"),
    Case(
        "double-encoded traversal",
        "double-encoded",
        raw_form("input=%252e%252e%252foutside%252fred.jpg"),
        404,
        "not_found",
    ),
    Case("NUL byte in the path", "nul-form", raw_form("input=red.jpg%00.png"), 400, "bad_request"),
    Case("NUL byte in the path", "nul-query", query("input=red.jpg%00"), 400, "bad_request"),
    Case("NUL byte in the path", "nul-json", as_json({"input": "red.jpg\x00../../etc/passwd"}), 400, "bad_request"),
    Case("backslash traversal", "backslashes", form(input="..\\outside\\red.jpg"), 404, "not_found"),
    Case("backslash traversal", "backslashes-mixed", form(input="sub\\..\\..\\outside/red.jpg"), 404, "not_found"),
    Case("~ and URL schemes are not expanded", "tilde", form(input="~/red.jpg"), 404, "not_found"),
    Case("~ and URL schemes are not expanded", "file-url", form(input="file:///etc/passwd"), 404, "not_found"),
    Case("symlink escape (file)", "symlink-file", form(input="escape.jpg"), 403, "forbidden"),
    Case("symlink escape (folder)", "symlink-dir", form(input="escape_dir/red.jpg"), 403, "forbidden"),
    Case("symlink escape (folder)", "symlink-parent", form(input="parent/outside/red.jpg"), 403, "forbidden"),
    Case("symlink chain escape", "symlink-chain", form(input="chain1.jpg"), 403, "forbidden"),
    Case("symlink loop", "symlink-loop", form(input="loop_a.jpg"), 400, "bad_request"),
    Case("dangling symlink", "symlink-dangling", form(input="dangling.jpg"), 404, "not_found"),
    Case("a folder, not a file", "folder", form(input="sub"), 400, "bad_request"),
    Case("a folder, not a file", "folder-slash", form(input="sub/"), 400, "bad_request"),
    Case("a folder, not a file", "the-root-itself", form(input="."), 400, "bad_request"),
    Case("FIFO inside the root", "fifo", form(input="fifo.jpg"), 400, "bad_request"),
    Case("device file inside the root", "char-device", form(input="chr.jpg"), 400, "bad_request", needs="mknod"),
    Case("symlink to /dev/zero inside the root", "symlink-dev-zero", form(input="zero.jpg"), 403, "forbidden"),
    Case("/dev and /proc paths", "dev-zero", form(input="/dev/zero"), 403, "forbidden"),
    Case("/dev and /proc paths", "dev-urandom", form(input="/dev/urandom"), 403, "forbidden"),
    Case("/dev and /proc paths", "proc-environ", form(input="/proc/self/environ"), 403, "forbidden"),
    Case("file over the size limit (path mode)", "sparse-500mb", form(input="huge.jpg"), 413, "too_large"),
    # --- decompression bombs ---
    Case("PNG decompression bomb", "bomb-png", form(input="bomb.png"), 422, "image_too_large"),
    Case("JPEG decompression bomb", "bomb-jpeg", form(input="bomb.jpg"), 422, "image_too_large"),
    Case("GIF decompression bomb", "bomb-gif", form(input="bomb.gif"), 422, "image_too_large"),
    Case("BMP decompression bomb", "bomb-bmp", form(input="bomb.bmp"), 422, "image_too_large"),
    Case(
        "PNG decompression bomb", "bomb-png-upload", upload("b.png", png_bomb(100_000, 100_000)), 422, "image_too_large"
    ),
    # --- broken files ---
    Case("truncated image", "truncated-jpeg", form(input="truncated.jpg"), 422, "undecodable_image"),
    Case("truncated image", "truncated-png", form(input="truncated.png"), 422, "undecodable_image"),
    Case("truncated image", "truncated-gif", form(input="truncated.gif"), 422, "undecodable_image"),
    Case("truncated image", "truncated-upload", upload("t.jpg", RED[: len(RED) // 2]), 422, "undecodable_image"),
    Case("zero-byte file", "empty-path", form(input="empty.jpg"), 422, "undecodable_image"),
    Case("zero-byte file", "empty-upload", upload("e.jpg", b""), 422, "undecodable_image"),
    Case("zero-byte file", "empty-raw-body", raw(b"", "image/jpeg"), 422, "undecodable_image"),
    Case("non-image with an image extension", "text-as-png", form(input="text.png"), 422, "undecodable_image"),
    Case("non-image with an image extension", "html-as-jpg", form(input="page.jpg"), 422, "undecodable_image"),
    Case("non-image with an image extension", "program-as-gif", form(input="program.gif"), 422, "undecodable_image"),
    Case("non-image with an image extension", "svg-as-png", form(input="drawing.png"), 422, "undecodable_image"),
    Case(
        "non-image with an image extension",
        "hard-link-to-a-secret",
        form(input="hardlink_secret.jpg"),
        422,
        "undecodable_image",
    ),
    Case(
        "corrupt header Pillow rejects with an unusual exception",
        "dds-notimplemented",
        form(input="corrupt.dds"),
        422,
        "undecodable_image",
    ),
    Case(
        "corrupt header Pillow rejects with an unusual exception",
        "blp-formaterror",
        form(input="corrupt.blp"),
        422,
        "undecodable_image",
    ),
    Case(
        "corrupt header Pillow rejects with an unusual exception",
        "tiff-typeerror",
        form(input="corrupt.tif"),
        422,
        "undecodable_image",
    ),
    # --- unusual but valid images: 200 ---
    Case("CMYK JPEG (valid: 200)", "cmyk", form(input="cmyk.jpg", output="1"), 200, check=first_label("Person")),
    Case("16-bit image (valid: 200)", "gray16-png", form(input="gray16.png", output="1"), 200),
    Case(
        "16-bit image (valid: 200)", "rgb48-png", form(input="rgb48.png", output="1"), 200, check=first_label("Person")
    ),
    Case("16-bit image (valid: 200)", "gray16-tiff", form(input="gray16.tif", output="1"), 200),
    Case(
        "animated image (valid: 200)",
        "animated-gif",
        form(input="animated.gif", output="1"),
        200,
        check=first_label("Person"),
    ),
    Case(
        "animated image (valid: 200)",
        "animated-png",
        form(input="animated.png", output="1"),
        200,
        check=first_label("Person"),
    ),
    Case(
        "animated image (valid: 200)",
        "animated-webp",
        form(input="animated.webp", output="1"),
        200,
        check=first_label("Person"),
    ),
    Case(
        "content type that does not match the bytes (sniffed: 200)",
        "jpeg-sent-as-png",
        raw(RED, "image/png"),
        200,
        check=first_label("Person"),
    ),
    # --- bodies over the limit ---
    Case("upload over the size limit", "multipart-2mb", upload("big.jpg", RED + b"\0" * OVER_LIMIT), 413, "too_large"),
    Case("upload over the size limit", "raw-2mb", raw(RED + b"\0" * OVER_LIMIT, "image/jpeg"), 413, "too_large"),
    Case(
        "upload over the size limit",
        "form-2mb",
        raw(b"input=red.jpg&" + b"&" * OVER_LIMIT, FORM["Content-Type"]),
        413,
        "too_large",
    ),
    Case(
        "chunked body over the size limit",
        "chunked-multipart",
        chunked(
            [
                b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n',
                RED,
                b"\0" * OVER_LIMIT,
                b"\r\n--xx--\r\n",
            ],
            "multipart/form-data; boundary=xx",
        ),
        413,
        "too_large",
    ),
    Case(
        "chunked body over the size limit",
        "chunked-raw-image",
        chunked([RED, b"\0" * OVER_LIMIT], "image/jpeg"),
        413,
        "too_large",
    ),
    Case(
        "chunked body over the size limit",
        "chunked-form",
        chunked([b"input=red.jpg&output=0", b"&" * OVER_LIMIT], FORM["Content-Type"]),
        413,
        "too_large",
    ),
    Case("too many multipart parts", "1100-parts", multipart(MANY_PARTS), 413, "too_large"),
    # --- wrong content types and malformed bodies ---
    Case("wrong content type", "text-plain", raw(b"input=red.jpg", "text/plain"), 415, "unsupported_media_type"),
    Case("wrong content type", "octet-stream", raw(RED, "application/octet-stream"), 415, "unsupported_media_type"),
    Case("wrong content type", "xml", raw(b"<input>red.jpg</input>", "application/xml"), 415, "unsupported_media_type"),
    Case("wrong content type", "no-content-type", raw(RED, None), 400, "bad_request"),
    Case(
        "wrong content type",
        "svg-as-image",
        raw(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        422,
        "undecodable_image",
    ),
    Case(
        "wrong content type",
        "json-sent-as-form",
        raw(b'{"input": "red.jpg"}', FORM["Content-Type"]),
        400,
        "bad_request",
    ),
    Case("malformed multipart", "no-boundary", raw(b"--xx\r\n\r\n", "multipart/form-data"), 400, "bad_request"),
    Case("malformed multipart", "truncated-multipart", multipart(TRUNCATED_MULTIPART), 400, "bad_request"),
    Case("malformed multipart", "part-header-not-utf8", multipart(BAD_HEADER_MULTIPART), 400, "bad_request"),
    Case(
        "multipart part without a usable name",
        "part-without-name",
        multipart(b"--xx\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xx--\r\n"),
        400,
        "bad_request",
    ),
    Case(
        "multipart part without a usable name",
        "file-without-name",
        multipart(b'--xx\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\n' + RED + b"\r\n--xx--\r\n"),
        400,
        "bad_request",
    ),
    Case(
        "multipart part without a usable name",
        "name-ending-in-backslash",
        lambda h: {"data": {"a\\": "x"}, "files": {"image": ("a.jpg", RED)}},
        400,
        "bad_request",
    ),
    Case("malformed JSON body", "invalid-json", raw(b'{"input": ', "application/json"), 400, "bad_request"),
    Case("malformed JSON body", "json-array", as_json(["red.jpg"]), 400, "bad_request"),
    Case("malformed JSON body", "json-input-not-a-string", as_json({"input": ["red.jpg"]}), 400, "bad_request"),
    Case(
        "malformed JSON body", "json-nested-50000-deep", raw(DEEP_JSON.encode(), "application/json"), 400, "bad_request"
    ),
    # --- parameters ---
    Case("missing parameters", "empty-body", raw(b"", FORM["Content-Type"]), 400, "bad_request"),
    Case("missing parameters", "only-output", form(output="1"), 400, "bad_request"),
    Case("missing parameters", "empty-input", form(input=""), 400, "bad_request"),
    Case("missing parameters", "blank-input", form(input="   "), 400, "bad_request"),
    Case("missing parameters", "empty-json", as_json({}), 400, "bad_request"),
    Case("duplicated parameters", "input-twice", raw_form("input=red.jpg&input=green.png"), 400, "bad_request"),
    Case(
        "duplicated parameters",
        "query-and-form",
        lambda h: {"path": "/api/detect?input=red.jpg", "data": "input=red.jpg", "headers": FORM},
        400,
        "bad_request",
    ),
    Case(
        "duplicated parameters",
        "query-and-json",
        lambda h: {"path": "/api/detect?output=1", "json": {"input": "red.jpg", "output": 1}},
        400,
        "bad_request",
    ),
    Case(
        "duplicated parameters",
        "two-files",
        lambda h: {"files": [("image", ("a.jpg", RED)), ("image", ("b.jpg", RED))]},
        400,
        "bad_request",
    ),
    Case("unknown parameters", "unknown-field", raw_form("input=red.jpg&model=evil"), 400, "bad_request"),
    Case("unknown parameters", "wrong-case", raw_form("Input=red.jpg"), 400, "bad_request"),
    Case(
        "unknown parameters",
        "unknown-json-key",
        as_json({"input": "red.jpg", "output_dir": "/etc"}),
        400,
        "bad_request",
    ),
    Case(
        "unknown parameters", "unknown-file-field", lambda h: {"files": {"photo": ("a.jpg", RED)}}, 400, "bad_request"
    ),
    Case("both a path and an upload", "path-and-upload", upload("a.jpg", RED, input="red.jpg"), 400, "bad_request"),
    Case("bad output values", "output-maybe", form(input="red.jpg", output="maybe"), 400, "bad_request"),
    Case("bad output values", "output-empty", form(input="red.jpg", output=""), 400, "bad_request"),
    Case("bad output values", "output-2", form(input="red.jpg", output="2"), 400, "bad_request"),
    Case("bad output values", "output-json-null", as_json({"input": "red.jpg", "output": None}), 400, "bad_request"),
    Case("bad output values", "output-json-list", as_json({"input": "red.jpg", "output": [1]}), 400, "bad_request"),
    Case("wrong method or endpoint", "get-detect", lambda h: {"method": "GET"}, 405, "method_not_allowed"),
    Case("wrong method or endpoint", "put-detect", lambda h: {"method": "PUT", "data": RED}, 405, "method_not_allowed"),
    Case("wrong method or endpoint", "delete-detect", lambda h: {"method": "DELETE"}, 405, "method_not_allowed"),
    Case(
        "wrong method or endpoint",
        "unknown-endpoint",
        lambda h: {"path": "/api/detect/../../etc/passwd"},
        404,
        "not_found",
    ),
    # --- long names ---
    Case("very long path", "input-10000-chars", form(input="a/" * 5000), 400, "bad_request"),
    Case("very long path", "component-300-bytes", form(input="x" * 300 + ".jpg"), 400, "bad_request"),
    Case(
        "255-byte file name",
        "name-255-bytes",
        form(input=NAME_255, output="1"),
        400,
        "bad_request",
        check=no_result_for(NAME_255),
    ),
    # --- non-UTF-8 and odd names ---
    Case("percent-encoded invalid UTF-8", "invalid-utf8-form", raw_form("input=%FF%FE-latin1.jpg"), 404, "not_found"),
    Case("percent-encoded invalid UTF-8", "invalid-utf8-query", query("input=%FF%FE-latin1.jpg"), 404, "not_found"),
    Case(
        "non-UTF-8 file name in the root",
        "surrogate-escaped-name",
        as_json({"input": "\udcff\udcfe-latin1.jpg"}),
        400,
        "bad_request",
    ),
    Case("non-UTF-8 file name in the root", "lone-surrogate", as_json({"input": "\ud800.jpg"}), 400, "bad_request"),
    Case("odd but valid file names (200)", "newline", form(input="new\nline.jpg"), 200),
    Case("odd but valid file names (200)", "tab", form(input="tab\there.jpg"), 200),
    Case("odd but valid file names (200)", "quotes", form(input="quote'\"`.jpg"), 200),
    Case("odd but valid file names (200)", "leading-dash", form(input="-rf.jpg", output="1"), 200),
    Case("odd but valid file names (200)", "leading-space", form(input=" leading space.jpg"), 200),
    Case("odd but valid file names (200)", "emoji", form(input="emoji 😀.jpg", output="1"), 200),
    Case("odd but valid file names (200)", "literal-percent", form(input="%2e%2e.jpg"), 200),
    Case("odd but valid file names (200)", "literal-backslash", form(input="back\\slash.jpg"), 200),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-dotdot",
        upload("../../../../outside/evil.jpg", RED, output="1"),
        200,
        check=in_uploads,
    ),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-absolute",
        upload("/etc/cron.d/evil.jpg", RED, output="1"),
        200,
        check=in_uploads,
    ),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-only-dots",
        upload("..", RED, output="1"),
        200,
        check=in_uploads,
    ),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-nul",
        upload("a\x00../../b.jpg", RED),
        200,
        check=in_uploads,
    ),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-255-bytes",
        upload("é" * 125 + ".jpg", RED, output="1"),
        200,
        check=in_uploads,
    ),
    Case(
        "upload file name that tries to escape (200, kept in uploads/)",
        "upload-latin1-name",
        upload("\xff\xfe.jpg", RED),
        200,
        check=in_uploads,
    ),
]


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.name, marks=marks)


def send(h: Hostile, case: Case) -> requests.Response:
    """Send the case's request to the node."""
    spec = case.send(h)
    method = spec.pop("method", "POST")
    path = spec.pop("path", "/api/detect")
    return requests.request(method, h.node.url + path, timeout=30, **spec)


@pytest.mark.parametrize("case", list(_params()))
def test_hostile_request(hostile: Hostile, case: Case):
    if case.needs == "mknod" and not hostile.can_mknod:
        pytest.skip("mknod is not permitted here (needs CAP_MKNOD)")
    keep = (hostile.out, hostile.base / "node.log")
    before = snapshot(hostile.base, keep)
    r = send(hostile, case)
    body = assert_json_answer(hostile, r, case.status, case.code)
    if case.check:
        case.check(hostile, body)
    assert snapshot(hostile.base, keep) == before  # nothing written, moved or touched outside the output root
    assert_still_serving(hostile.node)


# ---------------------------------------------------------------------------------------------
# Kinds that need more than one request/answer.

EXTRA_KINDS = {  # kind -> status, for the kinds tested below
    "declared body of 500 MB (413 before reading it)": 413,
    "very long URL (10,000 characters)": 414,
    "hard-link escape (accepted as content of the root)": 200,
}


def _read_response(sock: socket.socket) -> bytes:
    """Read one HTTP response with a Content-Length from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "content_type",
    ["image/jpeg", "multipart/form-data; boundary=xx", "application/x-www-form-urlencoded", "application/json"],
)
def test_declared_500mb_body_gets_413_without_being_read(hostile: Hostile, content_type: str):
    """Content-Length says 500 MB, a few bytes follow: 413 at once, and the server drops the connection."""
    with socket.create_connection(("127.0.0.1", hostile.node.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/detect HTTP/1.1\r\nHost: node\r\nContent-Type: "
            + content_type.encode()
            + b"\r\nContent-Length: %d\r\n\r\nabcdef" % (500 * 1024 * 1024)
        )
        answer = _read_response(sock)  # the 10 s socket timeout fails the test if the server waits for the body
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413")
        assert b"application/json" in head and b'"too_large"' in body
        # Keep sending: the server must close the connection instead of reading 500 MB.
        refused = False
        try:
            for _ in range(200):
                sock.sendall(b"\0" * (1024 * 1024))
        except OSError:
            refused = True
        assert refused, "the server accepted 200 MB of a body it had already refused"
    assert_still_serving(hostile.node)


def test_very_long_url_is_refused_and_the_node_keeps_serving(hostile: Hostile):
    """A 10,000-character URL never reaches the app: gunicorn answers 414 itself (HTML, not our JSON)."""
    r = requests.post(hostile.node.url + "/api/detect?input=" + "a" * 10_000, timeout=30)
    assert r.status_code == 414
    assert "Traceback" not in r.text
    assert_still_serving(hostile.node)


def test_hard_link_escape_is_served_as_content_of_the_root(hostile: Hostile):
    """A hard link is the file itself, not a path to somewhere else: it is served like any file of the root.

    Only someone who can write to the images root can plant one, and (fs.protected_hardlinks) only to a
    file they own or can read and write; the result goes under the link's own name in the output root.
    """
    assert (hostile.root / "hardlink.jpg").stat().st_nlink > 1
    keep = (hostile.out, hostile.base / "node.log")
    before = snapshot(hostile.base, keep)
    r = hostile.node.post("/api/detect", data={"input": "hardlink.jpg", "output": "1"})
    body = assert_json_answer(hostile, r, 200, None)
    assert body["file"] == "hardlink.jpg" and str(hostile.outside) not in r.text
    assert body["result_path"] == str(hostile.out / "hardlink.jpg.json")
    assert snapshot(hostile.base, keep) == before
    assert_still_serving(hostile.node)


def test_at_least_25_kinds_of_bad_input():
    kinds = {case.kind for case in CASES} | set(EXTRA_KINDS)
    refused = {case.kind for case in CASES if case.status >= 400} | {k for k, s in EXTRA_KINDS.items() if s >= 400}
    print(
        f"\n{len(kinds)} kinds of hostile input ({len(refused)} answered 4xx, the rest valid: 200), "
        f"{len(CASES)} table cases"
    )
    assert len(refused) >= 25
