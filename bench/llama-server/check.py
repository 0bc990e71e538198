#!/usr/bin/env python3
"""Checks a running llama-server (or any OpenAI-compatible server) against what `aha probe`
needs, then runs `aha probe --server` against it and `aha probe --model` on the same GGUF.

Called by bench/llama-server/run.sh, which starts and stops the server. Standard library only.
Prints one `PASS`/`FAIL` line per check (and `INFO` lines for observations that are not part of
the contract), then a JSON result file; exits 1 if any check failed.

    check.py --base http://127.0.0.1:PORT/v1 --model-name NAME --aha BIN --gguf FILE --out DIR
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

RESULTS = []  # (status, name, detail)


def report(ok, name, detail=""):
    status = "PASS" if ok else "FAIL"
    RESULTS.append((status, name, detail))
    print(f"{status}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


def info(name, detail):
    RESULTS.append(("INFO", name, detail))
    print(f"INFO  {name}  ({detail})", flush=True)


def post(base, path, body, timeout=300):
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text}


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------------------------
# The server's own contract, one endpoint at a time.
# ---------------------------------------------------------------------------------------------

# A near-deterministic prompt (greedy, stop-string and log-prob checks) and an open one (seed and
# n checks, where a different seed must be able to change the text).
CMPL_PROMPT = "Count from 1 to 30 separated by commas: 1, 2, 3,"
CHAT_PROMPT = "Count from 1 to 30, separated by commas. Then name three colours."
CMPL_OPEN = "Once upon a time, in a small village by the sea,"
CHAT_OPEN = "Write a short story about a dragon who learns to cook."


class Endpoint:
    """Sends one request shape to /completions or /chat/completions and reads the answer."""

    def __init__(self, base, model, chat, open_prompt=False):
        self.base, self.model, self.chat = base, model, chat
        self.tag = "chat" if chat else "cmpl"
        if chat:
            self.prompt = CHAT_OPEN if open_prompt else CHAT_PROMPT
        else:
            self.prompt = CMPL_OPEN if open_prompt else CMPL_PROMPT

    def open(self):
        return Endpoint(self.base, self.model, self.chat, open_prompt=True)

    def body(self, **kw):
        b = {"model": self.model}
        if self.chat:
            b["messages"] = [{"role": "user", "content": self.prompt}]
        else:
            b["prompt"] = self.prompt
        for k, v in kw.items():
            if v is not None:
                b[k] = v
        return b

    def send(self, **kw):
        path = "/chat/completions" if self.chat else "/completions"
        return post(self.base, path, self.body(**kw))

    def texts(self, resp):
        out = []
        for c in resp.get("choices", []):
            if self.chat:
                out.append((c.get("message") or {}).get("content") or "")
            else:
                out.append(c.get("text", ""))
        return out


def token_logprobs(ep, choice):
    """(token strings, chosen logprobs, top lists [(token, logprob)]) from either the OpenAI
    legacy completions layout or the chat layout (`content: [{token, logprob, top_logprobs}]`)."""
    lp = choice.get("logprobs")
    if lp is None:
        return None
    if isinstance(lp, dict) and "content" in lp:
        toks = [e.get("token") for e in lp["content"]]
        vals = [e.get("logprob") for e in lp["content"]]
        tops = [[(t.get("token"), t.get("logprob")) for t in e.get("top_logprobs", [])]
                for e in lp["content"]]
        return toks, vals, tops
    if isinstance(lp, dict) and "token_logprobs" in lp:
        toks = lp.get("tokens", [])
        vals = lp["token_logprobs"]
        tops = [sorted(d.items(), key=lambda kv: -kv[1]) if d else [] for d in lp.get("top_logprobs") or []]
        return toks, vals, tops
    return "unknown layout: " + json.dumps(lp)[:200]


def check_endpoint(ep, slots, max_tokens=48):
    t = ep.tag
    # Greedy: temperature 0 twice, identical.
    s1, r1 = ep.send(temperature=0, max_tokens=max_tokens)
    s2, r2 = ep.send(temperature=0, max_tokens=max_tokens)
    if not report(s1 == 200 and s2 == 200, f"[{t}] requests answered 200", f"{s1}, {s2}"):
        print(json.dumps(r1)[:500])
        return
    g1, g2 = ep.texts(r1)[0], ep.texts(r2)[0]
    report(g1 == g2 and len(g1) > 0, f"[{t}] temperature 0 twice gives the same text",
           f"{len(g1)} chars: {g1[:60]!r}")

    # max_tokens honoured and reported.
    u = r1.get("usage") or {}
    ct = u.get("completion_tokens")
    fr = r1["choices"][0].get("finish_reason")
    report(ct is not None and ct <= max_tokens and (ct < max_tokens or fr == "length"),
           f"[{t}] max_tokens={max_tokens} honoured", f"completion_tokens={ct}, finish_reason={fr}")

    # Stop string: a piece of the greedy text from its middle; the stopped text must be the
    # greedy text up to the first occurrence of that piece, with finish_reason "stop".
    k = len(g1) // 2
    while k < len(g1) - 3 and g1[k].isspace():
        k += 1
    stop = g1[k:k + 3]
    first = g1.find(stop)
    s, r = ep.send(temperature=0, max_tokens=max_tokens, stop=[stop])
    txt = ep.texts(r)[0] if s == 200 else None
    report(s == 200 and txt == g1[:first] and r["choices"][0].get("finish_reason") == "stop",
           f"[{t}] stop string honoured and stripped",
           f"stop={stop!r}: got {len(txt or '')} chars, want {first}; "
           f"finish_reason={r.get('choices', [{}])[0].get('finish_reason') if s == 200 else s}")

    # Two stop strings, only the second matching: the list form works, not just the first item.
    s, r = ep.send(temperature=0, max_tokens=max_tokens, stop=["\u2603never\u2603", stop])
    txt = ep.texts(r)[0] if s == 200 else None
    report(s == 200 and txt == g1[:first], f"[{t}] every stop string in the list counts",
           f"got {len(txt or '')} chars, want {first}")

    # Same seed at temperature 1 -> the same text; another seed -> (very likely) another text.
    # The open prompt, so that sampling has room to differ.
    op = ep.open()
    kw = dict(temperature=1.0, top_p=1.0, max_tokens=max_tokens)
    sa, ra = op.send(seed=1234, **kw)
    sb, rb = op.send(seed=1234, **kw)
    sc, rc = op.send(seed=4321, **kw)
    a, b, c = op.texts(ra)[0], op.texts(rb)[0], op.texts(rc)[0]
    report(a == b, f"[{t}] same seed at temperature 1 gives the same text", f"{a[:50]!r}")
    report(a != c, f"[{t}] another seed gives another text", f"{c[:50]!r}")

    # top_p honoured: a tiny nucleus at temperature 1 keeps only the top token -> greedy text.
    s, r = ep.send(temperature=1.0, top_p=1e-6, seed=99, max_tokens=max_tokens)
    report(s == 200 and ep.texts(r)[0] == g1, f"[{t}] top_p honoured (top_p=1e-6 equals greedy)")

    # n > 1: n choices, indices 0..n-1, not all the same at temperature 1. llama-server caps n
    # at its slot count (--parallel), so n = slots here and n = slots + 1 is tried apart.
    n = slots
    s, r = op.send(n=n, seed=7, **kw)
    texts = op.texts(r) if s == 200 else []
    idx = sorted(c.get("index", -1) for c in r.get("choices", [])) if s == 200 else []
    report(s == 200 and len(texts) == n and idx == list(range(n)), f"[{t}] n={n} gives {n} choices",
           f"status {s}, indices {idx}" + ("" if s == 200 else f": {json.dumps(r)[:200]}"))
    report(len(set(texts)) == n, f"[{t}] n={n} choices differ at temperature 1 (one seed)",
           f"{len(set(texts))} distinct")
    u = r.get("usage") or {}
    lens = [len(x) for x in texts]
    info(f"[{t}] usage of an n={n} answer", f"{json.dumps(u)}; choice lengths {lens} chars")
    # The seed with n > 1: is the whole n-sample answer reproducible?
    s2, r2 = op.send(n=n, seed=7, **kw)
    texts2 = op.texts(r2) if s2 == 200 else []
    report(s == 200 and texts == texts2, f"[{t}] n={n} with the same seed reproduces all {n} choices")
    s3, r3 = op.send(n=n + 1, seed=7, **kw)
    info(f"[{t}] n={n + 1} (more than the {slots} slots)", f"status {s3}: {json.dumps(r3)[:160]}")

    # Log-probs.
    if ep.chat:
        s, r = ep.send(temperature=0, max_tokens=16, logprobs=True, top_logprobs=3)
    else:
        s, r = ep.send(temperature=0, max_tokens=16, logprobs=3)
    ch = r["choices"][0] if s == 200 and r.get("choices") else {}
    parsed = token_logprobs(ep, ch) if ch else None
    if not isinstance(parsed, tuple):
        report(False, f"[{t}] log-probs returned", f"status {s}: {parsed}")
    else:
        toks, vals, tops = parsed
        n_tok = (r.get("usage") or {}).get("completion_tokens")
        text = ep.texts(r)[0]
        report(len(vals) > 0 and (n_tok is None or len(vals) == n_tok),
               f"[{t}] log-probs: one entry per generated token", f"{len(vals)} entries, usage {n_tok}")
        finite = all(v is not None and math.isfinite(v) and v <= 1e-6 for v in vals)
        report(finite, f"[{t}] log-probs finite and <= 0",
               f"min {min(vals):.3f}, max {max(vals):.3f}" if vals else "none")
        ok_top = all(len(tp) == 3 and all(tp[i][1] >= tp[i + 1][1] for i in range(len(tp) - 1))
                     for tp in tops)
        report(ok_top and len(tops) == len(vals), f"[{t}] top-3 alternatives per token, sorted")
        greedy_is_top = all(tp and abs(tp[0][1] - v) < 1e-4 for tp, v in zip(tops, vals))
        report(greedy_is_top, f"[{t}] at temperature 0 the chosen token is the top-1 one")
        if toks and all(isinstance(x, str) for x in toks):
            report("".join(toks) == text, f"[{t}] log-prob tokens concatenate to the text")
        mass = [sum(math.exp(x[1]) for x in tp) for tp in tops]
        info(f"[{t}] top-3 probability mass per token", f"min {min(mass):.3f}, max {max(mass):.3f}")

    # stop_token_ids (vLLM/SGLang extension): llama-server has no such field.
    tok_resp = post(ep.base.rsplit("/v1", 1)[0], "/tokenize", {"content": stop})
    ids = tok_resp[1].get("tokens", []) if tok_resp[0] == 200 else []
    if ids:
        s, r = ep.send(temperature=0, max_tokens=max_tokens, stop_token_ids=[ids[0]])
        txt = ep.texts(r)[0] if s == 200 else None
        info(f"[{t}] stop_token_ids=[{ids[0]}] (the stop piece's first token)",
             f"status {s}; " + ("ignored: full greedy text" if txt == g1 else
                                "honoured" if txt is not None and len(txt) < len(g1) else f"{str(r)[:120]}"))


# ---------------------------------------------------------------------------------------------
# aha probe against the server, and the embedded probe on the same GGUF.
# ---------------------------------------------------------------------------------------------


def run_probe(args, out, extra, label):
    cmd = [args.aha, "probe", "--data", args.data, "--limit", str(args.limit),
           "--template", "r1", "--template", "chat",
           "--temperatures", "0,0.8", "-n", str(args.n), "--max-tokens", str(args.max_tokens),
           "--top-p", "0.9", "--out", out] + extra
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    with open(out + ".log", "w") as f:
        f.write(p.stdout + "\n--- stderr ---\n" + p.stderr)
    if p.returncode != 0:
        print(p.stderr[-2000:])
    return p.returncode, wall, cmd


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def key_paths(v, prefix=""):
    """The set of key paths of a JSON value (list items merged), for schema comparison."""
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            p = f"{prefix}.{k}" if prefix else k
            out.add(p)
            out |= key_paths(x, p)
    elif isinstance(v, list):
        for x in v:
            out |= key_paths(x, prefix + "[]")
    return out


def check_probe(args):
    server = ["--server", args.base, "--model-name", args.model_name, "--seed", "7",
              "--concurrency", str(args.concurrency)]
    outs = {}
    walls = {}
    cmds = {}
    for label, extra in [("server", server), ("server-again", server),
                         ("server-seed8", server[:-3] + ["8", "--concurrency", str(args.concurrency)]),
                         ("embedded", ["--model", args.gguf, "--seed", "7"])]:
        out = os.path.join(args.out, "probe-" + label)
        rc, wall, cmd = run_probe(args, out, extra, label)
        walls[label], cmds[label] = wall, " ".join(cmd)
        report(rc == 0, f"[probe] aha probe ({label}) exits 0", f"{wall:.1f} s")
        if rc == 0:
            outs[label] = out
    if "server" not in outs:
        return walls, cmds
    resp = read_jsonl(os.path.join(outs["server"], "responses.jsonl"))
    want = 2 * args.limit * (1 + args.n)  # two templates; temperature 0 takes one sample
    report(len(resp) == want, "[probe] every sample answered (r1 -> /completions, chat -> /chat/completions)",
           f"{len(resp)} of {want}")
    by_t = {}
    for r in resp:
        by_t.setdefault(r["template"], []).append(r)
    for tmpl in ("r1", "chat"):
        rows = by_t.get(tmpl, [])
        empty = sum(1 for r in rows if not r["response"])
        info(f"[probe] {tmpl}: finish reasons",
             json.dumps({f: sum(1 for r in rows if r["finish_reason"] == f)
                         for f in sorted({r["finish_reason"] for r in rows})}) + f", empty texts {empty}")
        report(all(r.get("num_tokens") for r in rows), f"[probe] {tmpl}: token counts reported")
        report(all(r["num_tokens"] <= args.max_tokens for r in rows if r.get("num_tokens")),
               f"[probe] {tmpl}: --max-tokens {args.max_tokens} honoured")
    # The r1 template stops at </answer>: a stopped sample has at most one, at the very end
    # (the probe puts the stripped stop string back), and nothing after it.
    r1 = by_t.get("r1", [])
    bad = [r for r in r1 if "</answer>" in r["response"] and not r["response"].endswith("</answer>")]
    hits = sum(1 for r in r1 if r["response"].endswith("</answer>"))
    report(not bad, "[probe] r1: nothing generated past the </answer> stop string",
           f"{hits} of {len(r1)} samples stopped there")
    seeds = [r.get("seed") for r in resp]
    report(all(isinstance(s, int) for s in seeds) and len(set(seeds)) == len(seeds),
           "[probe] every sample sent with its own seed", f"{len(set(seeds))} distinct seeds")
    # Reproducible: the same run again gives the same texts; another base seed changes them.
    if "server-again" in outs:
        again = {tuple((r["template"], r["question_id"], r["temperature"], r["sample_index"])): r
                 for r in read_jsonl(os.path.join(outs["server-again"], "responses.jsonl"))}
        same = sum(1 for r in resp
                   if again.get((r["template"], r["question_id"], r["temperature"], r["sample_index"]), {})
                   .get("response") == r["response"])
        report(same == len(resp), "[probe] same --seed twice: identical responses",
               f"{same} of {len(resp)} identical")
        diff_t = [r for r in resp if r["response"] != again.get(
            (r["template"], r["question_id"], r["temperature"], r["sample_index"]), {}).get("response")]
        if diff_t:
            info("[probe] differing samples", ", ".join(
                f"{r['template']}/{r['question_id']}/T{r['temperature']}/#{r['sample_index']}" for r in diff_t[:8]))
    if "server-seed8" in outs:
        other = {(r["template"], r["question_id"], r["temperature"], r["sample_index"]): r
                 for r in read_jsonl(os.path.join(outs["server-seed8"], "responses.jsonl"))}
        hot = [r for r in resp if r["temperature"] > 0]
        changed = sum(1 for r in hot if other.get(
            (r["template"], r["question_id"], r["temperature"], r["sample_index"]), {}).get("response") != r["response"])
        greedy = [r for r in resp if r["temperature"] == 0]
        g_same = sum(1 for r in greedy if other.get(
            (r["template"], r["question_id"], r["temperature"], r["sample_index"]), {}).get("response") == r["response"])
        report(changed > len(hot) // 2, "[probe] --seed 8 changes the temperature-0.8 samples",
               f"{changed} of {len(hot)} changed")
        report(g_same == len(greedy), "[probe] --seed 8 leaves the greedy samples as they were",
               f"{g_same} of {len(greedy)} identical")
    # n samples per question at T > 0 are not copies of each other.
    groups = {}
    for r in resp:
        if r["temperature"] > 0:
            groups.setdefault((r["template"], r["question_id"]), set()).add(r["response"])
    report(all(len(v) == args.n for v in groups.values()),
           f"[probe] the {args.n} samples of each question at T=0.8 differ",
           f"{sum(1 for v in groups.values() if len(v) == args.n)} of {len(groups)} groups")
    # Same summary schema as the embedded probe of the same GGUF.
    if "embedded" in outs:
        a = json.load(open(os.path.join(outs["server"], "summary.json")))
        b = json.load(open(os.path.join(outs["embedded"], "summary.json")))
        ka, kb = key_paths(a), key_paths(b)
        report(ka == kb, "[probe] summary.json schema equals the embedded probe's",
               f"{len(ka)} key paths" + ("" if ka == kb else
                                         f"; only server: {sorted(ka - kb)[:5]}, only embedded: {sorted(kb - ka)[:5]}"))
        emb = read_jsonl(os.path.join(outs["embedded"], "responses.jsonl"))
        report(len(emb) == want, "[probe] embedded probe sampled the same number of samples",
               f"{len(emb)} of {want}")
    return walls, cmds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--model-name", required=True)
    ap.add_argument("--aha", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="math500")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--slots", type=int, default=2, help="the server's --parallel")
    ap.add_argument("--skip-probe", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    models = get(args.base + "/models")
    ids = [m.get("id") for m in models.get("data", [])]
    report(args.model_name in ids or len(ids) == 1, "/v1/models lists the model", f"{ids}")

    t0 = time.monotonic()
    for chat in (False, True):
        check_endpoint(Endpoint(args.base, args.model_name, chat), args.slots)
    api_wall = time.monotonic() - t0
    walls, cmds = ({}, {}) if args.skip_probe else check_probe(args)

    fails = [r for r in RESULTS if r[0] == "FAIL"]
    passes = [r for r in RESULTS if r[0] == "PASS"]
    result = {"checks": [{"status": s, "name": n, "detail": d} for s, n, d in RESULTS],
              "api_checks_wall_s": round(api_wall, 1),
              "probe_wall_s": {k: round(v, 1) for k, v in walls.items()},
              "probe_commands": cmds}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n{len(passes)} passed, {len(fails)} failed; API checks {api_wall:.1f} s; "
          + ", ".join(f"probe {k} {v:.1f} s" for k, v in walls.items()))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
