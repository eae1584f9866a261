"""Upload validation by content (boxoffice.uploads) and the worker's pure image/PDF rendering."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from boxoffice import images
from boxoffice.uploads import MAX_BYTES, check_dimensions, check_image
from tests.images import png_claiming


def encoded(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else None).save(out, fmt)
    return out.getvalue()


def check(data: bytes, **kwargs: int):  # type: ignore[no-untyped-def]
    return check_image(io.BytesIO(data), len(data), **kwargs)


@pytest.mark.parametrize(
    ("fmt", "ext", "ctype"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp"),
     ("GIF", "gif", "image/gif")],
)  # fmt: skip
def test_whitelisted_formats_pass_with_their_content_type(fmt: str, ext: str, ctype: str) -> None:
    result = check(encoded(fmt))
    assert (result.format, result.width, result.height) == (fmt, 40, 30)
    assert (result.extension, result.content_type) == (ext, ctype)


def test_stored_names_are_random_and_ignore_the_client_name() -> None:
    result = check(encoded("PNG"))
    a, b = result.stored_name(), result.stored_name()
    assert a != b and a.endswith(".png") and len(a) == 36


def test_text_renamed_png_is_refused_by_content() -> None:
    with pytest.raises(ValidationError) as err:
        check(b"just some text, named holiday.png\n" * 20)
    assert err.value.code == "not_an_image"
    assert "by its content" in err.value.messages[0]


def test_other_real_image_formats_are_refused() -> None:
    with pytest.raises(ValidationError) as err:
        check(encoded("BMP"))
    assert err.value.code == "not_an_image"


def test_truncated_image_is_refused() -> None:
    data = encoded("PNG", (200, 200))
    with pytest.raises(ValidationError):
        check(data[: len(data) // 2])


def test_size_is_checked_before_reading_anything() -> None:
    class Unreadable(io.BytesIO):
        def read(self, *a: object) -> bytes:
            raise AssertionError("the file must not be read")

    with pytest.raises(ValidationError) as err:
        check_image(Unreadable(), MAX_BYTES + 1)
    assert err.value.code == "too_large"
    assert "limit is 5 MB" in err.value.messages[0]


def test_empty_file_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        check(b"")
    assert err.value.code == "empty"


@pytest.mark.parametrize(("w", "h"), [(100_000, 100_000), (9_000, 9_000), (10_001, 10)])
def test_pixel_bombs_are_refused_from_the_header_alone(w: int, h: int) -> None:
    with pytest.raises(ValidationError) as err:
        check(png_claiming(w, h))
    assert err.value.code == "too_many_pixels"


def test_dimension_limits() -> None:
    check_dimensions(6000, 4000)
    with pytest.raises(ValidationError, match="6001 x 4000 pixels"):
        check_dimensions(6001, 4000)
    with pytest.raises(ValidationError):
        check_dimensions(10_001, 1)
    with pytest.raises(ValidationError):
        check_dimensions(0, 10)


def test_derivative_names_follow_the_original() -> None:
    assert images.derivative_names("events/originals/abc123.png") == (
        "events/display/abc123.jpg",
        "events/thumbs/abc123.jpg",
    )


@pytest.mark.parametrize(
    ("published", "original", "display", "action"),
    [
        (True, "events/originals/a.png", "", "make"),
        (True, "events/originals/a.png", "events/display/old.jpg", "make"),
        (True, "events/originals/a.png", "events/display/a.jpg", None),
        (False, "events/originals/a.png", "events/display/a.jpg", "remove"),
        (False, "events/originals/a.png", "", None),
        (True, "", "events/display/a.jpg", "remove"),
        (True, "", "", None),
    ],
)
def test_images_action(published: bool, original: str, display: str, action: str | None) -> None:
    assert images.images_action(published, original, display) == action


def test_render_jpeg_bounds_flattens_and_drops_metadata() -> None:
    src = io.BytesIO()
    Image.new("RGBA", (2000, 1000), (255, 0, 0, 0)).save(src, "PNG")
    out = Image.open(io.BytesIO(images.render_jpeg(src.getvalue(), 320)))
    assert out.format == "JPEG" and out.size == (320, 160) and out.mode == "RGB"
    assert out.getpixel((10, 10)) == (255, 255, 255)  # transparent -> white, not black
    assert "exif" not in out.info


def test_render_jpeg_takes_the_first_gif_frame() -> None:
    frames = [Image.new("P", (50, 50), i) for i in range(3)]
    src = io.BytesIO()
    frames[0].save(src, "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(images.render_jpeg(src.getvalue(), 100))).size == (50, 50)


def test_ticket_pdf_is_a_pdf() -> None:
    pdf = images.ticket_pdf(["Tiers box office - ticket", "Event: Test"])
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
