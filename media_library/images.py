"""Image checks and re-encoding for uploads (§13). Pure functions: nothing touches disk.

What is accepted is decided by the content, never by the file name or the browser's
content type: Pillow may only identify JPEG, PNG, WebP and GIF, the header must announce
a size under the caps before any pixel is decoded, `verify()` then a full decode must
succeed, and the pixels are re-encoded into a fresh file so EXIF (GPS…), XMP and comments
are gone. Animated GIF and WebP keep their frames (up to MEDIA_MAX_FRAMES); ICC colour
profiles are kept because they carry no personal data and fix colours.
"""

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_BOX = (400, 400)
# Info keys that are needed to render the image again; everything else is metadata.
_KEPT_INFO = ("transparency", "duration", "loop", "background", "icc_profile")


class ImageRefused(Exception):
    """The file is not an acceptable image; the message is French and shown to the user."""


@dataclass(frozen=True)
class PreparedImage:
    content: bytes
    format: str
    width: int
    height: int
    thumbnail: bytes

    @property
    def size(self) -> int:
        return len(self.content)


def size_check(size: int | None) -> None:
    limit = settings.MEDIA_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        raise ImageRefused(
            f"Fichier trop volumineux ({filesizeformat(size)}) : la limite est de {filesizeformat(limit)}."
        )


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageRefused("Ce fichier n'est pas une image acceptée : seuls JPEG, PNG, WebP et GIF le sont.") from exc


def _dimensions_check(image: Image.Image) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRefused("Image vide (aucun pixel).")
    if width > settings.MEDIA_MAX_WIDTH or height > settings.MEDIA_MAX_HEIGHT:
        raise ImageRefused(
            f"Image trop grande ({width} × {height} px) : au plus "
            f"{settings.MEDIA_MAX_WIDTH} × {settings.MEDIA_MAX_HEIGHT} px."
        )
    if width * height > settings.MEDIA_MAX_PIXELS:
        raise ImageRefused(
            f"Image trop grande ({width * height:,} pixels) : au plus {settings.MEDIA_MAX_PIXELS:,} pixels.".replace(
                ",", " "
            )
        )


def _frames(image: Image.Image, *, animated: bool) -> list[Image.Image]:
    """Decoded frames (only the first unless animated), metadata dropped, EXIF orientation
    baked into the pixels; long animations are refused before all frames are decoded."""
    frames: list[Image.Image] = []
    for frame in ImageSequence.Iterator(image):
        if len(frames) >= settings.MEDIA_MAX_FRAMES:
            raise ImageRefused(f"Animation trop longue : au plus {settings.MEDIA_MAX_FRAMES} images.")
        # Decoded frames are kept in memory: their pixels together stay under the pixel cap.
        if (len(frames) + 1) * frame.size[0] * frame.size[1] > settings.MEDIA_MAX_PIXELS:
            raise ImageRefused("Animation trop lourde : réduisez ses dimensions ou son nombre d'images.")
        frame.load()
        copy = ImageOps.exif_transpose(frame)
        copy.info = {k: v for k, v in frame.info.items() if k in _KEPT_INFO}
        frames.append(copy)
        if not animated:
            break
    return frames


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG) scaled down to 8 bits: a plain convert() clips every value
    above 255, which turns nearly the whole picture white."""
    if image.mode in ("I;16", "I"):
        return image.point(lambda value: value / 256, "L")
    return image


def _encode(frames: list[Image.Image], fmt: str, source_info: dict) -> bytes:
    out = io.BytesIO()
    first = frames[0]
    params: dict = {}
    icc = source_info.get("icc_profile")
    if icc and fmt != "GIF":
        params["icc_profile"] = icc
    if fmt == "JPEG":
        if first.mode not in ("RGB", "L"):
            # A CMYK profile no longer matches converted pixels.
            params.pop("icc_profile", None)
            first = first.convert("RGB")
        first.save(out, "JPEG", quality=88, optimize=True, progressive=True, **params)
    elif fmt == "PNG":
        # PNG stores 16-bit greyscale as is ("I;16"): nothing to lose.
        if first.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
            params.pop("icc_profile", None)
            first = _eight_bit(first)
            if first.mode != "L":
                first = first.convert("RGBA")
        if "transparency" in first.info:
            params["transparency"] = first.info["transparency"]
        first.save(out, "PNG", **params)
    elif len(frames) > 1:
        durations = [frame.info.get("duration", 100) for frame in frames]
        first.save(
            out,
            fmt,
            save_all=True,
            append_images=frames[1:],
            duration=durations,
            loop=source_info.get("loop", 0),
            **({"quality": 85} if fmt == "WEBP" else {}),
            **params,
        )
    elif fmt == "WEBP":
        first.save(out, "WEBP", quality=85, method=4, **params)
    else:
        if "transparency" in first.info:
            params["transparency"] = first.info["transparency"]
        first.save(out, "GIF", **params)
    return out.getvalue()


def thumbnail_make(image: Image.Image) -> bytes:
    thumb = _eight_bit(image.copy())
    if thumb.mode not in ("RGB", "RGBA"):
        thumb = thumb.convert("RGBA")
    thumb.thumbnail(THUMBNAIL_BOX)
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80)
    return out.getvalue()


def image_prepare(upload: UploadedFile) -> PreparedImage:
    """Check one uploaded file and re-encode it, or raise ImageRefused (French message)."""
    size_check(upload.size)
    upload.seek(0)
    # Read one byte past the limit: a lying size header cannot make us read more.
    data = upload.read(settings.MEDIA_MAX_UPLOAD_BYTES + 1)
    size_check(len(data))
    if not data:
        raise ImageRefused("Fichier vide.")
    return image_bytes_prepare(data)


def image_bytes_prepare(data: bytes) -> PreparedImage:
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: a warning is a refusal.
        # (The warnings filter is process-wide; our own caps, checked first, are lower than
        # Pillow's, so a concurrent thread can at worst miss this second line of defence.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = _open(data)
            # A multi-picture JPEG (MPO) is a JPEG whose first picture is the photo.
            fmt = "JPEG" if probe.format == "MPO" else probe.format
            # The header is parsed, no pixel decoded yet: refuse bombs here.
            _dimensions_check(probe)
            probe.verify()
            image = _open(data)
            _dimensions_check(image)
            # Animation is kept for GIF and WebP; an animated PNG (APNG) keeps its first frame.
            frames = _frames(image, animated=fmt in ("GIF", "WEBP"))
            content = _encode(frames, fmt, image.info)
            thumbnail = thumbnail_make(frames[0])
        except ImageRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRefused(
                "Image trop grande : ses dimensions dépassent la limite (bombe de décompression)."
            ) from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
            raise ImageRefused("Image illisible ou tronquée : le fichier est endommagé.") from exc
    width, height = frames[0].size
    return PreparedImage(content=content, format=fmt, width=width, height=height, thumbnail=thumbnail)
