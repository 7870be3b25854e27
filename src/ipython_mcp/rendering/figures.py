"""Figures fitted for the model: scaled to a long edge, re-encoded to the smaller of a faithful
PNG and (for photo-like images) a JPEG, and kept within one result's image budget.

Clients and models set hard limits: the Claude API downsizes images past a 1568-px long edge
anyway and rejects them over 8000 px; some clients count an image's base64 against the same
token limit as text (25,000 tokens in Claude Code). A figure as drawn may be a 4000-px, 8 MB
PNG. Here each is scaled down (never up), encoded as a PNG of at most 256 colours (what a chart
drawn with antialiasing needs, no visible loss) or, when the image is photo-like and it is
smaller, a JPEG; the figures of one result then go in order while they fit its budget, a figure
that does not fit made as large as fits down to SMALLEST_EDGE, and past that left out, named with a
FigureLeftOut block. SVGs and charts are drawn here first (ToDraw). Fitting is CPU work: callers
run it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Iterable
from dataclasses import replace

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .blocks import Block, FigureLeftOut, Image, Text, ToDraw

SMALLEST_EDGE = 400
"""A figure is made no smaller than this to fit a budget: below it, it is left out and named."""
_KEEP_AS_IS = 12_000
"""Base64 characters under which a figure within the long edge is sent as the kernel drew it."""
_PHOTO_SHARE = 0.5
"""An image whose 32 commonest colours cover less than this share of it is photo-like."""
_JPEG_QUALITY = 85
_SMALLEST_ROOM = 2_000
"""Base64 characters of a result's image budget left under which no figure is tried."""
_SEARCH_STEPS = 4
_EDGE_PRECISION = 64
"""Pixels of long edge a figure made smaller to fit its budget may lose to a quicker search."""
_MAX_PIXELS = 100_000_000
"""Larger images are not decoded. This replaces Pillow's own decompression-bomb guard, which
would refuse to read even the header (the size) of a larger one."""
PILImage.MAX_IMAGE_PIXELS = None


def fit_figures(blocks: Iterable[Block], *, long_edge: int, budget: int) -> list[Block]:
    """The blocks with each image fitted to `long_edge`, and in order while they fit `budget`
    base64 characters together; the figures past it, and those that cannot be read or scaled,
    as FigureLeftOut blocks."""
    fitted: list[Block] = []
    room = budget
    for block in blocks:
        if isinstance(block, ToDraw):
            block = _drawn(block)
        if not isinstance(block, Image):
            fitted.append(block)
            continue
        drawing = _Drawing(block)
        width, height = drawing.size
        if drawing.unusable:
            fitted.append(FigureLeftOut(block.figure, width, height, len(block.data), drawing.unusable))
            continue
        if room < _SMALLEST_ROOM:  # no figure fits what is left: not worth fitting one
            fitted.append(FigureLeftOut(block.figure, width, height, len(block.data)))
            continue
        image = drawing.fit(long_edge)
        if len(image.data) > room:
            image = _largest_within(drawing, image, room)
        if len(image.data) > room:
            fitted.append(FigureLeftOut(image.figure, width, height, len(image.data)))
            continue
        room -= len(image.data)
        fitted.append(image)
    return fitted


def _drawn(block: ToDraw) -> Block:
    """An SVG or a chart drawn, numbered and described as its place in the output is."""
    try:
        drawn = block.draw()
    except Exception as exc:  # a drawing that failed in a way its own code did not foresee
        return Text(f"[{block.alt.strip('[]') or 'a figure'}; not drawn: {type(exc).__name__}]")
    if not isinstance(drawn, Image):
        return drawn
    return replace(drawn, figure=block.figure, alt=block.alt or drawn.alt)


def _largest_within(drawing: _Drawing, image: Image, room: int) -> Image:
    """The figure at about the largest edge (not under SMALLEST_EDGE) at which it fits `room`:
    a first guess from its area, then a few halvings of the interval (size is not proportional
    to area: scaling down also smooths noise away)."""
    too_big = max(image.width, image.height)
    if too_big <= SMALLEST_EDGE:
        return image
    smallest = drawing.fit(SMALLEST_EDGE)
    if len(smallest.data) > room:
        return smallest
    fits, best = SMALLEST_EDGE, smallest
    guess = int(too_big * math.sqrt(room / len(image.data)))
    for _ in range(_SEARCH_STEPS):
        edge = guess if fits < guess < too_big else (fits + too_big) // 2
        guess = 0
        if too_big - fits <= _EDGE_PRECISION:
            break
        candidate = drawing.fit(edge)
        if len(candidate.data) <= room:
            fits, best = edge, candidate
        else:
            too_big = edge
    return best


def fit_image(image: Image, long_edge: int) -> Image:
    """The image scaled to at most `long_edge` pixels on its longer side and re-encoded where
    that makes it smaller, with its pixels (and those drawn, when scaled); as it came when it
    cannot be decoded."""
    return _Drawing(image).fit(long_edge)


class _Drawing:
    """An image as drawn, decoded and flattened once however many sizes it is fitted to."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.size = (0, 0)
        self.unusable: str = ""
        """Why it cannot be fitted: "unreadable", or "too large" to decode here."""
        self._img: PILImage.Image | None = None
        self._flat: PILImage.Image | None = None
        try:
            self._img = PILImage.open(io.BytesIO(base64.b64decode(image.data)))  # the header only
            self.size = (self._img.width, self._img.height)
        except PILImage.DecompressionBombError:
            self.unusable = "too large"
        except (binascii.Error, ValueError, OSError, UnidentifiedImageError):
            self.unusable = "unreadable"
        if self.size[0] * self.size[1] > _MAX_PIXELS:
            self.unusable = "too large"

    def flat(self) -> PILImage.Image:
        if self._flat is None:
            assert self._img is not None
            self._flat = _flat(self._img)
        return self._flat

    def fit(self, long_edge: int) -> Image:
        """The image at a long edge of at most `long_edge`, re-encoded where that is smaller."""
        image = self.image
        drawn = self.size
        if self.unusable:
            return replace(image, width=drawn[0], height=drawn[1])
        scale = long_edge / max(drawn)
        if scale >= 1 and len(image.data) <= _KEEP_AS_IS:
            return replace(image, width=drawn[0], height=drawn[1])
        try:
            flat = self.flat()
        except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
            self.unusable = "unreadable"
            return replace(image, width=drawn[0], height=drawn[1])
        if scale < 1:
            size = (max(1, round(drawn[0] * scale)), max(1, round(drawn[1] * scale)))
            flat = flat.resize(size, PILImage.Resampling.LANCZOS)
        encoded, mime = _smallest(flat)
        if scale >= 1 and len(encoded) * 4 // 3 >= len(image.data) * 0.95:
            return replace(image, width=drawn[0], height=drawn[1])  # not worth a change
        data, (width, height) = base64.b64encode(encoded).decode(), flat.size
        scaled = drawn if scale < 1 else None
        return replace(image, data=data, mime_type=mime, width=width, height=height, drawn=scaled)


def _flat(img: PILImage.Image) -> PILImage.Image:
    """RGB, or RGBA where some pixel is transparent; palette and grey images widened to them,
    16- and 32-bit ones brought to 8 bits first (converting would clip them)."""
    if img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif img.mode in ("I", "F"):
        low, high = img.getextrema()
        img = img.point(lambda v: (v - low) * (255 / ((high - low) or 1))).convert("L")
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
