"""Keeping TensorFlow's native log lines off a command-line tool's stderr, unless the user asks for them.

TensorFlow's C++ code writes to file descriptor 2 while it is imported ("WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR", "Could not find cuda drivers on your
machine"), before TF_CPP_MIN_LOG_LEVEL is read, and later at its first operation ("failed call to
cuInit", oneDNN and CPU-feature notices) at levels TF_CPP_MIN_LOG_LEVEL=3 hides. So the tools that
import TensorFlow (scripts/sender.py --local, scripts/fetch_model.py, python -m bench) call
quiet_tensorflow() first: it sets TF_CPP_MIN_LOG_LEVEL=3, imports TensorFlow with fd 2 pointed at a
scratch file (replayed on stderr if the import fails, so an error stays readable), and lowers the
Python loggers `absl` and `tensorflow` to errors only. With verbose=True nothing is hidden.
A node (gunicorn.conf.py) keeps its own TF_CPP_MIN_LOG_LEVEL=2: its log is for operators.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings

NOISY_LOGGERS = ("absl", "tensorflow")
DEBUG_LEVEL = "debug"


def wants_verbose(verbose: bool, log_level: str = "") -> bool:
    """True when the user asked for TensorFlow's own logging: --verbose, or LOG_LEVEL=debug."""
    return verbose or log_level.strip().lower() == DEBUG_LEVEL


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow with its native start-up lines held back (nothing is held back when `verbose`).

    Call it before anything imports TensorFlow; a later call (TensorFlow already imported) only sets
    the loggers' levels.
    """
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    if verbose:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        import tensorflow  # noqa: F401 - imported here so both modes import TensorFlow at the same point

        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # errors at the first operation (cuInit) too
    if "tensorflow" not in sys.modules:
        _import_with_fd2_held_back()
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _import_with_fd2_held_back() -> None:
    """`import tensorflow` with fd 2 in a scratch file; its contents go to stderr only if the import fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401 - its C++ logging starts here
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def log_to_stderr(tool: str) -> None:
    """Show the detector package's INFO lines (which source served a model, download progress) on stderr,
    as `TOOL: message`; other libraries' loggers stay as they are."""
    logger = logging.getLogger("detector")
    if any(getattr(h, "detector_tool", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{tool}: %(message)s"))
    handler.detector_tool = True  # type: ignore[attr-defined]  # marks our handler, so a second call adds none
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
