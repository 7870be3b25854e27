"""The tool list the model reads is pinned: names, descriptions, argument schemas, annotations
and the instructions, in every mode, compared with tool_list.json beside this file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import mcp

from ipython_mcp.server import build_server
from ipython_mcp.server.http import HttpOptions
from ipython_mcp.settings import Settings

PINNED = Path(__file__).with_name("tool_list.json")


async def _listing(settings: Settings, http: HttpOptions | None = None) -> dict[str, Any]:
    async with mcp.Client(build_server(settings, http=http)) as client:
        tools = (await client.list_tools()).tools
        return {
            "instructions": client.instructions,
            "tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools],
        }


async def test_the_tool_list_is_what_was_pinned(runtime_dir: Path) -> None:
    listings = {
        "default": await _listing(Settings(runtime_dir=str(runtime_dir))),
        "timeout 7.5": await _listing(Settings(runtime_dir=str(runtime_dir), timeout=7.5)),
        "read-only": await _listing(Settings(runtime_dir=str(runtime_dir), read_only=True)),
        "http": await _listing(Settings(runtime_dir=str(runtime_dir)), HttpOptions(token="t")),
    }
    text = json.dumps(listings, indent=1, ensure_ascii=False) + "\n"  # in order, as the model reads it
    if os.environ.get("IPYTHON_MCP_PIN_TOOL_LIST"):
        PINNED.write_text(text)
    assert text == PINNED.read_text()
