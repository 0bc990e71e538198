"""verl custom reward function backed by `aha serve-reward` (POST /v1/verify).

Checked with verl 0.9.1 (scripts/engines-check.sh: verl's reward-loop worker loads this file
from verl's own config and scores a DataProto from verl's collate; the legacy naive and batch
managers score the same batch).

verl 0.9.x config (the reward loop calls `compute_score` once per sample, in a thread):

    reward.custom_reward_function.path=examples/verl/compute_score.py
    reward.custom_reward_function.name=compute_score

Older verl: 0.7-0.8 also accept the top-level `custom_reward_function.path/name`; verl <= 0.6
reads only those, and with `reward_model.reward_manager=batch` takes
`custom_reward_function.name=compute_score_batch` (one HTTP request per batch). verl 0.9 ignores
the top-level keys (its default scorer runs instead) and has no `batch` manager in its reward loop.

Set AHA_REWARD_URL (default http://127.0.0.1:5000). Standard library only. For grading in
process instead (no service), point the path at the `aha` wheel's `aha/verl.py`.

`ground_truth` is the parquet column `reward_model.ground_truth`: a math answer (string or
number), a list of acceptable answers (any of them is correct; sent as a JSON list, and a parquet
list column, which arrives as a numpy array, too), or a TinyZero Countdown dict
{"target": N, "numbers" or "nums": [...]} (then the item is graded as Countdown).
The returned dict has "score" (what verl trains on) plus per-sample metrics that verl logs as
`reward_extra_info`.

Failures are loud: after the retries an exception is raised instead of returning 0, so a broken
reward service cannot silently zero the rewards of a run.
"""

import json
import os
import time
import urllib.error
import urllib.request

URL = os.environ.get("AHA_REWARD_URL", "http://127.0.0.1:5000").rstrip("/") + "/v1/verify"
TIMEOUT_S = float(os.environ.get("AHA_REWARD_TIMEOUT_S", "30"))
RETRIES = int(os.environ.get("AHA_REWARD_RETRIES", "5"))


def _item(solution_str, ground_truth):
    item = {"response": solution_str}
    numbers = ground_truth.get("numbers", ground_truth.get("nums")) if isinstance(ground_truth, dict) else None
    if numbers is not None and "target" in ground_truth:
        item["task"] = "countdown"
        item["gold"] = {"target": int(ground_truth["target"]), "numbers": [int(n) for n in numbers]}
    else:
        item["task"] = "math"
        # A list stays a list (any-of): str() of it would be "['2', '-2']", an unreadable gold.
        if hasattr(ground_truth, "tolist"):  # numpy arrays and scalars from parquet
            ground_truth = ground_truth.tolist()
        if isinstance(ground_truth, (list, tuple)):
            item["gold"] = [str(g) for g in ground_truth]
        else:
            item["gold"] = str(ground_truth)
    return item


def _post(items):
    body = json.dumps({"items": items}).encode("utf-8")
    delay = 0.5
    for attempt in range(RETRIES):
        request = urllib.request.Request(URL, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.load(response)["results"]
        except urllib.error.HTTPError as e:
            # 4xx: the request is wrong (the message names the field); retrying will not help.
            if 400 <= e.code < 500:
                raise RuntimeError(f"aha serve-reward rejected the request: {e.read().decode()}") from e
            last = e
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            last = e
        time.sleep(delay)
        delay *= 2
    raise RuntimeError(f"aha serve-reward at {URL} failed {RETRIES} times: {last}")


def _to_verl(result):
    return {
        "score": result["reward"],
        "correct": float(result["correct"]),
        "formatted": float(result["formatted"]),
        "gold_unparseable": float(result["verdict"] == "gold_unparseable"),
        "response_chars": float(result["response_chars"]),
        "reflection_keywords": float(result["reflection"]["total"]),
    }


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's per-sample signature (the reward loop's and the legacy NaiveRewardManager's)."""
    return _to_verl(_post([_item(solution_str, ground_truth)])[0])


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batch signature (the legacy BatchRewardManager): one HTTP request per batch."""
    items = [_item(s, g) for s, g in zip(solution_strs, ground_truths)]
    return [_to_verl(r) for r in _post(items)]
