"""The policy ``telecase run --demo`` uses when ``TELECASE_POLICY_FILE`` is not set.

Targets are seconds and minutes, on a desk open around the clock, so a few minutes of demo show
warnings, breaches and escalations; three agents in the simulated org take the tickets in turn,
five at a time each (the rest wait for one of them to free up). The agents are Users created
in the simulated org when it starts, so the Cases' owners follow the assignments there.
"""

from __future__ import annotations

from streams.assignment.policy import AssignmentPolicy
from streams.sla.policy import SlaPolicy

SLA = """
[sla]
default_tier = "standard"
warn_at = ["50%"]

[sla.teams.demo_desk]
timezone = "UTC"
hours = "24/7"

[sla.tiers.hot]
description = "Customers asking for a price or a quote"
team = "demo_desk"
first_response = "30s"
resolution = "5m"

[sla.tiers.standard]
team = "demo_desk"
first_response = "1m"
resolution = "10m"

[[sla.rules]]
name = "pricing"
keywords = ["price", "prices", "pricing", "quote", "discount"]
tier = "hot"

[sla.pause]
waiting_on_customer = true

[sla.escalation.level1]
first_response_over = "50%"
escalate_to = "queue_manager"
actions = [
  { do = "reassign", to = "next_available_agent" },
  { do = "set_case_field", field = "IsEscalated", value = true },
]

[sla.escalation.level2]
resolution_over = "20%"
escalate_to = "team_lead"
actions = [
  { do = "set_case_field", field = "Priority", value = "High" },
  { do = "post_case_comment", text = "Escalated to the team lead: {reason}" },
]
"""

AGENTS = (("ann", "Ann Demo"), ("bo", "Bo Demo"), ("cleo", "Cleo Demo"))


def sla_policy() -> SlaPolicy:
    return SlaPolicy.from_toml(SLA)


def assignment_policy(user_ids: dict[str, str]) -> AssignmentPolicy:
    """``user_ids``: each agent's Salesforce User id (``AGENTS`` order)."""
    agents = "\n".join(f'[agents.{key}]\nname = "{name}"\nsalesforce_user_id = '
                       f'"{user_ids[key]}"\nqueues = ["sales"]\ncapacity = 5\n'
                       for key, name in AGENTS)
    return AssignmentPolicy.from_toml(
        '[routing]\ndefault_queue = "sales"\n[queues.sales]\nstrategy = "round_robin"\n'
        + agents)
