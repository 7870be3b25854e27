"""Reading ZMQ messages: what jupyter_client's Session.deserialize gives, with the same checks."""

from __future__ import annotations

import secrets

import pytest
from jupyter_client.session import Session

from ipython_mcp.transport.zmq import deserialize


def wire(session: Session, msg_type: str, content: dict, parent: dict | None = None) -> list[bytes]:
    msg = session.msg(msg_type, content, parent=parent)
    _, parts = session.feed_identities(session.serialize(msg))
    return parts


def test_messages_read_as_jupyter_client_reads_them_but_for_parsed_dates() -> None:
    key = secrets.token_hex(16).encode()
    kernel, ours, theirs = Session(key=key), Session(key=key), Session(key=key)
    request = ours.msg("execute_request", {"code": "1"})
    parts = wire(kernel, "stream", {"name": "stdout", "text": "é\n"}, parent=request)
    mine, reference = deserialize(ours, list(parts)), theirs.deserialize(list(parts))
    for field in ("header", "parent_header"):
        assert mine[field]["date"] == reference[field]["date"].isoformat().replace("+00:00", "Z")
        assert {k: v for k, v in mine[field].items() if k != "date"} == {
            k: v for k, v in reference[field].items() if k != "date"
        }
    for field in ("msg_id", "msg_type", "metadata", "content", "buffers"):
        assert mine[field] == reference[field]


def test_wrong_duplicate_and_unsigned_messages_are_refused() -> None:
    kernel, ours = Session(key=b"right"), Session(key=b"right")
    parts = wire(kernel, "status", {"execution_state": "idle"})
    deserialize(ours, list(parts))
    with pytest.raises(ValueError, match="Duplicate Signature"):
        deserialize(ours, list(parts))
    with pytest.raises(ValueError, match="Invalid Signature"):
        deserialize(Session(key=b"wrong"), wire(kernel, "status", {"execution_state": "busy"}))
    with pytest.raises(ValueError, match="Unsigned Message"):
        deserialize(ours, [b"", *wire(kernel, "status", {})[1:]])
