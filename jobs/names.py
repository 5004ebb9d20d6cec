"""Study names: a study's name is an MLflow experiment, a folder under reports/ and the STUDY= of the next step the
harness prints (`make report STUDY=<name>`), so it must pass through a shell and a path unquoted. `study='my study'`
used to run, and the printed `make report STUDY=my study` then failed (issue 27)."""

from __future__ import annotations

import re

from transfer.errors import ConfigError

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_study(name, key: str = "study") -> str:
    """The name as a string, or a one-line ConfigError naming the rule and a name that follows it."""
    text = str(name)
    if not STUDY_NAME.fullmatch(text):
        fixed = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._") or "my-study"
        raise ConfigError(f"{key}={text!r}: a study name is letters, digits, '.', '_' and '-' (it is printed as a "
                          f"make argument and is a folder under reports/), e.g. {key}={fixed}")
    return text
