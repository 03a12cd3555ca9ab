"""app.config: settings from environment variables, defaults that work, clear errors."""

import pytest

from app.config import ConfigError, Settings
from detector import DEFAULT_HANDLE


def test_defaults():
    s = Settings.from_env({})
    assert s.model_handle == DEFAULT_HANDLE
    assert (s.images_dir, s.output_dir, s.port, s.min_score, s.max_boxes) == (
        "/app/images",
        "/app/output",
        5000,
        0.1,
        10,
    )


def test_values_are_read_and_typed():
    s = Settings.from_env({"PORT": "5003", "MIN_SCORE": "0.35", "WORKERS": "2", "MODEL_HANDLE": " /m ", "THREADS": ""})
    assert (s.port, s.min_score, s.workers, s.model_handle, s.threads) == (5003, 0.35, 2, "/m", Settings().threads)


@pytest.mark.parametrize(
    "env, text",
    [
        ({"PORT": "abc"}, "PORT='abc' is not a valid int"),
        ({"MIN_SCORE": "2"}, "MIN_SCORE must be between 0 and 1"),
        ({"WORKERS": "0"}, "WORKERS must be >= 1"),
        ({"MAX_UPLOAD_MB": "-1"}, "MAX_UPLOAD_MB must be > 0"),
    ],
)
def test_bad_values_name_the_variable(env, text):
    with pytest.raises(ConfigError, match=text.replace("(", r"\(")):
        Settings.from_env(env)
