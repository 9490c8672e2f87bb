"""Run a Pydantic AI agent as a scoria step (docs/agents-pydantic-ai.md).

::

    from pydantic_ai import Agent
    from scoria_django.contrib.pydantic_ai import agent_handler

    agent = Agent("openai:gpt-4o", instructions="...")
    assistant = agent_handler(agent)  # SCORIA_HANDLERS = {"assistant": "myapp.agents.assistant"}

A tool that needs approval pauses the run (one ``Approval`` per tool call); the agent
continues from its message history, stored on the step, when the step runs again.
"""

try:
    import pydantic_ai  # noqa: F401 - only to fail early with a message that says what to install
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "scoria_django.contrib.pydantic_ai needs Pydantic AI: "
        "pip install 'scoria-django[pydantic-ai]' (or pydantic-ai-slim)"
    ) from exc

from ..agent_steps import NoStepRunning, step_context
from .adapter import STATE_FORMAT, agent_handler, tool_call_key

__all__ = ["STATE_FORMAT", "NoStepRunning", "agent_handler", "step_context", "tool_call_key"]
