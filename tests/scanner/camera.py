"""A fake rear camera for Chromium: a Y4M video of a printed, photographed certificate QR."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from issuer import render_png

WIDTH, HEIGHT = 640, 480


#: Chromium flags that replace the camera with a Y4M file and grant camera access without a prompt.
def fake_camera_args(video: Path) -> list[str]:
    """Return the launch flags that make ``video`` the camera."""
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]


def photographed(qr_text: str | None, *, angle: float = 4.0, blur: float = 0.9) -> Image.Image:
    """Return a 640x480 camera frame: a sheet with the QR (or a blank sheet) on a desk, rotated and blurred."""
    desk = Image.new("RGB", (WIDTH, HEIGHT), (92, 84, 70))
    sheet = Image.new("RGB", (400, 440), (236, 234, 226))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([20, 395, 380, 405], fill=(70, 70, 70))  # a printed line under the code
    if qr_text is not None:
        qr = Image.open(io.BytesIO(render_png(qr_text, scale=4))).convert("RGB")
        qr = qr.resize((360, 360), Image.Resampling.NEAREST)
        sheet.paste(qr, (20, 20))
    sheet = sheet.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(92, 84, 70))
    desk.paste(sheet, ((WIDTH - sheet.width) // 2, (HEIGHT - sheet.height) // 2))
    # Uneven light across the page, then the lens: a little blur.
    shade = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).rotate(90)
    desk = Image.composite(desk, Image.eval(desk, lambda v: int(v * 0.8)), shade)
    return desk.filter(ImageFilter.GaussianBlur(blur))


def write_y4m(path: Path, frames: list[Image.Image], fps: int = 10) -> None:
    """Write frames as a 4:2:0 YUV4MPEG2 file, the format Chromium's fake camera reads."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            y, cb, cr = frame.convert("YCbCr").split()
            f.write(b"FRAME\n")
            f.write(y.tobytes())
            half = (WIDTH // 2, HEIGHT // 2)
            f.write(cb.resize(half, Image.Resampling.BILINEAR).tobytes())
            f.write(cr.resize(half, Image.Resampling.BILINEAR).tobytes())


def film(path: Path, qr_text: str | None) -> None:
    """Write a short loop: two frames of an empty sheet, then the certificate held in view."""
    blank = photographed(None)
    frames = [blank, blank]
    if qr_text is not None:
        frames += [photographed(qr_text, angle=a) for a in (4.0, 4.5, 3.5, 4.0, 5.0, 4.0)]
    write_y4m(path, frames)
