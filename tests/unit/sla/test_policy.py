"""The SLA policy file: the example parses, strictness inside [sla], tier selection."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from streams.sla.errors import PolicyError
from streams.sla.policy import ReassignCase, SetCaseField, SlaPolicy, TicketFacts

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policy.toml"

MINIMAL = """
[sla]
default_tier = "general"
[sla.teams.desk]
hours = "24/7"
[sla.tiers.general]
team = "desk"
first_response = "1h"
resolution = "1d"
"""


def example() -> SlaPolicy:
    return SlaPolicy.from_toml(EXAMPLE.read_text())


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        SlaPolicy.from_toml(text)
    return caught.value.problems


def test_the_example_policy_parses() -> None:
    policy = example()
    assert policy.default_tier == "general"
    assert policy.tiers["hot_lead"].first_response == timedelta(minutes=15)
    assert policy.tiers["general"].resolution == timedelta(days=2)
    assert policy.warn_at == [0.8]
    assert date(2025, 12, 25) in policy.teams["sales_eu"].holidays
    assert policy.escalation.level1 is not None
    assert policy.escalation.level1.first_response_over == 0.5
    assert policy.escalation.level1.actions[0] == ReassignCase(do="reassign")
    assert policy.escalation.level2 is not None
    assert SetCaseField(do="set_case_field", field="Priority", value="High") in (
        policy.escalation.level2.actions)
    assert policy.escalation.level3 is not None
    assert policy.escalation.level3.idle_for == timedelta(days=1)
    assert policy.terms("hot_lead").warn_at == (0.5, 0.8)
    assert policy.terms("general", "sales_us").calendar.tz.key == "America/New_York"  # type: ignore[attr-defined]


def test_other_top_level_tables_are_not_ours() -> None:
    text = MINIMAL + """
[routing]
whatever = 1
[[queues]]
name = "emea"
[agents.ann]
capacity = 3
"""
    assert SlaPolicy.from_toml(text).default_tier == "general"


def test_unknown_keys_inside_sla_are_errors_with_their_path() -> None:
    found = problems(MINIMAL + """
[sla.tiers.fast]
team = "desk"
first_responce = "5m"
resolution = "1h"
""")
    assert "sla.tiers.fast.first_responce: unknown key (not part of the SLA policy; check the "\
           "spelling)" in found
    assert "sla.tiers.fast.first_response: Field required" in found
    top = problems(MINIMAL.replace("[sla]\n", '[sla]\ncolour = "red"\n'))
    assert top == ["sla.colour: unknown key (not part of the SLA policy; check the spelling)"]


def test_every_problem_is_listed_one_line_each() -> None:
    found = problems("""
[sla]
default_tier = "missing"
warn_at = [1.5]
[sla.teams.desk]
timezone = "Mars/Olympus"
hours = { mon = ["18:00-09:00"], tue = ["9-5"] }
[sla.tiers.general]
team = "nobody"
first_response = "soon"
resolution = "0s"
[[sla.rules]]
name = "r"
tier = "general"
channel = "email"
[sla.escalation.level1]
first_response_over = "fifty"
actions = [{ do = "notify_telegram", chat_id = 1, text = "{nonsense}" }, { do = "fax" }]
""")
    text = "\n".join(found)
    for expected in ["sla.warn_at", "between 0 and 1", "unknown time zone 'Mars/Olympus'",
                     "sla.teams.desk.hours", "'9-5' is not an opening interval",
                     "sla.tiers.general.first_response: 'soon' is not a duration",
                     "sla.tiers.general.resolution: must be longer than zero",
                     "sla.rules.0.channel.0", "sla.escalation.level1.first_response_over",
                     "unknown placeholder(s) ['nonsense']", "'fax'"]:
        assert expected in text, (expected, found)


def test_dangling_names_are_reported() -> None:
    found = problems(MINIMAL.replace('default_tier = "general"', 'default_tier = "vip"') + """
[[sla.rules]]
name = "r1"
tier = "ghost"
team = "nobody"
""")
    assert "sla.default_tier: tier 'vip' is not defined (tiers: ['general'])" in found
    assert "sla.rules.0.tier: tier 'ghost' is not defined (tiers: ['general'])" in found
    assert "sla.rules.0.team: team 'nobody' is not defined (teams: ['desk'])" in found


def test_no_sla_table_and_bad_toml() -> None:
    assert problems("[routing]\nx = 1\n") == ["sla: the policy has no [sla] table"]
    assert problems("[sla")[0].startswith("not valid TOML")


def facts(**kw: object) -> TicketFacts:
    base: dict[str, object] = {"ticket_id": "t", "channel": "forum_topic", "chat_id": -100}
    return TicketFacts(**(base | kw))  # type: ignore[arg-type]


def test_tier_selection_first_match_wins_with_a_default() -> None:
    policy = example()
    hot = policy.select(facts(channel="private_chat", deal_size=25_000, subject="Pricing"))
    assert (hot.terms.tier, hot.rule) == ("hot_lead", "intake-high-value")
    assert "rule #4 'intake-high-value': channel private_chat, deal size 25000 >= 10000" in (
        hot.reason)
    # an outage mention wins over the high-value rule because it comes first
    outage = policy.select(facts(channel="private_chat", deal_size=25_000,
                                 first_message="Our portal is DOWN since noon"))
    assert (outage.terms.tier, outage.terms.team) == ("urgent_outage", "support_247")
    assert "keyword 'down'" in outage.reason
    small = policy.select(facts(channel="private_chat", deal_size=500))
    assert small.terms.tier == "general" and small.rule is None
    assert "default" in small.reason
    unknown_size = policy.select(facts(channel="private_chat"))
    assert unknown_size.rule is None


def test_keywords_are_whole_words_case_insensitive() -> None:
    policy = example()
    assert policy.select(facts(subject="Download link?")).rule is None  # not "down"
    assert policy.select(facts(subject="Checkout NOT   WORKING")).rule is None  # phrase spacing
    assert policy.select(facts(subject="checkout not working!")).rule == "outage"


def test_segment_chat_and_team_override() -> None:
    policy = example()
    enterprise = policy.select(facts(segment="Strategic"))
    assert enterprise.terms.tier == "enterprise"
    us = policy.select(facts(chat_id=-1001234567890))
    assert (us.terms.tier, us.terms.team, us.rule) == ("general", "sales_us", "americas-group")
    assert policy.select(facts(chat_id=-1001234567890)).terms is us.terms  # shared, built once


def test_deal_size_range_is_min_inclusive_max_exclusive() -> None:
    policy = SlaPolicy.from_toml(MINIMAL + """
[sla.tiers.mid]
team = "desk"
first_response = "30m"
resolution = "8h"
[[sla.rules]]
name = "mid"
tier = "mid"
min_deal_size = 1000
max_deal_size = 5000
""")
    assert policy.select(facts(deal_size=1000)).rule == "mid"
    assert policy.select(facts(deal_size=4999.99)).rule == "mid"
    assert policy.select(facts(deal_size=5000)).rule is None
    assert policy.select(facts(deal_size=999)).rule is None
