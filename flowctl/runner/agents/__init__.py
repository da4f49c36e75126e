"""Agents (SPEC.md 6): which agent runs a step (routing, pools, failover) and how it runs.

`registry` knows the agents by capability; `pool` hands out agent slots first in, first
out; `routing` ranks the free candidates; `learning` keeps what each agent did; `failover`
moves a step to the next agent; `invoke` is the one place that executes an agent's work
(another executor, e.g. a cluster, replaces it without touching the choice of agent).
"""
