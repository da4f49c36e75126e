"""Approvals of human_task steps: the decisions (terminal, flag, `approve`) and the gate."""
