#!/usr/bin/env bash
# GRPO on a MATH-style dataset (columns `problem`, `answer`) with rewards from `aha serve-reward`.
# Flags of OpenRLHF 0.11.x (checked with 0.11.2: scripts/engines-check.sh parses this file with
# OpenRLHF's own argument parser). OpenRLHF <= 0.10.1 spells them --pretrain, --remote_rm_url,
# --prompt_data, --input_key, --label_key, ... (see examples/openrlhf/README.md).
#
# RM_URL may also be the path of a Python file defining reward_func (no server needed):
#   RM_URL=$(python -c "import aha.openrlhf as m; print(m.__file__)")
set -euo pipefail
RM_URL=${RM_URL:-http://127.0.0.1:5000/get_reward}

python3 -m openrlhf.cli.train_ppo_ray \
  --actor.model_name_or_path Qwen/Qwen2.5-Math-1.5B \
  --reward.remote_url "$RM_URL" \
  --data.prompt_dataset your/math-dataset \
  --data.input_key problem \
  --data.label_key answer \
  --data.apply_chat_template \
  --algo.advantage.estimator group_norm \
  --rollout.n_samples_per_prompt 8 \
  --data.max_samples 100000 \
  --rollout.max_new_tokens 3000 \
  --ckpt.output_dir ./ckpt/grpo-math-aha-reward
