"""Read hcert QR text from a photo or scan (needs the ``image`` extra: zxing-cpp, Pillow)."""

from __future__ import annotations

import os

from ._errors import HcertError

__all__ = ["IMAGE_SUFFIXES", "ImageError", "MultipleQrCodes", "UnsupportedImage", "read_qr_image", "sniff_image"]

#: Largest image file read, in bytes; a phone photo is a few MB.
MAX_IMAGE_BYTES = 20 * 1024 * 1024

#: File name endings read as raster images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")

# Leading bytes of the raster formats Pillow reads here, and of vector or
# document formats a user might try (which are refused by name).
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_VECTOR_MAGIC = {b"%PDF-": "a PDF document"}


class ImageError(HcertError):
    """The image could not be read or holds no QR code."""

    code = "qr_unreadable"


class UnsupportedImage(ImageError):
    """The file is an image or document format that is not read (SVG, PDF): give a PNG or JPEG."""

    code = "unsupported_image"


class MultipleQrCodes(ImageError):
    """The image holds more than one QR code; which one to verify would be a guess."""

    code = "multiple_qr_codes"


def sniff_image(head: bytes) -> str | None:
    """Say what kind of image ``head`` (a file's first bytes) starts: ``"raster"``, a vector name, or ``None``."""
    if head.startswith(_RASTER_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "raster"
    for magic, name in _VECTOR_MAGIC.items():
        if head.startswith(magic):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in text):
        return "an SVG image"
    return None


def read_qr_image(path: str | os.PathLike[str]) -> str:
    """Return the text of the one QR code in a PNG, JPEG, GIF, BMP, WebP or TIFF image.

    Raises :class:`UnsupportedImage` for an SVG or PDF file,
    :class:`MultipleQrCodes` if the image holds more than one QR code, and
    :class:`ImageError` if the extra is not installed, the file cannot be read,
    or no QR code is found.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            kind = sniff_image(f.read(1024))
    except OSError as e:
        raise ImageError(f"cannot read image {name!r}") from e
    if kind not in (None, "raster") or name.lower().endswith((".svg", ".svgz", ".pdf")):
        raise UnsupportedImage(
            f"{name!r} is {kind or 'a vector file'}, not a supported image: give a PNG or JPEG photo or scan"
        )
    try:
        import zxingcpp
        from PIL import Image, UnidentifiedImageError
    except ImportError as e:
        raise ImageError("reading images needs: pip install 'hcert-verifier[image]'") from e
    try:
        if os.path.getsize(path) > MAX_IMAGE_BYTES:
            raise ImageError(f"image is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
        Image.MAX_IMAGE_PIXELS = 50_000_000
        with Image.open(path) as img:
            img.load()
            gray = img.convert("L")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ImageError(f"cannot read image {name!r}") from e
    found = [
        b
        for b in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)  # type: ignore[arg-type]
        if b.valid
    ]
    if not found:
        raise ImageError("no readable QR code in the image")
    if len(found) > 1:
        # Verifying "the first" would depend on the decoder's scan order.
        raise MultipleQrCodes(f"the image holds {len(found)} QR codes: photograph one certificate at a time")
    return str(found[0].text)
