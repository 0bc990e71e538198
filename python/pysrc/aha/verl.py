"""File for verl's ``custom_reward_function.path``: defines ``compute_score`` (and the batch form).

    custom_reward_function.path=$(python -c "import aha.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score          # or compute_score_batch with reward_manager=batch
"""

from aha.rewards import compute_score, compute_score_batch

__all__ = ["compute_score", "compute_score_batch"]
