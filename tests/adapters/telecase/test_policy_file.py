"""TELECASE_POLICY_FILE: one file or several, each part optional, every problem reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from telecase.bootstrap.policy import PolicyFileError, load_policies
from tests.infra import ROOT

EXAMPLES = ROOT / "examples"


def test_unset_means_no_policy() -> None:
    policies = load_policies(None)
    assert policies.sla is None and policies.assignment is None
    assert load_policies("").sla is None


def test_the_two_examples_together_give_both_parts() -> None:
    policies = load_policies(f"{EXAMPLES / 'policy.toml'}, {EXAMPLES / 'routing.toml'}")
    assert policies.sla is not None and policies.sla.default_tier == "general"
    assert policies.assignment is not None and "ann" in policies.assignment.agents


def test_either_part_alone() -> None:
    assert load_policies(str(EXAMPLES / "policy.toml")).assignment is None
    assert load_policies(str(EXAMPLES / "routing.toml")).sla is None


def test_problems_are_reported_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "routing.toml").read_text().replace(
        'capacity = 6', 'capacity = "lots"', 1) + '\n[sla]\ndefault_tier = "nope"\n')
    with pytest.raises(PolicyFileError) as err:
        load_policies(str(bad))
    text = str(err.value)
    assert "agents.ann.capacity" in text and "invalid SLA policy" in text


def test_a_table_given_twice_a_missing_file_and_an_empty_policy_are_errors(
        tmp_path: Path) -> None:
    twice = f"{EXAMPLES / 'policy.toml'},{EXAMPLES / 'policy.toml'}"
    with pytest.raises(PolicyFileError, match=r"\[sla\] is also in"):
        load_policies(twice)
    with pytest.raises(PolicyFileError, match="No such file"):
        load_policies(str(tmp_path / "missing.toml"))
    empty = tmp_path / "empty.toml"
    empty.write_text("[other]\nx = 1\n")
    with pytest.raises(PolicyFileError, match="neither"):
        load_policies(str(empty))
    partial = tmp_path / "partial.toml"
    partial.write_text("[routing]\ndefault_queue = 'general'\n")
    with pytest.raises(PolicyFileError, match=r"missing section \[queues\]"):
        load_policies(str(partial))
