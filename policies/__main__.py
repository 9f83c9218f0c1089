"""The pack's entry point: `python -m pulumi.policy <engine> .` runs this file in policies/,
serving the baseline's policies to the Pulumi CLI, every one mandatory."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# Run as a file in its own directory: the repository root makes `policies` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from policies.baseline import PACK, POLICIES

PolicyPack(name=PACK, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
