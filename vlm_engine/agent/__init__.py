"""The agent: a task over a document turned into recorded steps over tools, answered with evidence.

Modules, one job each: `run` (the loop), `route` (pick pages under a budget), `look` (tiles shown to a VLM
backend), `extract` (schema fields), `finders` (dates, totals, names, addresses in boxed words), `guard`
(document text is data: schema checks, caps, fencing), `trace` (the record of every step), `errors`.
"""

from vlm_engine.agent.errors import AgentError, AgentErrorCode
from vlm_engine.agent.run import AGENT_TASKS, AgentOptions, run_agent

__all__ = ["AGENT_TASKS", "AgentError", "AgentErrorCode", "AgentOptions", "run_agent"]
