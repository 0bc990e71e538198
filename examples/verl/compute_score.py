"""verl custom reward function backed by `aha serve-reward` (POST /v1/verify).

verl config:

    custom_reward_function.path=examples/verl/compute_score.py
    custom_reward_function.name=compute_score          # one sample per call (naive manager)
    # or, with reward_model.reward_manager=batch:
    custom_reward_function.name=compute_score_batch

Set AHA_REWARD_URL (default http://127.0.0.1:5000). Standard library only.

`ground_truth` is the parquet column `reward_model.ground_truth`: a math answer (string or
number), a list of acceptable answers (any of them is correct; a parquet list column arrives as a
numpy array), or a TinyZero Countdown dict {"target": N, "numbers" or "nums": [...]} (then the
item is graded as Countdown).
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
    """verl's per-sample signature (NaiveRewardManager)."""
    return _to_verl(_post([_item(solution_str, ground_truth)])[0])


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batch signature (reward_manager=batch): one HTTP request per batch."""
    items = [_item(s, g) for s, g in zip(solution_strs, ground_truths)]
    return [_to_verl(r) for r in _post(items)]
