"""The Observer: the agent that investigates a cluster through the probe, repairs it through the executor with
signed plans, and records every step in the transcript store.

- ``observer.policy``: the policy interface (TaskSpec, Observation, Decision, Policy).
- ``observer.baseline``: the rule-based investigator (the default policy, the benchmark's baseline).
- ``observer.loop``: the episode loop (compressed observations, memory, step budget, plans, transcript).
- ``observer.mcp``: MCP connections to the probe and the executor (stdio, URL or in-process).
- ``observer.signing``: signing plans with the observer's key, or asking a human.
- ``observer.render``: streaming an episode in a terminal.
"""
