"""File for OpenRLHF's ``--remote_rm_url`` (a path ending in ``.py``): defines ``reward_func``.

    --remote_rm_url $(python -c "import aha.openrlhf as m; print(m.__file__)") --label_key answer
"""

from aha.rewards import reward_func

__all__ = ["reward_func"]
