"""Checking a citizen's photo: its type by content, its size, and removing its metadata.

Photos from phones carry EXIF with the GPS position of the camera (often the reporter's home),
the device and the time; XMP can carry the same. The photo is decoded and encoded again from the
pixels alone, so nothing but the picture survives.
"""

import io
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from . import conf

# Pillow format name -> (file extension, save options).
FORMATS = {
    "JPEG": ("jpg", {"quality": 85, "optimize": True}),
    "PNG": ("png", {"optimize": True}),
    "WEBP": ("webp", {"quality": 85}),
}
# Refuse decompression bombs: a small file that decodes to a huge bitmap.
MAX_PIXELS = 50_000_000


class PhotoError(ValueError):
    """The upload is not an acceptable photo; the message says why."""


@dataclass(frozen=True)
class CleanPhoto:
    content: bytes
    extension: str
    width: int
    height: int


def photo_clean(*, upload) -> CleanPhoto:
    """Check an uploaded file (type by content, size) and re-encode it without metadata."""
    max_bytes = conf.get("GEO_OPS_PHOTO_MAX_BYTES")
    if upload.size > max_bytes:
        raise PhotoError(
            _("The photo is too large (%(size)s MB); the limit is %(limit)s MB.")
            % {"size": f"{upload.size / 2**20:.1f}", "limit": f"{max_bytes / 2**20:.0f}"}
        )
    not_a_photo = _("Upload a photo in JPEG, PNG or WebP format.")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            if image.format not in FORMATS:
                raise PhotoError(not_a_photo)
            if image.width * image.height > MAX_PIXELS:
                raise PhotoError(_("The photo has too many pixels."))
            image.load()
            image_format = image.format
            extension, options = FORMATS[image_format]
            # Apply the EXIF orientation to the pixels before the EXIF goes.
            image = ImageOps.exif_transpose(image)
            image = _pixels_only(image, image_format=image_format)
    except PhotoError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError):
        raise PhotoError(not_a_photo) from None
    edge = conf.get("GEO_OPS_PHOTO_MAX_EDGE_PX")
    image.thumbnail((edge, edge))
    out = io.BytesIO()
    # No exif=, xmp= or icc_profile= arguments and an empty info dict: nothing but pixels.
    image.save(out, format=image_format, **options)
    return CleanPhoto(
        content=out.getvalue(), extension=extension, width=image.width, height=image.height
    )


def _pixels_only(image: Image.Image, *, image_format: str) -> Image.Image:
    """A new image holding only the pixels (no info dict: EXIF, XMP, comments, text chunks)."""
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif image.mode == "P" or image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    clean.info = {}
    return clean
