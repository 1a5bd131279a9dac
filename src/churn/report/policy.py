"""Which gate policy judges the candidate: the base revision's, and only the base revision's.

The policy lives in the gate file (`gate.yaml`). Before that file existed it was the `gate:`
section of `params.yaml`, so a base revision without the file is read there: the commit that
moves the policy is itself judged by the policy it replaces. The candidate's own policy applies
only when the base revision exists and has no policy at all (a project's first gate), and the
report's headline then says so. Anything unreadable is an error, never a silent fallback to the
candidate's policy: that fallback would let a pull request break the base's policy file to
choose its own bar.

Pure: `collect` reads the files, this decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from churn import params
from churn.params import GateParams
from churn.report.gate import GatePolicyError, check_policy

# The `params.yaml` section that held the policy before the gate file.
LEGACY_SECTION = "gate"


class PolicyError(ValueError):
    """No policy can be trusted to judge the candidate; the message says which file and why."""


@dataclass(frozen=True)
class PolicySources:
    """The raw bytes of the files that may hold the policy (None: not there)."""

    base_rev: str
    gate_file: str
    params_file: str
    base_gate: bytes | None
    base_params: bytes | None
    candidate_gate: bytes | None


@dataclass(frozen=True)
class Policy:
    gate: GateParams
    # Where it came from, for the report: e.g. "`gate.yaml` at the base revision `main`".
    source: str
    # True when the candidate's own policy applies because the base has none.
    first_gate: bool = False


def _load(content: bytes, where: str) -> object:
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where} is not valid YAML: {exc}") from None


def _validated(raw: object, where: str, prefix: str = "") -> GateParams:
    try:
        gate = params.parse_gate(raw, where, prefix)
        check_policy(gate)
    except (params.ParamsError, GatePolicyError) as exc:
        raise PolicyError(f"the gate policy is invalid: {exc}") from None
    return gate


def resolve(sources: PolicySources) -> Policy:
    """The policy that judges the candidate; `PolicyError` when it cannot be trusted."""
    rev = f"`{sources.base_rev}`"
    if sources.base_gate is not None:
        where = f"{sources.gate_file} at {sources.base_rev}"
        return Policy(
            _validated(_load(sources.base_gate, where), where),
            f"`{sources.gate_file}` at the base revision {rev}",
        )
    if sources.base_params is not None:
        where = f"{sources.params_file} at {sources.base_rev}"
        document = _load(sources.base_params, where)
        if not isinstance(document, dict):
            raise PolicyError(f"{where} is not a YAML mapping, so its gate policy cannot be read")
        if LEGACY_SECTION in document:
            return Policy(
                _validated(document[LEGACY_SECTION], where, f"{LEGACY_SECTION}."),
                f"`{sources.params_file}: {LEGACY_SECTION}` at the base revision {rev} "
                f"(it has no `{sources.gate_file}` yet)",
            )
    if sources.candidate_gate is None:
        raise PolicyError(
            f"neither the base revision {rev} nor this workspace has a gate policy: "
            f"write {sources.gate_file}"
        )
    where = f"{sources.gate_file} (workspace)"
    return Policy(
        _validated(_load(sources.candidate_gate, where), where),
        f"this pull request's own `{sources.gate_file}` (first gate: the base revision {rev} "
        "has no gate policy)",
        first_gate=True,
    )
