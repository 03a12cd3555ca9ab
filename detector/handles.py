"""Model handles: what MODEL_HANDLE may be (TF Hub URL, Kaggle URL or handle, local SavedModel folder)."""

from __future__ import annotations

import os
import re

DEFAULT_HANDLE = "https://tfhub.dev/google/faster_rcnn/openimages_v4/inception_resnet_v2/1"
KAGGLE_MODELS = "https://www.kaggle.com/models/"
# owner/model/framework/variation/version, as Kaggle shows it (e.g. google/x/tensorFlow2/y/1)
_KAGGLE_HANDLE = re.compile(r"^[\w.-]+/[\w.-]+/[\w.-]+/[\w.-]+/\d+$")
_FILE_SCHEME = "file://"


def is_remote(handle: str) -> bool:
    """True for handles tensorflow_hub downloads (http, https, gs); `file://` and plain paths are local."""
    return "://" in handle and not handle.startswith(_FILE_SCHEME)


def local_path(handle: str) -> str:
    """The folder a local handle names (`file://X` -> `X`)."""
    return handle[len(_FILE_SCHEME) :] if handle.startswith(_FILE_SCHEME) else handle


def normalize_handle(handle: str) -> str:
    """A URL as given, `file://X` -> X, a Kaggle handle -> its Kaggle model URL, anything else as a local path."""
    handle = handle.strip()
    if handle.startswith(_FILE_SCHEME):
        return local_path(handle)
    if "://" in handle:
        return handle
    if not os.path.exists(handle) and _KAGGLE_HANDLE.match(handle):
        return KAGGLE_MODELS + handle
    return handle
