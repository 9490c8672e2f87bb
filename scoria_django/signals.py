"""Signals scoria sends, always after the transaction that caused them commits.

Every signal is sent with ``sender=Run`` and the keyword arguments listed.
"""

from django.dispatch import Signal

# run_id, session_id, actor_id, tenant_id
run_started = Signal()
# run_id, step_id, kind, output
step_completed = Signal()
# run_id, step_id, kind, error
step_failed = Signal()
# run_id, step_id, approval_request
run_waiting_for_approval = Signal()
# run_id, actor_id, mode ("approval" or "retry"), step_ids
run_resumed = Signal()
# run_id, status ("completed", "failed" or "cancelled")
run_finished = Signal()
# run_id, handoff_id, delegated_role_id, delegated_kind
handoff_created = Signal()
# run_id, approval_id, step_id, tool_name, call_id, assignees, groups, expires_at
approval_requested = Signal()
# run_id, approval_id, step_id, decision ("approved", "rejected" or "expired"), decided_by
approval_decided = Signal()
