"""Reading act's step results from its log, whatever the steps' durations."""

from __future__ import annotations

import pytest
from tests.integration.workflows.conftest import step_results

# act prints Go durations after each step: every unit Go's time.Duration.String() uses.
DURATIONS = ["0s", "850ms", "12.97s", "1m12.97s", "1h2m3.5s", "999.9µs", "41ns"]


@pytest.mark.parametrize("duration", DURATIONS)
def test_step_results_read_any_duration(duration):
    log = "\n".join(
        [
            "[PR/Retrain and compare with the base branch]   ✅  Success - Main Install the"
            f" locked environment [{duration}]",
            "[PR/Retrain and compare with the base branch]   ❌  Failure - Main Compare with the"
            f" base branch and apply the gate [{duration}]",
        ]
    )
    assert step_results(log) == {
        "Install the locked environment": "Success",
        "Compare with the base branch and apply the gate": "Failure",
    }


def test_step_results_keep_brackets_inside_a_step_name():
    log = "[R/j]   ✅  Success - Main Name the image (ghcr.io/[owner]/<repo>) [1m0.5s]"
    assert step_results(log) == {"Name the image (ghcr.io/[owner]/<repo>)": "Success"}


def test_step_results_ignore_other_lines():
    log = "[R/j] ⭐ Run Main Install\n[R/j]   | Success - Main not a result line\n"
    assert step_results(log) == {}
