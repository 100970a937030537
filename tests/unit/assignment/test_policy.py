"""The assignment policy: routing rules in order, validation with clear errors, the example."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.assignment import AssignmentPolicy, PolicyError, TicketFacts
from tests.unit.assignment.helpers import agent, policy, sf_id

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "routing.toml"

QUEUES: dict[str, dict[str, Any]] = {
    q: {} for q in ("sales", "big", "de", "tech", "vip", "private", "small")}
RULES: list[dict[str, Any]] = [
    {"name": "vip chat", "queue": "vip", "chat_ids": [-100]},
    {"name": "big deals", "queue": "big", "deal_size_min": 50000},
    {"name": "small deals", "queue": "small", "deal_size_max": 1000},
    {"name": "german", "queue": "de", "languages": ["de"]},
    {"name": "api", "queue": "tech", "keywords": ["api", "single sign-on"]},
    {"name": "emea analytics", "queue": "tech", "regions": ["emea"], "products": ["analytics"]},
    {"name": "bot", "queue": "private", "channels": ["private_chat"]},
]


@pytest.fixture
def rules() -> AssignmentPolicy:
    return policy({"a": agent(1, list(QUEUES))}, QUEUES, RULES)


def queue_of(p: AssignmentPolicy, **facts: object) -> tuple[str, str | None]:
    channel = facts.pop("channel", "forum_topic")
    queue, rule, _ = p.route(TicketFacts(channel, **facts))  # type: ignore[arg-type]
    return queue, rule


def test_first_matching_rule_wins_in_order(rules: AssignmentPolicy) -> None:
    # matches "vip chat", "big deals" and "german": the first listed wins
    assert queue_of(rules, chat_id=-100, deal_size=Decimal(90000), language="de") == (
        "vip", "vip chat")
    assert queue_of(rules, deal_size=Decimal(90000), language="de") == ("big", "big deals")
    assert queue_of(rules, language="de", subject="API") == ("de", "german")


def test_no_rule_matches_goes_to_the_default_queue_with_its_reason(
        rules: AssignmentPolicy) -> None:
    queue, rule, why = rules.route(TicketFacts("forum_topic", subject="hello"))
    assert (queue, rule) == ("sales", None)
    assert why == "no rule matched; default queue 'sales'"


def test_deal_size_bounds_are_min_inclusive_max_exclusive(rules: AssignmentPolicy) -> None:
    assert queue_of(rules, deal_size=Decimal(50000))[0] == "big"
    assert queue_of(rules, deal_size=Decimal("49999.99"))[0] == "sales"
    assert queue_of(rules, deal_size=Decimal(999))[0] == "small"
    assert queue_of(rules, deal_size=Decimal(1000))[0] == "sales"
    assert queue_of(rules)[0] == "sales"  # unknown deal size matches no bounded rule


def test_language_matches_the_primary_subtag(rules: AssignmentPolicy) -> None:
    assert queue_of(rules, language="de-AT")[0] == "de"
    assert queue_of(rules, language="DE")[0] == "de"
    assert queue_of(rules, language="den")[0] == "sales"


def test_keywords_match_whole_words_in_subject_or_first_message(rules: AssignmentPolicy) -> None:
    assert queue_of(rules, subject="Our API limits")[0] == "tech"
    assert queue_of(rules, first_message="do you support Single Sign-On?")[0] == "tech"
    assert queue_of(rules, subject="a rapid answer please")[0] == "sales"
    _, _, why = rules.route(TicketFacts("forum_topic", first_message="api?"))
    assert why == "rule 'api' matched: keyword 'api' in the first message"


def test_every_condition_of_a_rule_must_hold(rules: AssignmentPolicy) -> None:
    assert queue_of(rules, region="EMEA", product="Analytics")[0] == "tech"
    assert queue_of(rules, region="EMEA", product="CRM")[0] == "sales"
    assert queue_of(rules, product="analytics")[0] == "sales"


def test_channel_rule(rules: AssignmentPolicy) -> None:
    assert queue_of(rules, channel="private_chat")[0] == "private"
    assert queue_of(rules, channel="general_topic")[0] == "sales"


TOML = """
[routing]
default_queue = "sales"
[[routing.rules]]
name = "big"
queue = "sales"
deal_size_min = 10
[queues.sales]
strategy = "least_loaded"
manager = "ann"
[agents.ann]
name = "Ann"
salesforce_user_id = "005000000000001AAA"
queues = ["sales"]
capacity = 3
"""


def test_from_toml_ignores_sections_it_does_not_own() -> None:
    text = TOML + '\n[sla]\nfirst_response = "15m"\n[[escalation.levels]]\nlevel = 1\n[teams.x]\n'
    p = AssignmentPolicy.from_toml(text)
    assert p.queues["sales"].strategy == "least_loaded"
    assert p.agents["ann"].availability == "available"


def test_missing_sections_and_bad_toml_are_named() -> None:
    with pytest.raises(PolicyError) as err:
        AssignmentPolicy.from_toml("[sla]\nx = 1\n")
    assert err.value.problems == ["missing section [routing]", "missing section [queues]",
                                  "missing section [agents]"]
    with pytest.raises(PolicyError, match="not valid TOML"):
        AssignmentPolicy.from_toml("[routing\n")


def test_problems_inside_its_sections_are_reported_one_line_each() -> None:
    with pytest.raises(PolicyError) as err:
        policy(
            {"ann": agent(1, ["sales", "nope"], capacity=-1, colour="red"),
             "bob": {**agent(2, ["sales"]), "salesforce_user_id": "006000000000001"}},
            {"sales": {"strategy": "fastest"}, "tech": {"strategy": "skills"},
             "idle": {"required_skills": ["x"]}},
            [{"name": "r", "queue": "sales"}])
    assert sorted(err.value.problems) == sorted([
        "routing.rules.0: rule 'r' has no condition (use routing.default_queue for a catch-all)",
        "queues.sales.strategy: Input should be 'round_robin', 'skills' or 'least_loaded'",
        "queues.tech: strategy 'skills' needs required_skills",
        "queues.idle: required_skills apply only to strategy 'skills', not 'round_robin'",
        "agents.ann.capacity: Input should be greater than or equal to 0",
        "agents.ann.colour: Extra inputs are not permitted",
        "agents.bob.salesforce_user_id: '006000000000001' is not a Salesforce User id "
        "(005..., 15 or 18 characters)",
    ])


def test_references_between_sections_are_checked() -> None:
    """(Once each section is valid on its own: pydantic checks fields before the whole.)"""
    with pytest.raises(PolicyError) as err:
        policy(
            {"ann": agent(1, ["sales", "nope"], telegram_user_id=7),
             "bob": {**agent(2, ["sales"], telegram_user_id=7),
                     "salesforce_user_id": sf_id(1)[:15]}},
            {"sales": {"manager": "zed", "team_lead": "bob"},
             "tech": {"strategy": "skills", "required_skills": ["api"]}},
            [{"name": "r", "queue": "gone", "keywords": ["x"]},
             {"name": "r", "queue": "tech", "keywords": ["y"]}],
            default="void")
    assert sorted(err.value.problems) == sorted([
        "routing.default_queue: unknown queue 'void'",
        "routing.rules.0.queue: unknown queue 'gone'",
        "routing.rules.1.name: 'r' is used twice",
        "queues.sales.manager: unknown agent 'zed'",
        "queues.tech: no agent serves it",
        "agents.ann.queues: unknown queue 'nope'",
        "agents.bob.salesforce_user_id: the same user as agent 'ann'",
        "agents.bob.telegram_user_id: the same user as agent 'ann'",
    ])


def test_a_skills_queue_needs_an_agent_with_all_its_skills() -> None:
    with pytest.raises(PolicyError) as err:
        policy({"ann": agent(1, ["sales"], skills=["api"])},
               {"sales": {"strategy": "skills", "required_skills": ["api", "German"]}})
    assert err.value.problems == ["queues.sales: no agent serving it has all of ['api', 'german']"]


def test_salesforce_user_ids_match_in_15_and_18_character_form() -> None:
    p = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"])})
    assert p.agent_for_salesforce_user(sf_id(2)) == "bob"
    assert p.agent_for_salesforce_user(sf_id(2)[:15]) == "bob"
    assert p.agent_for_salesforce_user("005999999999999") is None


def test_the_example_parses_and_routes() -> None:
    p = AssignmentPolicy.from_toml(EXAMPLE.read_text())
    assert list(p.agents)[:2] == ["ann", "bob"]
    assert {q.strategy for q in p.queues.values()} == {"round_robin", "least_loaded", "skills"}
    assert p.route(TicketFacts("forum_topic", deal_size=Decimal(60000)))[0] == "enterprise"
    assert p.route(TicketFacts("forum_topic", subject="Webhook retries"))[0] == "technical"
    assert p.route(TicketFacts("general_topic", language="de-CH"))[0] == "dach"
    assert p.route(TicketFacts("forum_topic", chat_id=-1001234567890))[0] == "partners"
    assert p.route(TicketFacts("forum_topic"))[0] == "general"


def test_the_example_shares_a_file_with_other_sections() -> None:
    p = AssignmentPolicy.from_toml(EXAMPLE.read_text() + '\n[sla.tiers.fast]\nfirst = "5m"\n')
    assert p == AssignmentPolicy.from_toml(EXAMPLE.read_text())
