"""What the upload accepts and refuses (§13): by content, re-encoded, nothing left behind."""

import io
import struct
import unicodedata

import pytest
from django.db import IntegrityError
from PIL import ExifTags, Image

from media_library.models import MediaAsset
from media_library.selectors import media_assets_search
from media_library.services import MediaError, media_asset_delete, media_asset_upload
from media_library.tests.samples import (
    HTML,
    PDF,
    SVG,
    animated_gif_bytes,
    files_under,
    image_bytes,
    jpeg_with_gps,
    png_bomb,
    upload,
)
from rdz.core.models import AuditLog

pytestmark = pytest.mark.django_db


def stored_image(asset: MediaAsset) -> Image.Image:
    with asset.file.open("rb") as fp:
        return Image.open(io.BytesIO(fp.read()))


@pytest.mark.parametrize(("fmt", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")])
def test_each_accepted_format_is_stored_re_encoded_with_a_thumbnail(zr7_staff, media_root, fmt, extension):
    asset = media_asset_upload(
        upload=upload(f"Bannière solaire.{extension}", image_bytes(fmt)),
        entity="ZR7",
        user=zr7_staff,
        tags=["solaire", "Toiture"],
    )

    assert (asset.format, asset.width, asset.height) == (fmt, 40, 30)
    assert asset.title == "Bannière solaire"
    assert asset.file.name.endswith(f".{extension}")
    assert "Bannière" not in asset.file.name  # random name, not the client's
    assert asset.size == (media_root / asset.file.name).stat().st_size
    assert stored_image(asset).format == fmt
    assert (media_root / asset.thumbnail.name).exists()
    assert sorted(t.name for t in asset.tags.all()) == ["solaire", "toiture"]
    assert asset.uploaded_by == zr7_staff
    assert AuditLog.objects.filter(action="media.upload", object_id=str(asset.pk)).exists()


def test_a_one_pixel_image_is_accepted(zr7_staff):
    asset = media_asset_upload(upload=upload("pixel.png", image_bytes("PNG", (1, 1))), entity="ZR7", user=zr7_staff)

    assert (asset.width, asset.height) == (1, 1)


def test_an_animated_gif_keeps_its_frames(zr7_staff):
    asset = media_asset_upload(upload=upload("anim.gif", animated_gif_bytes(frames=3)), entity="ZR7", user=zr7_staff)

    assert getattr(stored_image(asset), "n_frames", 1) == 3


def test_a_png_renamed_jpg_is_judged_by_its_content(zr7_staff):
    asset = media_asset_upload(
        upload=upload("photo.jpg", image_bytes("PNG"), content_type="image/jpeg"), entity="ZR7", user=zr7_staff
    )

    assert asset.format == "PNG"
    assert asset.file.name.endswith(".png")
    assert stored_image(asset).format == "PNG"


def test_gps_exif_and_comments_are_stripped_and_orientation_is_kept(zr7_staff):
    source = Image.open(io.BytesIO(jpeg_with_gps()))
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the sample really carries GPS

    asset = media_asset_upload(upload=upload("gps.jpg", jpeg_with_gps()), entity="ZR7", user=zr7_staff)

    stored = stored_image(asset)
    exif = stored.getexif()
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert len(exif) == 0
    assert "exif" not in stored.info
    assert "comment" not in stored.info
    # Orientation 6 (90°) is applied to the pixels before EXIF is dropped.
    assert (asset.width, asset.height) == (20, 60) == stored.size


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("logo.svg", SVG, "pas une image acceptée"),
        ("page.png", HTML, "pas une image acceptée"),
        ("devis.pdf", PDF, "pas une image acceptée"),
        ("coupee.jpg", image_bytes("JPEG", (200, 200))[:600], "tronquée"),
        ("bombe.png", png_bomb(), "trop grande"),
        ("vide.png", b"", "vide"),
    ],
    ids=["svg", "html-named-png", "pdf", "truncated-jpeg", "png-bomb", "empty"],
)
def test_unsafe_or_broken_files_are_refused_and_leave_nothing_behind(zr7_staff, media_root, name, data, message):
    with pytest.raises(MediaError, match=message):
        media_asset_upload(upload=upload(name, data), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []
    assert not MediaAsset.objects.exists()


def test_the_bomb_sample_is_small_but_announces_billions_of_pixels():
    data = png_bomb()

    assert len(data) < 10_000
    assert struct.unpack(">II", data[16:24]) == (60_000, 60_000)  # IHDR width, height


def test_pillow_decompression_bomb_warning_is_a_refusal(zr7_staff, settings, monkeypatch, media_root):
    settings.MEDIA_MAX_PIXELS = 10**12
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40×30 = 1200 pixels: Pillow only warns

    with pytest.raises(MediaError, match="bombe de décompression"):
        media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []


def test_width_or_height_over_the_cap_is_refused(zr7_staff, settings):
    settings.MEDIA_MAX_WIDTH = 30

    with pytest.raises(MediaError, match="trop grande"):
        media_asset_upload(upload=upload("large.png", image_bytes("PNG", (31, 2))), entity="ZR7", user=zr7_staff)


def test_a_file_over_the_size_limit_is_refused(zr7_staff, settings, media_root):
    data = image_bytes("PNG", (200, 200), compress_level=0)
    settings.MEDIA_MAX_UPLOAD_BYTES = len(data) - 1

    with pytest.raises(MediaError, match="trop volumineux"):
        media_asset_upload(upload=upload("lourd.png", data), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []


def test_a_database_failure_removes_the_files_already_written(zr7_staff, media_root, monkeypatch):
    def broken_create(**kwargs):
        raise IntegrityError("boom")

    monkeypatch.setattr(MediaAsset.objects, "create", broken_create)

    with pytest.raises(IntegrityError):
        media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []


def test_a_viewer_cannot_upload(zr7_viewer, media_root):
    with pytest.raises(MediaError, match="rôle"):
        media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="ZR7", user=zr7_viewer)

    assert files_under(media_root) == []


def test_a_zr7_account_cannot_file_an_image_under_mdl(zr7_staff, media_root):
    with pytest.raises(MediaError, match="MDL"):
        media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="MDL", user=zr7_staff)

    assert files_under(media_root) == []


def test_deleting_removes_the_file_and_thumbnail_once_committed(
    zr7_staff, media_root, django_capture_on_commit_callbacks
):
    asset = media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="ZR7", user=zr7_staff)
    assert len(files_under(media_root)) == 2

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        media_asset_delete(asset=asset, user=zr7_staff)
    assert len(files_under(media_root)) == 2  # nothing removed before the commit
    for callback in callbacks:
        callback()

    assert files_under(media_root) == []
    assert not MediaAsset.objects.exists()
    assert AuditLog.objects.filter(action="media.delete").exists()


def test_a_second_deletion_of_the_same_image_changes_nothing_and_is_not_audited(
    zr7_staff, media_root, django_capture_on_commit_callbacks
):
    # A double click on « Supprimer définitivement », or two tabs: both requests loaded the image.
    asset = media_asset_upload(upload=upload("a.png", image_bytes("PNG")), entity="ZR7", user=zr7_staff)
    stale = MediaAsset.objects.get(pk=asset.pk)

    with django_capture_on_commit_callbacks(execute=True):
        media_asset_delete(asset=asset, user=zr7_staff)
        media_asset_delete(asset=stale, user=zr7_staff)

    assert AuditLog.objects.filter(action="media.delete").count() == 1
    assert files_under(media_root) == []


def test_the_alt_text_defaults_to_the_title_from_the_file_name(zr7_staff):
    asset = media_asset_upload(upload=upload("pompe_a_chaleur.png", image_bytes("PNG")), entity="ZR7", user=zr7_staff)

    assert (asset.title, asset.alt_text) == ("pompe a chaleur", "pompe a chaleur")


def test_a_file_name_with_decomposed_accents_is_found_by_a_search_typed_with_accents(zr7_staff):
    # macOS sends "été" as "e" + combining accent (NFD); a keyboard types the composed "é" (NFC).
    name = unicodedata.normalize("NFD", "Toiture_été.png")

    asset = media_asset_upload(
        upload=upload(name, image_bytes("PNG")),
        entity="ZR7",
        user=zr7_staff,
        tags=[unicodedata.normalize("NFD", "Été")],
    )

    assert (asset.title, asset.original_name) == ("Toiture été", "Toiture_été.png")
    assert list(asset.tags.values_list("name", flat=True)) == ["été"]
    assert list(media_assets_search(user=zr7_staff, query="été")) == [asset]


def test_an_animated_webp_keeps_its_frames(zr7_staff):
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "green")]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)

    asset = media_asset_upload(upload=upload("anim.webp", out.getvalue()), entity="ZR7", user=zr7_staff)

    assert asset.format == "WEBP"
    assert getattr(stored_image(asset), "n_frames", 1) == 2


def test_a_cmyk_jpeg_is_stored_as_rgb(zr7_staff):
    out = io.BytesIO()
    Image.new("CMYK", (10, 10), (0, 100, 100, 0)).save(out, "JPEG")

    asset = media_asset_upload(upload=upload("print.jpg", out.getvalue()), entity="ZR7", user=zr7_staff)

    assert stored_image(asset).mode == "RGB"


def test_too_many_animation_frames_are_refused(zr7_staff, settings, media_root):
    settings.MEDIA_MAX_FRAMES = 2

    with pytest.raises(MediaError, match="Animation trop longue"):
        media_asset_upload(upload=upload("long.gif", animated_gif_bytes(frames=3)), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []


def test_an_animation_whose_frames_together_pass_the_pixel_cap_is_refused(zr7_staff, settings, media_root):
    settings.MEDIA_MAX_PIXELS = 20 * 20 * 2  # two 20×20 frames fit, three do not

    with pytest.raises(MediaError, match="Animation trop lourde"):
        media_asset_upload(upload=upload("lourde.gif", animated_gif_bytes(frames=3)), entity="ZR7", user=zr7_staff)

    assert files_under(media_root) == []


def test_a_16_bit_greyscale_png_keeps_its_shades_in_the_file_and_the_thumbnail(zr7_staff, media_root):
    # A grey ramp from black to white, as scanners and photo tools export it (16 bits per pixel).
    ramp = Image.new("I;16", (256, 4))
    for x in range(256):
        for y in range(4):
            ramp.putpixel((x, y), x * 257)
    out = io.BytesIO()
    ramp.save(out, "PNG")

    asset = media_asset_upload(upload=upload("scan.png", out.getvalue()), entity="ZR7", user=zr7_staff)

    stored = stored_image(asset)
    stored_grey = [stored.getpixel((x, 0)) // 257 for x in (0, 64, 128, 255)] if stored.mode == "I;16" else None
    assert stored_grey == [0, 64, 128, 255]
    thumb = Image.open(media_root / asset.thumbnail.name).convert("L")
    shades = [thumb.getpixel((x, 0)) for x in range(0, thumb.width, thumb.width // 4)]
    assert shades == sorted(shades) and shades[0] < 30 and 100 < shades[2] < 160  # still a ramp, not clipped to white
