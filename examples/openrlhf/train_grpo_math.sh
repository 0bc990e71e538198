#!/usr/bin/env bash
# GRPO on a MATH-style dataset (columns `problem`, `answer`) with rewards from
# `aha serve-reward`. Flags as in OpenRLHF 0.9.x; in >= 0.10.2 use --reward.remote_url and
# --data.label_key instead of --remote_rm_url and --label_key.
set -euo pipefail
RM_URL=${RM_URL:-http://127.0.0.1:5000/get_reward}

python3 -m openrlhf.cli.train_ppo_ray \
  --pretrain Qwen/Qwen2.5-Math-1.5B \
  --remote_rm_url "$RM_URL" \
  --prompt_data your/math-dataset \
  --input_key problem \
  --label_key answer \
  --apply_chat_template \
  --advantage_estimator group_norm \
  --n_samples_per_prompt 8 \
  --max_samples 100000 \
  --generate_max_len 3000 \
  --save_path ./ckpt/grpo-math-aha-reward
