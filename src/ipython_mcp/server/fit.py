"""Keeping every result within what transports accept, whatever the kernel printed or drew.

The official MCP client refuses a server-sent event over 1 MiB on streamable HTTP, so a
result that big fails outright rather than arriving cut. Results are kept under RESULT_BYTES
serialized: text first (it is already within its budget, unless the user raised that budget a
lot), then images in order while they fit; what was left out is named, with how to get it.
"""

from __future__ import annotations

import json

from mcp_types import CallToolResult, ImageContent, TextContent

RESULT_BYTES = 800_000
"""Serialized size of one result's content at most: well under 1 MiB with the envelope."""
_NOTICE_ROOM = 1_000
_MOST_BYTES_PER_CHAR = 6
"""A character takes at most this many bytes in JSON (a control character's \\u0000 escape)."""


def fit_result(result: CallToolResult, more: str = "") -> CallToolResult:
    """The result, its content within RESULT_BYTES. `more` names the call that returns the
    whole text output (for an execution: read_output)."""
    content = list(result.content)
    texts = [block for block in content if isinstance(block, TextContent)]
    image_bytes = sum(len(block.data) for block in content if isinstance(block, ImageContent))
    if _MOST_BYTES_PER_CHAR * sum(len(block.text) for block in texts) + image_bytes <= RESULT_BYTES:
        return result  # the usual case, told without encoding anything
    text_bytes = sum(_size(block.text) for block in texts)
    if text_bytes + image_bytes <= RESULT_BYTES:
        return result
    text_room = RESULT_BYTES - _NOTICE_ROOM
    if text_bytes > text_room:
        content = [_clip(block, text_room * _size(block.text) // text_bytes, more)
                   if isinstance(block, TextContent) else block for block in content]  # fmt: skip
        text_bytes = sum(_size(block.text) for block in content if isinstance(block, TextContent))
    room = RESULT_BYTES - _NOTICE_ROOM - text_bytes
    kept: list[TextContent | ImageContent] = []
    left_out: list[int] = []
    for block in content:
        if isinstance(block, ImageContent):
            if len(block.data) > room or left_out:  # in order: never a later figure without an earlier
                left_out.append(len(block.data))
                continue
            room -= len(block.data)
        kept.append(block)  # type: ignore[arg-type]
    if left_out:
        kept.append(TextContent(type="text", text=_images_notice(left_out, kept)))
    return CallToolResult(content=kept, is_error=result.is_error)


def fit_text(text: str) -> str:
    """A plain text result within RESULT_BYTES."""
    if _MOST_BYTES_PER_CHAR * len(text) <= RESULT_BYTES or _size(text) <= RESULT_BYTES:
        return text
    return _cut(text, RESULT_BYTES - _NOTICE_ROOM, "")


def _images_notice(sizes: list[int], kept: list[TextContent | ImageContent]) -> str:
    shown = sum(isinstance(block, ImageContent) for block in kept)
    count = len(sizes)
    what = "1 image" if count == 1 else f"{count} images"
    which = f" (the last {count} of {count + shown})" if shown else ""
    return (
        f"[{what}{which}, {sum(sizes) * 3 / 4 / 1e6:.1f} MB, left out of this result: together "
        "too large to send at once. Draw fewer figures per call, or smaller ones (figsize, dpi), "
        "or save them with savefig and look at one at a time.]"
    )


def _clip(block: TextContent, room: int, more: str) -> TextContent:
    if _size(block.text) <= room:
        return block
    return TextContent(type="text", text=_cut(block.text, room, more))


def _cut(text: str, room: int, more: str) -> str:
    """Head and tail of `text` within about `room` bytes serialized, and what was left out."""
    ratio = max(_size(text) / max(len(text), 1), 1.0)  # bytes per character, escapes included
    keep = max(int(room / ratio) // 2, 0)
    left = len(text) - 2 * keep
    hint = f"; {more}" if more else ""
    notice = f"[... {left:,} characters left out: too large to send in one result{hint} ...]"
    return f"{text[:keep]}\n{notice}\n{text[-keep:] if keep else ''}"


def _size(text: str) -> int:
    """Bytes of the text once JSON-encoded in UTF-8, as the transports send it."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))
