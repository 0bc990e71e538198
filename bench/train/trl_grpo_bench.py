"""Seconds per RL step of TRL's GRPOTrainer on CPU, on a random-init model built from a config.

Same setting as crates/train/examples/rl_step_bench.rs: 1 prompt x G generations per step, every
completion exactly --completion-len tokens (min_new_tokens = max_completion_length, so EOS can
never end one early), lr 1e-6, beta 0, fp32, one optimizer step per rollout batch, GRPO loss.
Prints one JSON line (per-step seconds, median, peak RSS) like the aha side.

Run by bench/train/run.sh inside the venv that bench/train/setup-venv.sh builds.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=704)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--completion-len", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    # TRL's GRPOConfig turns gradient checkpointing on by default (it recomputes each layer's
    # forward in the backward: less memory, more time); this keeps TRL's default unless asked.
    ap.add_argument("--no-gradient-checkpointing", action="store_true")
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
        TrainerCallback,
    )
    from trl import GRPOConfig, GRPOTrainer

    # A word-level vocabulary "t0 .. t{V-1}" covers every id a random model can sample, with no
    # download; ids 0/1/2 are pad/bos/eos as in the aha tiny config.
    vocab = {f"t{i}": i for i in range(a.vocab)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="t0", bos_token="t1", eos_token="t2", unk_token="t0"
    )
    tokenizer.padding_side = "left"

    common = dict(
        vocab_size=a.vocab,
        hidden_size=a.hidden,
        intermediate_size=a.intermediate,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    if a.arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    model = model.float()
    params = sum(p.numel() for p in model.parameters())

    # The same prompt ids as the aha side: 3 + (i * 7919) mod (V - 3).
    prompt = " ".join(f"t{3 + (i * 7919) % (a.vocab - 3)}" for i in range(a.prompt_len))
    n_steps = a.warmup + a.steps
    ds = Dataset.from_dict({"prompt": [prompt] * n_steps})

    def reward(completions, **kwargs):
        # Share of even token ids, as on the aha side: differs within the group.
        out = []
        for c in completions:
            ids = [int(w[1:]) for w in c.split()]
            out.append(sum(1 for i in ids if i % 2 == 0) / max(len(ids), 1))
        return out

    times = []
    lengths = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            dt = time.perf_counter() - self.t
            times.append(dt)
            print(f"trl step {len(times) - 1}: {dt:.3f} s", file=sys.stderr, flush=True)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    with tempfile.TemporaryDirectory() as out_dir:
        cfg = GRPOConfig(
            output_dir=out_dir,
            per_device_train_batch_size=a.group,
            num_generations=a.group,
            gradient_accumulation_steps=1,
            max_completion_length=a.completion_len,
            generation_kwargs={"min_new_tokens": a.completion_len},
            temperature=1.0,
            top_p=1.0,
            learning_rate=1e-6,
            lr_scheduler_type="constant",
            beta=0.0,
            loss_type="grpo",
            bf16=False,
            use_cpu=True,
            max_steps=n_steps,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=a.seed,
            dataloader_num_workers=0,
            disable_tqdm=True,
            gradient_checkpointing=not a.no_gradient_checkpointing,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward,
            args=cfg,
            train_dataset=ds,
            processing_class=tokenizer,
            callbacks=[Timer()],
        )
        trainer.train()

    measured = times[a.warmup :]
    if any(abs(l - a.completion_len) > 1e-6 for l in lengths):
        sys.exit(f"completions did not all run to {a.completion_len} tokens: {lengths}")
    print(
        json.dumps(
            {
                "schema_version": 1,
                "system": "trl",
                "params": params,
                "config": {
                    "arch": a.arch,
                    "layers": a.layers,
                    "hidden": a.hidden,
                    "intermediate": a.intermediate,
                    "heads": a.heads,
                    "kv_heads": a.kv_heads,
                    "vocab": a.vocab,
                    "tie_word_embeddings": True,
                },
                "group": a.group,
                "prompt_len": a.prompt_len,
                "completion_len": a.completion_len,
                "warmup": a.warmup,
                "step_s": measured,
                "median_step_s": statistics.median(measured),
                "mean_completion_len": statistics.mean(lengths) if lengths else None,
                # ru_maxrss is KiB on Linux
                "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "threads": a.threads,
                "gradient_checkpointing": cfg.gradient_checkpointing,
                # The SIMD level ATen's kernels dispatched to (ATEN_CPU_CAPABILITY caps it).
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "versions": {
                    "torch": torch.__version__,
                    "trl": __import__("trl").__version__,
                    "transformers": __import__("transformers").__version__,
                },
            }
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
