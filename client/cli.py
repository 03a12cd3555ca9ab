"""The sender's command line (scripts/sender.py): options, their checks, the default run label."""

from __future__ import annotations

import argparse
from pathlib import Path

from client.nodes import node_url
from client.preprocess import DEFAULT_QUALITY, MAX_QUALITY, MIN_QUALITY, Preprocess

DEFAULT_NODE = "127.0.0.1:5000"

DESCRIPTION = """\
Send every image under FOLDER to detection nodes (or, with --local, run the same detector in this
process) and write one JSON record per image to the log. Nodes pull images from one shared queue
(--per-node requests in flight each); failed requests move to another node. Exit status 0 only if
every image succeeded.
"""

EPILOG = """\
examples:
  %(prog)s /app/images/ --output --nodes 127.0.0.1:5000 127.0.0.1:5001 127.0.0.1:5003
  %(prog)s ./images --remote-root /app/images --nodes node1:5000 node2:5000 --per-node 2
  %(prog)s ./images --mode upload --bandwidth 1.1 --nodes http://node1:5000
  %(prog)s ./images --mode upload --output --fetch --nodes node1:5000 --output-dir results
  %(prog)s ./images --mode upload --resize 320 --quality 75 --bandwidth 1 --rtt 40 --nodes node1:5000
  %(prog)s ./images --local --resize 320 --quality 75 --model /models/openimages-style
  %(prog)s ./images --local --model /models/openimages-style --log output/local.jsonl
  %(prog)s ./images --mode upload --model-name big --nodes node1:5000 --log output/big.jsonl
  %(prog)s ./images --nodes node1:5000 --log output/run.jsonl --resume
  %(prog)s /app/images --discover objdet-node-headless:5000 --min-nodes 3 --wait 600 --report output/report
"""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def jpeg_quality(text: str) -> int:
    """argparse type: a JPEG quality in MIN_QUALITY..MAX_QUALITY."""
    value = int(text)
    if not MIN_QUALITY <= value <= MAX_QUALITY:
        raise argparse.ArgumentTypeError(f"must be in {MIN_QUALITY}..{MAX_QUALITY}, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (abbreviations off: --output must never be taken for --output-dir)."""
    p = argparse.ArgumentParser(
        prog="sender.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", type=Path, help="folder to crawl (recursively) for images")
    p.add_argument("--nodes", nargs="+", metavar="ADDR", help=f"nodes as host:port or URL (default {DEFAULT_NODE})")
    p.add_argument(
        "--discover",
        metavar="NAME:PORT",
        help="use every address NAME resolves to as a node (e.g. a Kubernetes headless Service)",
    )
    p.add_argument(
        "--min-nodes",
        type=positive_int,
        default=1,
        metavar="N",
        help="--discover: start once at least N of the resolved nodes are ready (1)",
    )
    p.add_argument(
        "--wait",
        type=positive_float,
        metavar="S",
        help="wait up to S seconds for the nodes to resolve and answer /api/ready before sending "
        "(default: with --discover 600, else start at once)",
    )
    p.add_argument("--output", action="store_true", help="ask for annotated images as well as the JSON")
    p.add_argument(
        "--mode",
        choices=("path", "upload"),
        default="path",
        help="path: send the image's path (nodes see the same files); upload: send the bytes",
    )
    p.add_argument(
        "--remote-root",
        metavar="DIR",
        help="path mode: the node's path of FOLDER (e.g. /app/images); default: the local absolute path",
    )
    p.add_argument("--per-node", type=positive_int, default=1, metavar="K", help="requests in flight per node (1)")
    p.add_argument(
        "--fetch",
        action="store_true",
        help="download each image's result JSON (and, with --output, its annotated image) from the node "
        "into --output-dir, mirroring the image's path (either mode)",
    )
    p.add_argument("--local", action="store_true", help="run the detector in this process instead of on nodes")
    p.add_argument("--model", metavar="HANDLE", help="--local: model handle (default: MODEL_HANDLE, as a node)")
    p.add_argument(
        "--model-name",
        metavar="NAME",
        help="nodes: the model to use, by its name on the nodes (GET /api/models; default: each node's default); "
        "--local: the name this run's model goes by in records and reports (default: default)",
    )
    p.add_argument("--limit", type=positive_int, metavar="N", help="send only the first N images")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=Path("output"),
        metavar="DIR",
        help="where the default log goes, and --local's result files (default ./output)",
    )
    p.add_argument(
        "--log", type=Path, metavar="FILE", help="record log (JSON lines); default OUTPUT_DIR/sender-<UTC time>.jsonl"
    )
    p.add_argument("--resume", action="store_true", help="skip images that have an ok record in --log")
    p.add_argument("--label", help="name of this run in reports (default: local, or e.g. 'path 2 nodes')")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="after the run, write the report of its log into DIR (also when images failed)",
    )
    p.add_argument(
        "--bandwidth",
        type=positive_float,
        metavar="MBPS",
        help="upload mode: all uploads share one link of MBPS megabytes (10^6 bytes) per second",
    )
    p.add_argument(
        "--rtt",
        type=non_negative_float,
        metavar="MS",
        help="add a round trip of MS milliseconds to every request (half before it, half after the answer), "
        "to stand in for a slower link; upload or path mode",
    )
    p.add_argument(
        "--resize",
        type=positive_int,
        metavar="PIXELS",
        help="upload mode or --local: shrink each image's longer side to PIXELS before sending (never "
        f"enlarges) and encode it as JPEG (quality {DEFAULT_QUALITY} unless --quality)",
    )
    p.add_argument(
        "--quality",
        type=jpeg_quality,
        metavar="Q",
        help=f"upload mode or --local: re-encode each image as JPEG at quality Q ({MIN_QUALITY}-{MAX_QUALITY}) "
        "before sending; without --resize and --quality the file goes as it is",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="N",
        help="first process the first N images once, unrecorded, locally or on every node, so a "
        "fresh process is measured warm, like a long-running node (0)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        metavar="S",
        help="seconds to wait for a node's answer (120); connecting times out after 5",
    )
    p.add_argument("--retries", type=int, default=3, metavar="N", help="extra attempts per image (3)")
    p.add_argument(
        "--give-up",
        type=positive_float,
        default=120.0,
        metavar="S",
        help="fail the remaining images when no node has been in service for S seconds (120)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="--local: show TensorFlow's native log lines (also with LOG_LEVEL=debug); hidden by default",
    )
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the options that only make sense together."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    if args.local and (args.nodes or args.discover):
        parser.error("--local runs in this process: do not give --nodes or --discover")
    if args.nodes and args.discover:
        parser.error("give --nodes or --discover, not both")
    if args.local and args.fetch:
        parser.error("--fetch downloads from nodes; --local writes its results into --output-dir itself")
    if args.local and (args.mode != "path" or args.bandwidth or args.remote_root):
        parser.error("--mode, --remote-root and --bandwidth are for nodes, not --local")
    if args.model and not args.local:
        parser.error(
            "--model is for --local; a node's models are set by its own MODELS or MODEL_HANDLE (pick one "
            "with --model-name)"
        )
    if args.local and args.rtt is not None:
        parser.error("--rtt delays requests to nodes: it is not for --local")
    if (args.resize or args.quality) and not args.local and args.mode != "upload":
        parser.error(
            "--resize and --quality change the bytes sent: use them with --mode upload (or --local); "
            "in path mode the node reads the file itself"
        )
    if args.bandwidth and args.mode != "upload":
        parser.error("--bandwidth throttles uploads: use it with --mode upload")
    if args.remote_root and args.mode != "path":
        parser.error("--remote-root maps paths: it is for --mode path")
    if args.resume and not args.log:
        parser.error("--resume needs --log FILE: the log of the run to continue")
    if args.retries < 0 or args.warmup < 0:
        parser.error("--retries and --warmup must be >= 0")
    if args.local and args.wait:
        parser.error("--wait is for nodes, not --local")
    if args.discover:
        name, _, port = args.discover.rpartition(":")
        if not name or not port.isdigit():
            parser.error(f"--discover {args.discover!r}: give NAME:PORT, e.g. objdet-node-headless:5000")
        if args.wait is None:
            args.wait = 600.0
    args.nodes = args.nodes or ([] if args.local or args.discover else [DEFAULT_NODE])
    for address in args.nodes:
        try:
            node_url(address)
        except ValueError as exc:
            parser.error(str(exc))
    if len(set(args.nodes)) != len(args.nodes):
        parser.error("a node is listed twice in --nodes")
    return args


def default_label(args: argparse.Namespace) -> str:
    """Run name for reports when --label is not given."""
    pre = setting_label(preprocess_of(args))
    if args.local:
        return f"local{pre} [{args.model_name}]" if args.model_name else f"local{pre}"
    label = f"{args.mode}{pre} {len(args.nodes)} node{'s' if len(args.nodes) > 1 else ''}"
    if args.model_name:
        label += f" [{args.model_name}]"
    if args.per_node > 1:
        label += f" x{args.per_node}"
    if args.bandwidth:
        label += f" @{args.bandwidth:g}MB/s"
    if args.rtt is not None:
        label += f" +{args.rtt:g}ms"
    return label


def preprocess_of(args: argparse.Namespace) -> Preprocess:
    """The edge preprocessing the options ask for."""
    return Preprocess(resize=args.resize, quality=args.quality)


def setting_label(pre: Preprocess) -> str:
    """` 320px q75`, ` q50`, or `` for the file as it is: the preprocessing part of a run label."""
    if not pre.active:
        return ""
    return (f" {pre.resize}px" if pre.resize is not None else "") + f" q{pre.jpeg_quality}"
