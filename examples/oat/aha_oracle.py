"""oat reward oracle backed by `aha serve-reward` (POST /get_feedback, msgpack).

oat's stock `RemoteRMOracle.get_reward` drops the reference answers; a rule-based oracle needs
them, so this subclass sends them as `batch_reference` (aha's extension of the protocol).
Candidate pairs (`compare`) come back as 1 / 0 / 0.5: a's reward higher / lower / equal.

Use it where oat builds its oracle, e.g. in your experiment script:

    from aha_oracle import AhaRewardOracle
    oracle = AhaRewardOracle("http://RM_HOST:5000")
"""

from typing import List, Tuple

import httpx
import msgspec
import torch


class AhaRewardOracle:
    def __init__(self, url: str, timeout_s: float = 30.0, batch_size: int = 256):
        self.client = httpx.Client(base_url=url, timeout=timeout_s)
        self.batch_size = batch_size

    def _post(self, payload: dict) -> dict:
        resp = self.client.post("/get_feedback", content=msgspec.msgpack.encode(payload))
        if resp.status_code != 200:
            # Errors are JSON with a message naming the offending field.
            raise RuntimeError(f"aha serve-reward: {resp.status_code} {resp.text}")
        return msgspec.msgpack.decode(resp.content)

    def get_reward(
        self, inputs: List[str], responses: List[str], references: List[str], batch_size: int = 4
    ) -> Tuple[torch.Tensor, dict]:
        scores = []
        for i in range(0, len(inputs), self.batch_size):
            out = self._post({
                "batch_prompt": inputs[i:i + self.batch_size],
                "batch_response": responses[i:i + self.batch_size],
                "batch_candidates": [],
                "batch_reference": references[i:i + self.batch_size],
            })
            scores.extend(out["batch_score"])
        return torch.tensor(scores), {}
