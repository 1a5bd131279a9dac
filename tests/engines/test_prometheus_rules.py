"""The promtool unit tests of the alert rules are not vacuous: each alert's silent case sits just
on the other side of its threshold (or `for` duration), so moving the threshold a little towards
it makes that case fire and `promtool test rules` fail. Run with the real promtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.monitoring_assets import RULE_TESTS, RULES, load_yaml

pytestmark = pytest.mark.slow

FAST_TESTS, SCORE_TESTS = RULE_TESTS


@dataclass(frozen=True)
class Nudge:
    """In `alert`'s `field`, replace `now` by a value just towards its silent test case."""

    alert: str
    field: str
    now: str
    nudged: str
    tests: Path  # the promtool test file holding that case

    def apply(self, rule: dict) -> None:
        if self.field == "expr":
            assert rule["expr"].count(self.now) == 1, rule["expr"]
            rule["expr"] = rule["expr"].replace(self.now, self.nudged)
        else:
            assert rule[self.field] == self.now
            rule[self.field] = self.nudged


NUDGES = [
    Nudge("ChurnServiceDown", "for", "5m", "3m", FAST_TESTS),
    Nudge("ChurnNoScoringTraffic", "for", "30m", "15m", FAST_TESTS),
    Nudge("ChurnHighErrorRate", "expr", "> 0.02", "> 0.019", FAST_TESTS),
    Nudge("ChurnHighRefusalRate", "expr", "> 0.1", "> 0.098", FAST_TESTS),
    Nudge("ChurnHighLatencyP99", "expr", ") > 0.5", ") > 0.009", FAST_TESTS),
    Nudge("ChurnHighMemory", "expr", "> 1073741824", "> 900000000", FAST_TESTS),
    Nudge("ChurnPredictionScoreShift", "expr", "gap > 0.1", "gap > 0.07", SCORE_TESTS),
    Nudge("ChurnPredictionScoreShift", "expr", ">= 200", ">= 100", SCORE_TESTS),
]


def promtool_test(rules: dict, tests: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on a copy of `tests` that loads `rules` instead of rules.yml."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: `make prometheus` installs it"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / RULES.name).write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    shutil.copy(tests, workdir / tests.name)
    return subprocess.run(
        [promtool, "test", "rules", tests.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("nudge", NUDGES, ids=lambda n: f"{n.alert}:{n.nudged}")
def test_nudging_a_threshold_towards_the_silent_case_makes_it_fire(
    tmp_path: Path, nudge: Nudge
) -> None:
    rules = load_yaml(RULES)
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == nudge.alert]
    nudge.apply(rule)
    result = promtool_test(rules, nudge.tests, tmp_path)
    assert result.returncode != 0
    # The silent case (exp_alerts empty) is the one that now fails: it got this alert. (That the
    # unchanged rules pass is `make check-rules`, which `make test-engines` runs first.)
    silent = re.compile(
        rf"alertname: {nudge.alert}, time: [^\n]*\n\s*exp:\[\],\s*\n\s*got:\[\s*\n\s*0:"
    )
    output = result.stdout + result.stderr
    assert silent.search(output), output
