"""Read hcert QR text from a photo or scan (needs the ``image`` extra: zxing-cpp, Pillow)."""

from __future__ import annotations

import os

from ._errors import HcertError

__all__ = ["ImageError", "read_qr_image"]

#: Largest image file read, in bytes; a phone photo is a few MB.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class ImageError(HcertError):
    """The image could not be read or holds no QR code."""

    code = "qr_unreadable"


def read_qr_image(path: str | os.PathLike[str]) -> str:
    """Return the text of the QR code in a PNG or JPEG image.

    Raises :class:`ImageError` if the extra is not installed, the file cannot be
    read, or no QR code is found.
    """
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
        raise ImageError(f"cannot read image {os.fspath(path)!r}") from e
    barcode = zxingcpp.read_barcode(gray, formats=zxingcpp.BarcodeFormat.QRCode)  # type: ignore[arg-type]
    if barcode is None or not barcode.valid:
        raise ImageError("no readable QR code in the image")
    return str(barcode.text)
