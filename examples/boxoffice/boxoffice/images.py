"""Pure image and PDF rendering for the worker's tasks (no storage, no database)."""

from __future__ import annotations

import io
import posixpath

from PIL import Image, ImageDraw, ImageFont, ImageOps

from boxoffice import uploads  # noqa: F401  (sets Image.MAX_IMAGE_PIXELS in the worker too)

DISPLAY_SIDE = 1200
THUMB_SIDE = 320


def derivative_names(original: str) -> tuple[str, str]:
    """(display, thumbnail) keys in the public bucket for an original's key: derived from its random name,
    so a re-run of the task (a killed worker, a retry) finds and keeps what an earlier run stored."""
    stem = posixpath.splitext(posixpath.basename(original))[0]
    return f"events/display/{stem}.jpg", f"events/thumbs/{stem}.jpg"


def images_action(published: bool, original: str, display: str) -> str | None:
    """What the worker must do for an event's public images: "make", "remove" or nothing (None)."""
    if published and original:
        return None if display == derivative_names(original)[0] else "make"
    return "remove" if display else None


def render_jpeg(data: bytes, max_side: int) -> bytes:
    """Re-encode an (already validated) image as a JPEG no larger than max_side: the first frame of an
    animation, turned upright by its EXIF orientation, transparency flattened on white, metadata dropped."""
    with Image.open(io.BytesIO(data)) as src:
        src.seek(0)
        img = ImageOps.exif_transpose(src)
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            flat = Image.new("RGB", img.size, "white")
            flat.paste(img, mask=img.getchannel("A"))
            img = flat
        elif img.mode != "RGB":
            img = img.convert("RGB")
        out = io.BytesIO()
        img.save(out, "JPEG", quality=85, optimize=True)
        return out.getvalue()


def ticket_pdf(lines: list[str]) -> bytes:
    """A one-page A5 ticket: the given lines of text, rendered by Pillow and saved as a PDF."""
    page = Image.new("L", (874, 1240), 255)  # A5 at 150 dpi
    draw = ImageDraw.Draw(page)
    title = ImageFont.load_default(size=48)
    body = ImageFont.load_default(size=30)
    draw.rectangle((40, 40, 834, 1200), outline=0, width=4)
    y = 90
    for i, line in enumerate(lines):
        draw.text((80, y), line, fill=0, font=title if i == 0 else body)
        y += 80 if i == 0 else 50
    out = io.BytesIO()
    page.save(out, "PDF", resolution=150.0)
    return out.getvalue()
