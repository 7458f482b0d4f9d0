#!/usr/bin/env python3
"""Tunes one rectune task with an off-the-shelf optimiser through the experiment platform
HTTP contract, at the task's budget, and prints what it did as one JSON document.

    run_baseline.py --url http://127.0.0.1:8088 --task config/tasks/rank-fusion.toml \\
        --strategy tpe|gp|ngopt|random --seed 1 [--rounds 8 --arms 4 --units 320000]

Each round asks the optimiser for ``arms`` configurations, launches them in one
experiment next to the production baseline as the control arm (equal traffic, the task's
units per arm), waits for it, reads every treatment's relative lifts against the control
(CUPED for mean metrics), and tells the optimiser the task's scalar objective with each
guardrail's signed breach (% of its threshold, <= 0 holds) as a constraint.

The final configuration (and the best-so-far after every round) is chosen as a
practitioner using Optuna would (``study.best_trial`` under constraints) and the same
way for every strategy: the launched arm with the highest measured objective among those
whose guardrails were all observed to hold and whose measured objective is above the
baseline's; the baseline when there is none.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from platform_client import Platform, check_task, read_arms  # noqa: E402
from strategies import make  # noqa: E402
from task import Task  # noqa: E402


def best_so_far(task: Task, arms: list[dict]) -> dict:
    ok = [a for a in arms if a["observed_feasible"] and a["score"] > 0.0]
    if not ok:
        return task.baseline()
    return max(ok, key=lambda a: a["score"])["config"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL of a platform speaking the contract")
    ap.add_argument("--task", required=True, help="rectune task file (TOML)")
    ap.add_argument("--strategy", required=True, choices=["tpe", "gp", "ngopt", "random"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, help="default: the task's budget")
    ap.add_argument("--arms", type=int, help="treatments per round; default: the task's budget")
    ap.add_argument("--units", type=int, help="units per arm; default: the task's budget")
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    args = ap.parse_args(argv)

    started = time.monotonic()
    task = Task.load(args.task)
    rounds = args.rounds or task.rounds
    k = args.arms or task.arms_per_round
    units = args.units or task.units_per_arm
    platform = Platform(args.url)
    check_task(task, platform.parameters(), platform.metrics())
    strategy = make(args.strategy, task, args.seed, rounds, k)
    run_id = f"{task.id}/{args.strategy}/seed-{args.seed}/{uuid.uuid4().hex[:8]}"
    baseline = task.baseline()
    share = int(10_000 / (k + 1)) / 10_000.0

    launched: list[dict] = []
    rounds_out = []
    optimiser_s = 0.0
    for r in range(1, rounds + 1):
        t0 = time.monotonic()
        batch = strategy.ask(k)
        optimiser_s += time.monotonic() - t0
        arms = [{"arm_id": "control", "traffic": share, "config": baseline}]
        arms += [{"arm_id": f"t{i + 1}", "traffic": share, "config": cfg} for i, (_, cfg) in enumerate(batch)]
        request = {
            "name": f"{task.id}/{args.strategy}/round-{r}",
            "control_arm": "control",
            "arms": arms,
            "units_per_arm": units,
            "seed": args.seed * 1_000 + r,
        }
        experiment_id = platform.launch(f"{run_id}/round-{r}", request)
        read = platform.wait(experiment_id)
        readout = read_arms(task, read)
        t0 = time.monotonic()
        round_arms = []
        for i, (handle, cfg) in enumerate(batch):
            a = readout[f"t{i + 1}"]
            strategy.tell(handle, a["score"], a["constraints"])
            round_arms.append({"config": cfg, **a})
        optimiser_s += time.monotonic() - t0
        launched.extend(round_arms)
        rounds_out.append(
            {"round": r, "experiment_id": experiment_id, "arms": round_arms, "best_so_far": best_so_far(task, launched)}
        )
        print(
            f"{args.strategy} seed {args.seed} round {r}: best measured {max(a['score'] for a in round_arms):+.2f}%",
            file=sys.stderr,
        )

    out = {
        "task": task.id,
        "strategy": args.strategy,
        "seed": args.seed,
        "budget": {"rounds": rounds, "arms_per_round": k, "units_per_arm": units},
        "versions": strategy.versions(),
        "final_config": best_so_far(task, launched),
        "rounds": rounds_out,
        "launched": [a["config"] for a in launched],
        "optimiser_seconds": optimiser_s,
        "wall_seconds": time.monotonic() - started,
    }
    text = json.dumps(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
