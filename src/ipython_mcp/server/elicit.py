"""Asking the user, through the client, for what the assistant's code reads with input().

The answer goes to the kernel, never to the model. How depends on the protocol the client
speaks:
- before 2026-07-28, the tool sends an elicitation request in the middle of the call
  (`asker`), and the code goes on once the user answered;
- from 2026-07-28 on, the tool returns the question as an InputRequiredResult (`reply`), and
  the client calls the tool again with the answer and the execution id as its request state
  (`answer_from_user`), whichever kernel is the default by then.
A client that cannot ask its user gets a result that says "Waiting for input": the model
answers with send_input.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from ..errors import NoSuchExecution
from ..run.execution import Ask, ExecutionResult, InputRequest
from ..session.base import KernelSession
from ..session.clients import ClientView
from ..session.registry import KernelRegistry
from .deps import progress_to, result_for

USER_ANSWER_SECONDS = 300.0
"""Seconds the user gets to answer a question put to them through the client."""
ELICITATION_PROTOCOL = "2026-07-28"
"""From this protocol on, a tool asks the user by returning InputRequiredResult; the client
answers by calling it again. Before it, the tool sends an elicitation request mid-call."""


class _Answer(BaseModel):
    answer: str = Field(description="What to type at the prompt")


def can_elicit(ctx: Context) -> bool:
    """Whether the client can put a form to its user."""
    try:
        capabilities = ctx.client_capabilities
    except ValueError:  # a tool called outside any request, as a test may call it: nobody to ask
        return False
    elicitation = capabilities.elicitation if capabilities else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def elicits_by_result(ctx: Context) -> bool:
    """Whether the question goes out as the call's result (protocol 2026-07-28 on)."""
    version = ctx.protocol_version
    return can_elicit(ctx) and version is not None and is_version_at_least(version, ELICITATION_PROTOCOL)


def question(prompt: str) -> str:
    return f"Code the assistant runs in your Python kernel asks for input: {prompt!r}"


def asker(ctx: Context) -> Ask | None:
    """Asks the user through the client in the middle of the call, on protocols that allow
    it; the answer goes to the kernel, not to the model."""
    if not can_elicit(ctx) or elicits_by_result(ctx):
        return None

    async def ask(request: InputRequest) -> str | None:
        result = await ctx.elicit(question(request.prompt), _Answer)
        return result.data.answer if result.action == "accept" else None

    return ask


async def answer_from_user(
    ctx: Context, registry: KernelRegistry, view: ClientView, wait: float
) -> CallToolResult | InputRequiredResult | None:
    """On a call the client repeats with the user's answer to our InputRequiredResult: give
    the answer to the input() waiting for it and go on following the code. The execution is
    the one named in the (sealed) request state, whichever kernel is the default now. None
    on any other call."""
    if not ctx.request_state:
        return None
    session = registry.with_execution(ctx.request_state)
    response = (ctx.input_responses or {}).get("input")
    answer = None
    if isinstance(response, ElicitResult) and response.action == "accept":
        answer = str((response.content or {}).get("answer", ""))
    try:
        result = await session.runner.answer_input(answer or "", ctx.request_state, wait, progress_to(ctx))
        note = "" if answer is not None else "The user gave no answer: input() got ''."
    except NoSuchExecution:  # it stopped waiting first (deadline, interrupt): say so, go on
        result = await session.runner.wait_for(ctx.request_state, wait, progress_to(ctx))
        note = "The user's answer came after input() had stopped waiting; it was not used."
    return await reply(ctx, view, session, result, [note] if note else [])


async def reply(
    ctx: Context,
    view: ClientView,
    session: KernelSession,
    result: ExecutionResult,
    said: list[str] | None = None,
) -> CallToolResult | InputRequiredResult:
    """The result; or, when the code waits for input and the client can ask its user by
    answering a result, the question for the user (the model never sees the answer)."""
    if result.status == "input" and elicits_by_result(ctx):
        ex = session.runner.execution(result.execution_id)
        request = ex.input
        if request is not None:
            ex.rewind()  # the model sees none of this result: the resumed call shows it
            ex.give_user_time(USER_ANSWER_SECONDS)
            schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
            form = ElicitRequestFormParams(message=question(request.prompt), requested_schema=schema)
            return InputRequiredResult(
                input_requests={"input": ElicitRequest(params=form)}, request_state=result.execution_id
            )
    return await result_for(view, session, result, said or [])
