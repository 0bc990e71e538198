"""File for OpenRLHF's reward URL given as a path ending in ``.py``: defines ``reward_func``.

OpenRLHF 0.11.x (checked with 0.11.2; >= 0.10.2)::

    --reward.remote_url $(python -c "import aha.openrlhf as m; print(m.__file__)") --data.label_key answer

OpenRLHF <= 0.10.1: ``--remote_rm_url <path> --label_key answer``.
"""

from aha.rewards import reward_func

__all__ = ["reward_func"]
