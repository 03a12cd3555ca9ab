"""Shared fixtures: models and images the tests build, real gunicorn nodes, the shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from harness.nodes import REPO, start_node
from tests import images as test_images

SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
SHARED_MODELS = SHARED / "models"
SHARED_IMAGES = SHARED / "images"
# Screenshots and other files tests leave for people to look at (ignored by git).
ARTIFACTS = REPO / "test-artifacts"
ARTIFACTS_USED = pytest.StashKey[bool]()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: needs ../shared/models and ../shared/images (skipped when absent)")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the run's artefacts (the browser tests' screenshots) are."""
    if config.stash.get(ARTIFACTS_USED, False):
        terminalreporter.write_line(f"test artefacts (browser screenshots): {ARTIFACTS}")


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two tiny SavedModels, one per TF Hub family, built once per session."""
    from harness.tiny_models import build_openimages_style, build_zoo_style

    root = tmp_path_factory.mktemp("models")
    return {
        "openimages": build_openimages_style(root / "openimages-tiny"),
        "zoo": build_zoo_style(root / "zoo-tiny"),
    }


@pytest.fixture(scope="session")
def tiny_models(tiny_model_dirs: dict[str, Path]) -> dict:
    """The tiny models loaded with detector.load_model (shared by every test)."""
    from detector import load_model

    return {family: load_model(str(path)) for family, path in tiny_model_dirs.items()}


@pytest.fixture(scope="session")
def session_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An images root with the generated corpus (good and bad files), shared by the node fixtures."""
    root = tmp_path_factory.mktemp("images")
    test_images.write_corpus(root)
    return root


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    """A fresh images root with the generated corpus, for tests that change it."""
    root = tmp_path / "images"
    root.mkdir()
    test_images.write_corpus(root)
    return root


@pytest.fixture
def app(tiny_models: dict, images_dir: Path, tmp_path: Path):
    """A Flask app (flaskr style) on the tiny OpenImages-style model, loaded once per session."""
    from app import create_app
    from detector import Detector, DetectorOptions

    detector = Detector(tiny_models["openimages"], DetectorOptions())
    return create_app(
        {
            "TESTING": True,
            "IMAGES_DIR": str(images_dir),
            "OUTPUT_DIR": str(tmp_path / "output"),
            "MODEL_HANDLE": "tiny-openimages",
            "MAX_UPLOAD_MB": 1,
            "DETECTOR": detector,
        }
    )


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture(scope="session")
def node(tiny_model_dirs: dict[str, Path], session_images: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real gunicorn node (2 threads) on the tiny OpenImages-style model, for the whole session."""
    out = tmp_path_factory.mktemp("node-output")
    env = {
        "MODEL_HANDLE": str(tiny_model_dirs["openimages"]),
        "IMAGES_DIR": str(session_images),
        "OUTPUT_DIR": str(out),
        "MAX_UPLOAD_MB": "1",
        "MAX_IMAGE_PIXELS": "40000000",
    }
    n = start_node(env, tmp_path_factory.mktemp("logs") / "node.log")
    n.output_dir = out
    n.images_dir = session_images
    yield n
    n.stop()


@pytest.fixture(scope="session")
def shared_dirs() -> tuple[Path, Path]:
    """(models, images) from ../shared; the test is skipped when they are absent."""
    if not (SHARED_MODELS / "openimages-style" / "saved_model.pb").is_file() or not SHARED_IMAGES.is_dir():
        pytest.skip(f"shared models/images not found under {SHARED}")
    return SHARED_MODELS, SHARED_IMAGES
