"""Run an OpenAI Agents SDK agent as a scoria step (docs/agents-openai.md).

::

    from agents import Agent, function_tool
    from scoria_django.contrib.openai_agents import agent_handler

    @function_tool(needs_approval=True)
    def send_reply(to: str, text: str) -> str: ...

    assistant = agent_handler(Agent(name="assistant", tools=[send_reply]))

Each ``needs_approval`` tool call becomes one scoria ``Approval``; the agent's ``RunState``
JSON is kept on the step, and the same conversation continues when the step runs again.
"""

try:
    import agents as _agents  # noqa: F401 - only to fail early with a clear message
except ImportError as exc:
    raise ImportError(
        "scoria_django.contrib.openai_agents needs the OpenAI Agents SDK: "
        'pip install "scoria_django[openai-agents]" (the "openai-agents" package)'
    ) from exc

from ..agent_steps import NoStepRunning, step_context
from .adapter import AgentHandler, agent_handler
from .tools import tool_call_key

__all__ = ["AgentHandler", "NoStepRunning", "agent_handler", "step_context", "tool_call_key"]
