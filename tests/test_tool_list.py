"""The tool list as the model reads it in every conversation: within its budget, lean schemas,
the same validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp
from conftest import Assistant

from ipython_mcp.server import build_server
from ipython_mcp.server.schema import lean_schema
from ipython_mcp.settings import Settings

BUDGET = 10_000
"""Characters of the tool list (tools/list's JSON) in the default mode: every conversation
carries it, about a quarter as many tokens (2,500)."""


async def tool_list(settings: Settings) -> list[dict[str, Any]]:
    async with mcp.Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def titles(node: Any) -> list[str]:
    """Every `title` keyword in a schema (a property named `title` is not one)."""
    if isinstance(node, list):
        return [t for item in node for t in titles(item)]
    if not isinstance(node, dict):
        return []
    found = [node["title"]] if isinstance(node.get("title"), str) else []
    for key, value in node.items():
        if key == "properties":
            found += [t for prop in value.values() for t in titles(prop)]
        elif key != "title":
            found += titles(value)
    return found


async def test_the_tool_list_is_within_its_budget(runtime_dir: Path) -> None:
    listed = await tool_list(Settings(runtime_dir=str(runtime_dir)))
    size = len(json.dumps({"tools": listed}))
    assert size <= BUDGET, {tool["name"]: len(json.dumps(tool)) for tool in listed}
    read_only = await tool_list(Settings(runtime_dir=str(runtime_dir), read_only=True))
    assert len(json.dumps({"tools": read_only})) < size / 2


def test_a_lean_schema_has_no_titles_and_optional_arguments_of_their_plain_type() -> None:
    schema = {
        "type": "object",
        "title": "toolArguments",
        "properties": {
            "title": {"type": "string", "title": "Title", "description": "A property named title."},
            "kernel": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Kernel"},
            "timeout": {
                "anyOf": [{"exclusiveMinimum": 0, "type": "number"}, {"type": "null"}],
                "default": None,
                "description": "Seconds.",
                "title": "Timeout",
            },
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}], "default": None},
            "limit": {"type": "integer", "minimum": 1, "default": 200, "title": "Limit"},
            "nullable": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Nullable"},
        },
        "required": ["title", "nullable"],
    }
    before = json.dumps(schema)
    assert lean_schema(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "A property named title."},
            "kernel": {"type": "string"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds."},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "limit": {"type": "integer", "minimum": 1, "default": 200},
            "nullable": {"anyOf": [{"type": "string"}, {"type": "null"}]},  # required: null is a value
        },
        "required": ["title", "nullable"],
    }
    assert json.dumps(schema) == before  # a pure function


async def test_the_tool_list_has_lean_schemas(assistant: Assistant) -> None:
    for tool in (await assistant.client.list_tools()).tools:
        assert not titles(tool.input_schema), tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert {"type": "null"} not in prop.get("anyOf", []), f"{tool.name}.{name}"
            assert prop.get("default", "") is not None, f"{tool.name}.{name}"


async def test_calls_are_validated_as_before(assistant: Assistant) -> None:
    assert "validation error" in await assistant.error("kernel_status", kernel=12)
    assert "validation error" in await assistant.error("execute_code", code="1", timeout=0)
    assert "validation error" in await assistant.error("read_output", execution_id="e1", limit=0)
    # None is still accepted where the argument defaults to it.
    assert "No kernel is connected" in await assistant.error("kernel_status", kernel=None)
    assert "No kernel is connected" in await assistant.error("execute_code", code="1", timeout=None)
