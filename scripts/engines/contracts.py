"""Engine contract checks that need neither torch nor the engines' GPU stacks.

Used by openrlhf_check.py / verl_check.py and, on their own, by quick_check.py (the part of
scripts/engines-check.sh that scripts/test.sh runs). Packages are located without importing
them (`openrlhf.utils` and `verl` import torch on import).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import shlex
import sys
from pathlib import Path
from typing import Any

from common import ROOT, Checks

EXAMPLE = ROOT / "examples" / "openrlhf" / "train_grpo_math.sh"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # a top-level package: nothing of it runs
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(name)
    return Path(list(spec.submodule_search_locations)[0])


def openrlhf_parser() -> argparse.ArgumentParser:
    """The parser `openrlhf/cli/train_ppo_ray.py` builds under `if __name__ == "__main__":`.

    Its statements up to `parse_args()` run as written, with the module's standard-library
    imports (argparse, os, datetime) and nothing else (the module imports Ray, DeepSpeed and
    vLLM at the top)."""
    src = package_dir("openrlhf") / "cli" / "train_ppo_ray.py"
    tree = ast.parse(src.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))

    def stdlib(n: ast.stmt) -> bool:
        if isinstance(n, ast.Import):
            return all(a.name.split(".")[0] in sys.stdlib_module_names for a in n.names)
        if isinstance(n, ast.ImportFrom):
            return (n.module or "").split(".")[0] in sys.stdlib_module_names
        return False

    body: list[ast.stmt] = [n for n in tree.body if stdlib(n)]
    for stmt in main.body:
        if "parse_args" in ast.unparse(stmt):
            break
        body.append(stmt)
    scope: dict[str, Any] = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(src), "exec"), scope)  # noqa: S102
    parser: argparse.ArgumentParser = scope["parser"]
    return parser


def openrlhf_hierarchize() -> Any:
    """`openrlhf.utils.config.hierarchize`, loaded from its file (its package imports torch)."""
    path = package_dir("openrlhf") / "utils" / "config.py"
    spec = importlib.util.spec_from_file_location("openrlhf_config", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hierarchize


def example_flags() -> list[str]:
    """The flags of the train_ppo_ray command in examples/openrlhf/train_grpo_math.sh."""
    text = EXAMPLE.read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if "openrlhf.cli.train_ppo_ray" in l)
    argv = shlex.split(line.replace('"$RM_URL"', "http://127.0.0.1:5000/get_reward"))
    return argv[argv.index("openrlhf.cli.train_ppo_ray") + 1:]


def check_openrlhf_parser(c: Checks) -> None:
    parser = openrlhf_parser()
    hierarchize = openrlhf_hierarchize()
    flags = example_flags()
    c.check(len(flags) > 10, f"flags read from {EXAMPLE.relative_to(ROOT)}", flags)
    ns, rest = parser.parse_known_args(flags)
    c.equal(rest, [], "flags of the example OpenRLHF does not know")
    args = hierarchize(ns)
    c.equal(args.reward.remote_url, "http://127.0.0.1:5000/get_reward", "args.reward.remote_url")
    c.equal(args.data.label_key, "answer", "args.data.label_key")
    c.equal(args.data.input_key, "problem", "args.data.input_key")
    c.equal(args.algo.advantage.estimator, "group_norm", "args.algo.advantage.estimator")
    c.equal(args.actor.model_name_or_path, "Qwen/Qwen2.5-Math-1.5B", "args.actor.model_name_or_path")
    py = hierarchize(parser.parse_args(["--reward.remote_url", "/x/aha/openrlhf.py", "--data.label_key", "answer"]))
    c.equal(py.reward.remote_url, "/x/aha/openrlhf.py", "--reward.remote_url takes a .py path")
    for old in (["--remote_rm_url", "http://x/get_reward"], ["--label_key", "answer"]):
        _, rest = parser.parse_known_args(old)
        c.equal(rest, old, f"pre-0.10.2 flag {old[0]}: unknown to this OpenRLHF (its parser exits on it)")


def verl_config(overrides: list[str]) -> Any:
    """verl's own trainer config (ppo_trainer.yaml and its defaults), composed by Hydra."""
    from hydra import compose, initialize_config_dir

    config_dir = package_dir("verl") / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def check_verl_config(c: Checks) -> None:
    path = str(ROOT / "python" / "pysrc" / "aha" / "verl.py")
    cfg = verl_config([f"reward.custom_reward_function.path={path}", "reward.custom_reward_function.name=compute_score"])
    c.equal(cfg.reward.custom_reward_function.path, path, "verl config: reward.custom_reward_function.path")
    c.equal(cfg.reward.custom_reward_function.name, "compute_score", "verl config: reward.custom_reward_function.name")
    c.equal(cfg.reward.reward_manager.name, "naive", "verl config: default reward.reward_manager.name")
    kw = verl_config(["+reward.custom_reward_function.reward_kwargs.task=countdown"])
    c.equal(dict(kw.reward.custom_reward_function.reward_kwargs), {"task": "countdown"},
            "verl config: +reward.custom_reward_function.reward_kwargs.task (aha's option keywords)")
    old = verl_config([f"custom_reward_function.path={path}"])
    c.check(old.reward.custom_reward_function.path is None,
            "verl config: the pre-0.9 top-level custom_reward_function.path does not set reward.custom_reward_function.path")
