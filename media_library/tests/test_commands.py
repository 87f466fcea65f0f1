"""Maintenance commands: thumbnails rebuild and orphan files."""

import os
import time

import pytest
from django.core.management import call_command

from media_library.models import MediaAsset
from tests.factories import MediaAssetFactory

pytestmark = pytest.mark.django_db


def age(path, seconds: int = 7200) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_thumbnails_are_rebuilt_from_the_stored_file(media_root, capsys):
    asset = MediaAssetFactory()
    assert not asset.thumbnail

    call_command("media_thumbnails_rebuild")

    asset.refresh_from_db()
    assert asset.thumbnail.name == f"library/thumbs/{os.path.splitext(os.path.basename(asset.file.name))[0]}.webp"
    assert (media_root / asset.thumbnail.name).exists()
    assert "Miniatures recréées : 1" in capsys.readouterr().out


def test_orphan_files_are_reported_then_deleted_and_missing_files_reported(media_root, capsys):
    kept = MediaAssetFactory()
    lost = MediaAssetFactory()
    (media_root / lost.file.name).unlink()
    orphan = media_root / "library" / "ab" / "orphan.png"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    fresh = media_root / "library" / "ab" / "uploading.png"
    fresh.write_bytes(b"x")
    private = media_root / "exports" / "private.csv"
    private.parent.mkdir()
    private.write_text("not ours")
    age(orphan)
    age(private)

    call_command("media_orphans")
    out = capsys.readouterr().out
    assert "orphelin : library/ab/orphan.png" in out
    assert f"fichier manquant : média {lost.pk}" in out
    assert "uploading.png" not in out  # too young: an upload may be in progress
    assert orphan.exists()

    call_command("media_orphans", "--delete")

    assert not orphan.exists()
    assert fresh.exists() and private.exists()
    assert (media_root / kept.file.name).exists()
    assert MediaAsset.objects.count() == 2
