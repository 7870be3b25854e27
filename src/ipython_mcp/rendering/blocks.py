"""The content blocks a rendered execution is made of, free of any MCP type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    """Text for the model to read."""

    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image, base64-encoded as the kernel sent it."""

    data: str
    mime_type: str


Block = Text | Image
