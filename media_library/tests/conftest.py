"""Fixtures of the media library tests: every test writes into its own MEDIA_ROOT."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.MEDIA_PUBLIC_URL = "https://rdz.example/media/"
    return root
