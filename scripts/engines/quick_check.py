"""The torch-free part of the engine checks (run by scripts/test.sh through
`scripts/engines-check.sh quick`): OpenRLHF 0.11's own argument parser on the flags of
examples/openrlhf/train_grpo_math.sh, and verl 0.9's own Hydra trainer config on the reward keys
our docs give. Needs only the two engine packages (installed without dependencies) and
hydra-core; seconds to run."""

from __future__ import annotations

from common import Checks, version
from contracts import check_openrlhf_parser, check_verl_config

C = Checks(f"quick: openrlhf {version('openrlhf')} parser, verl {version('verl')} config (no torch)")
check_openrlhf_parser(C)
check_verl_config(C)
C.close()
