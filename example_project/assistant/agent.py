"""The assistant: a Pydantic AI agent whose one tool, ``send_reply``, needs a person's approval.

Offline by default: ``OFFLINE_MODEL`` is Pydantic AI's own ``FunctionModel`` driven by
``drafting.compose_draft``, so the demo and the tests need no network and no key. Setting
``SCORIA_DEMO_MODEL`` (``ASSISTANT_MODEL`` in settings), e.g. ``openai:gpt-4o-mini`` with
``OPENAI_API_KEY`` and ``pip install "pydantic-ai-slim[openai]"``, runs the same agent on
that provider instead: nothing else changes.
"""

from dataclasses import dataclass, field

from django.conf import settings
from pydantic import ValidationError
from pydantic_ai import Agent, DeferredToolRequests, RunContext
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from .drafting import compose_draft
from .models import SentReply

INSTRUCTIONS = (
    "You answer customer messages. Draft a short, friendly reply and send it with the "
    "send_reply tool: a person approves (and may edit) every reply before it goes out. "
    "Then say in one sentence what happened: sent, or not sent and why."
)


@dataclass
class ReplyDeps:
    """What the tool needs from the step: where to record the reply, and who approved it."""

    run_id: str
    # ctx.idempotency_key: stable across the step's pauses and retries.
    step_key: str
    # The decisions of the step's last pause, by tool call id (ctx.approvals).
    decisions: dict[str, dict] = field(default_factory=dict)


assistant_agent = Agent(
    deps_type=ReplyDeps,
    output_type=[str, DeferredToolRequests],
    instructions=INSTRUCTIONS,
    name="assistant",
)


@assistant_agent.tool(requires_approval=True)
async def send_reply(ctx: RunContext[ReplyDeps], draft: str) -> dict:
    """Send ``draft`` as the reply to the customer's message."""
    decision = ctx.deps.decisions.get(ctx.tool_call_id) or {}
    # Keyed on the step and the tool call (the key tool_call_key(ctx) gives, carried
    # in deps so the agent also runs outside a step): a step that runs again after a crash
    # inside this tool finds the reply it sent and does not send it twice.
    sent, _ = await SentReply.objects.aget_or_create(
        key=f"{ctx.deps.step_key}:{ctx.tool_call_id}",
        defaults={
            "run_id": ctx.deps.run_id,
            "text": draft,
            "approved_by": decision.get("decided_by"),
        },
    )
    return {"sent": True, "reply": sent.text, "reply_id": sent.pk}


def offline_model_turn(messages, info: AgentInfo) -> ModelResponse:
    """One turn of the offline model: draft and call ``send_reply``; once the tool answered
    (or the call was denied), say what happened."""
    request = messages[-1]
    for part in request.parts if isinstance(request, ModelRequest) else ():
        if isinstance(part, ToolReturnPart) and part.tool_name == "send_reply":
            return ModelResponse(parts=[TextPart(_what_happened(part))])
    draft = compose_draft(_latest_prompt(messages))
    return ModelResponse(parts=[ToolCallPart("send_reply", {"draft": draft["text"]})])


def _what_happened(part: ToolReturnPart) -> str:
    if part.outcome == "success" and isinstance(part.content, dict):
        return f"I sent your reply ({len(part.content.get('reply') or '')} characters)."
    return f"I did not send the reply: {part.model_response_str()}"


def _latest_prompt(messages) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


OFFLINE_MODEL = FunctionModel(offline_model_turn, model_name="offline-drafter")


def configured_model():
    """The model the assistant runs on: ``ASSISTANT_MODEL`` (a Pydantic AI model name such as
    ``openai:gpt-4o-mini``) when set, else the offline model."""
    name = (getattr(settings, "ASSISTANT_MODEL", "") or "").strip()
    return name or OFFLINE_MODEL


def final_answer(state):
    """The agent's last text, read from the message history saved on its step; None when
    there is none yet (it is waiting) or the state is not a history."""
    messages = state.get("messages") if isinstance(state, dict) else state
    if not isinstance(messages, list):
        return None
    try:
        history = ModelMessagesTypeAdapter.validate_python(messages)
    except ValidationError:
        return None
    for message in reversed(history):
        if isinstance(message, ModelResponse):
            text = "".join(part.content for part in message.parts if isinstance(part, TextPart))
            if text:
                return text
    return None
