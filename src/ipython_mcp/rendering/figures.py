"""Figures fitted for the model: scaled to a long edge, re-encoded to the smaller of a faithful
PNG and (for photo-like images) a JPEG, and kept within one result's image budget.

Clients and models set hard limits: the Claude API downsizes images past a 1568-px long edge
anyway and rejects them over 8000 px; some clients count an image's base64 against the same
token limit as text (25,000 tokens in Claude Code). A figure as drawn may be a 4000-px, 8 MB
PNG. Here each is scaled down (never up), encoded as a PNG of at most 256 colours (what a chart
drawn with antialiasing needs, no visible loss) or, when the image is photo-like and it is
smaller, a JPEG; the figures of one result then go in order while they fit its budget, a figure
that does not fit made smaller down to SMALLEST_EDGE, and past that left out, named with a
FigureLeftOut block. Fitting is CPU work: callers run it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import math
from collections.abc import Iterable
from dataclasses import replace

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .blocks import Block, FigureLeftOut, Image

SMALLEST_EDGE = 400
"""A figure is made no smaller than this to fit a budget: below it, it is left out and named."""
_KEEP_AS_IS = 12_000
"""Base64 characters under which a figure within the long edge is sent as the kernel drew it."""
_PHOTO_SHARE = 0.5
"""An image whose 32 commonest colours cover less than this share of it is photo-like."""
_JPEG_QUALITY = 85
_MAX_PIXELS = 100_000_000
"""Larger images are not decoded (Pillow's decompression-bomb guard is about this size)."""


def fit_figures(blocks: Iterable[Block], *, long_edge: int, budget: int) -> list[Block]:
    """The blocks with each image fitted to `long_edge`, and in order while they fit `budget`
    base64 characters together; the figures past it as FigureLeftOut blocks."""
    fitted: list[Block] = []
    room = budget
    for block in blocks:
        if not isinstance(block, Image):
            fitted.append(block)
            continue
        image = fit_image(block, long_edge)
        edge = max(image.width, image.height)
        while len(image.data) > room and edge > SMALLEST_EDGE:
            edge = max(SMALLEST_EDGE, int(edge * math.sqrt(room / len(image.data)) * 0.9))
            image = fit_image(block, edge)
        if len(image.data) > room:
            width, height = image.drawn or (image.width, image.height)
            fitted.append(FigureLeftOut(image.figure, width, height, len(image.data)))
            continue
        room -= len(image.data)
        fitted.append(image)
    return fitted


def fit_image(image: Image, long_edge: int) -> Image:
    """The image scaled to at most `long_edge` pixels on its longer side and re-encoded where
    that makes it smaller, with its pixels (and those drawn, when scaled); as it came when it
    cannot be decoded."""
    data, mime, width, height, drawn = _fit(image.data, image.mime_type, long_edge)
    return replace(image, data=data, mime_type=mime, width=width, height=height, drawn=drawn)


@functools.lru_cache(maxsize=64)
def _fit(data: str, mime: str, long_edge: int) -> tuple[str, str, int, int, tuple[int, int] | None]:
    try:
        img = PILImage.open(io.BytesIO(base64.b64decode(data)))  # reads the header only
        drawn = (img.width, img.height)
        scale = long_edge / max(drawn)
        if img.width * img.height > _MAX_PIXELS or (scale >= 1 and len(data) <= _KEEP_AS_IS):
            return data, mime, *drawn, None
        img.load()
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError, PILImage.DecompressionBombError):
        return data, mime, 0, 0, None
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = _flat(img).resize(size, PILImage.Resampling.LANCZOS)
    encoded, new_mime = _smallest(_flat(img))
    if scale >= 1 and len(encoded) * 4 // 3 >= len(data) * 0.95:
        return data, mime, *drawn, None  # re-encoding would not save enough to be worth a change
    return base64.b64encode(encoded).decode(), new_mime, img.width, img.height, drawn if scale < 1 else None


def _flat(img: PILImage.Image) -> PILImage.Image:
    """RGB, or RGBA where some pixel is transparent; palette and grey images widened to them."""
    if img.mode == "RGB":
        return img
    rgba = img.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return rgba.convert("RGB")
    return rgba


def _smallest(img: PILImage.Image) -> tuple[bytes, str]:
    """The smaller of a PNG of at most 256 colours (exact when the image has that few) and,
    for an opaque photo-like image, a JPEG."""
    colours = img.getcolors(256)
    if colours is not None and img.mode == "RGB":  # median cut keeps so few colours exactly
        palette = img.quantize(len(colours), method=PILImage.Quantize.MEDIANCUT)
    else:
        count = len(colours) if colours else 256
        palette = img.quantize(count, method=PILImage.Quantize.FASTOCTREE, dither=PILImage.Dither.NONE)
    candidates = [(_encode(palette, "PNG", optimize=True), "image/png")]
    if img.mode == "RGB" and _photo_like(img):
        candidates.append((_encode(img, "JPEG", quality=_JPEG_QUALITY, optimize=True), "image/jpeg"))
    return min(candidates, key=lambda candidate: len(candidate[0]))


def _photo_like(img: PILImage.Image) -> bool:
    """Whether few pixels share colours, as in a photo (a chart is mostly a few flat colours)."""
    thumb = img.copy()
    thumb.thumbnail((128, 128))
    counts = sorted((count for count, _ in thumb.getcolors(128 * 128) or []), reverse=True)
    return sum(counts[:32]) < _PHOTO_SHARE * thumb.width * thumb.height


def _encode(img: PILImage.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()
