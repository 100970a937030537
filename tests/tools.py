"""Programs from Debian that some tests run (``.ci/run`` installs them): where ``CI`` is set a
missing one fails the test, elsewhere it skips with the command that installs it."""

from __future__ import annotations

import os
import shutil

import pytest


def required_tool(command: str, package: str) -> str:
    """The path of ``command`` (from Debian's ``package``)."""
    found = shutil.which(command)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{command} is not installed (.ci/run installs Debian's {package})")
        pytest.skip(f"{command} is not installed (apt-get install {package})")
    return found
