"""File for verl's custom reward function path: defines ``compute_score`` (and the batch form).

verl 0.9.x (checked with 0.9.1)::

    reward.custom_reward_function.path=$(python -c "import aha.verl as m; print(m.__file__)")
    reward.custom_reward_function.name=compute_score

verl <= 0.6 reads the top-level ``custom_reward_function.path`` / ``.name`` instead (0.7-0.8
accept both), and with ``reward_model.reward_manager=batch`` takes ``compute_score_batch``.
"""

from aha.rewards import compute_score, compute_score_batch

__all__ = ["compute_score", "compute_score_batch"]
