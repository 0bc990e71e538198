"""The peer for bench/serve/run.sh: an OpenRLHF remote reward server as users write it today.

FastAPI + uvicorn (as OpenRLHF's own `openrlhf/cli/serve_rm.py`), grading with HF math-verify
0.9.0 (as OpenRLHF's `examples/python/math_reward_func.py` and TRL's `accuracy_reward`).
Same protocol and same work as `aha serve-reward` on /get_reward: strip the prompt prefix and
special tokens from each query, grade the response against the label, answer
{"rewards", "scores", "extra_logs"}.

The handler is `async def` on purpose: math-verify's timeouts use signal.alarm, which only works
on the main thread (a plain `def` handler runs in a thread pool, where the timeouts fail; see
verl #3407).

Usage: peer_mathverify.py PORT
"""

import sys

import uvicorn
from fastapi import FastAPI, Request
from math_verify import parse, verify

STOP_MARKERS = ["<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "</s>", "<end_of_turn>"]

app = FastAPI()


def grade(response: str, label: str) -> float:
    gold = parse("$" + label + "$")
    answer = parse(response)
    return 1.0 if verify(gold, answer) else 0.0


@app.post("/get_reward")
async def get_reward(request: Request):
    data = await request.json()
    queries, prompts, labels = data["query"], data.get("prompts"), data["labels"]
    rewards = []
    for i, query in enumerate(queries):
        if prompts and query.startswith(prompts[i]):
            query = query[len(prompts[i]):]
        for marker in STOP_MARKERS:
            query = query.replace(marker, "")
        rewards.append(grade(query, labels[i]))
    return {"rewards": rewards, "scores": rewards, "extra_logs": {"correct": rewards}}


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
