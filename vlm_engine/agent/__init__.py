"""The agent: a task over a document turned into recorded steps over tools, answered with evidence.

Modules, one job each: `run` (the loop), `route` (pick pages under a budget), `look` (tiles shown to a VLM
backend), `zoom` (re-read or re-ask closer where evidence is small or uncertain), `verify` (check each
claim on a crop of its own box), `count` (count by grounding), `video` (coarse-to-fine frame search),
`questions` (the target phrase of a question, and the phrasings a backend is asked in), `extract`
(schema fields), `finders` (dates, totals, names, addresses in boxed words), `guard` (document text is
data: schema checks, caps, fencing), `trace` (the record of every step), `errors`.
"""

from vlm_engine.agent.errors import AgentError, AgentErrorCode
from vlm_engine.agent.run import AGENT_TASKS, AgentOptions, run_agent

__all__ = ["AGENT_TASKS", "AgentError", "AgentErrorCode", "AgentOptions", "run_agent"]
