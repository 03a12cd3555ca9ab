#!/usr/bin/env python3
"""Serve SavedModel folders over HTTP the way TF Hub does, so nodes can fetch a model from a machine of yours.

    python scripts/fetch_server.py MODELS_ROOT [--host 127.0.0.1] [--port 8000]

Nodes then use MODEL_HANDLE=http://HOST:PORT/<folder name>/1 (see detector/hub_server.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.hub_server import HubServer


def main(argv: list[str] | None = None) -> int:
    """Serve MODELS_ROOT until interrupted; print the base URL first."""
    parser = argparse.ArgumentParser(prog="fetch_server.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder whose sub-folders are SavedModels")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (0 = any free port; default 8000)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder")
    server = HubServer(args.root, args.host, args.port, verbose=not args.quiet)
    print(f"serving {server.root} at {server.url}  (MODEL_HANDLE={server.url}/<folder name>/1)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
