"""Event image uploads: validated by content (Pillow), never by file name, before anything is stored.

Order of checks, cheapest and safest first: byte size; then the header only (``Image.open`` is lazy: it
reads the format and the dimensions, no pixel data); the format whitelist; the pixel cap (checked here,
before anything is decoded, so a decompression bomb is refused without being decoded); ``verify()`` (the
file's structure and checksums); and last a full decode of the now-bounded image in a fresh ``open()``
(``verify()`` leaves the image unusable), which catches truncated pixel data.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000  # e.g. 6000 x 4000; a 24 Mpx RGBA decode is ~96 MB of RAM in a worker
MAX_SIDE = 10_000
# Pillow's own bomb guard: warning above MAX_IMAGE_PIXELS, error above twice that. We refuse earlier
# ourselves; this only makes Pillow agree everywhere in the process (the worker's thumbnails included).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Pillow format name -> (stored extension, Content-Type)
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
}


@dataclass(frozen=True)
class CheckedImage:
    format: str
    width: int
    height: int
    extension: str
    content_type: str

    def stored_name(self) -> str:
        """A fresh random name: two uploads never share one, and the client's name never reaches S3."""
        return f"{uuid.uuid4().hex}.{self.extension}"


def human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def check_dimensions(width: int, height: int, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> None:
    if width <= 0 or height <= 0:
        raise ValidationError("The image has no pixels.", code="empty_image")
    if width > max_side or height > max_side or width * height > max_pixels:
        raise ValidationError(
            f"The image is {width} x {height} pixels; the limit is {max_side} pixels a side and "
            f"{max_pixels // 1_000_000} megapixels in all. Resize it and upload it again.",
            code="too_many_pixels",
        )


def check_image(data: IO[bytes], size: int, max_bytes: int = MAX_BYTES) -> CheckedImage:
    """Validate an uploaded file; raise ValidationError with a message for the person uploading it."""
    if size > max_bytes:
        raise ValidationError(
            f"The file is {size / (1024 * 1024):.1f} MB; the limit is {human_bytes(max_bytes)}.",
            code="too_large",
        )
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    allowed = ", ".join(sorted(FORMATS))
    not_image = ValidationError(
        f"This file is not an image Tiers accepts (by its content, whatever its name): use {allowed}.",
        code="not_an_image",
    )
    with warnings.catch_warnings():
        # Between MAX_IMAGE_PIXELS and twice that Pillow only warns: make it an error like the rest.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            data.seek(0)
            with Image.open(data, formats=list(FORMATS)) as header:  # header only: nothing decoded yet
                fmt = header.format or ""
                width, height = header.size
                check_dimensions(width, height)
                header.verify()
            data.seek(0)
            with Image.open(data, formats=list(FORMATS)) as full:
                full.load()  # bounded now: catches truncated or corrupt pixel data
        except ValidationError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationError(
                f"The image has more than {MAX_PIXELS // 1_000_000} megapixels.", code="too_many_pixels"
            ) from None
        except Exception:  # UnidentifiedImageError, SyntaxError, OSError from a broken file, ...
            raise not_image from None
        finally:
            data.seek(0)
    if fmt not in FORMATS:
        raise not_image
    extension, content_type = FORMATS[fmt]
    return CheckedImage(fmt, width, height, extension, content_type)
