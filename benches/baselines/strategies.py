"""The optimisers the benchmark compares with rectune's built-in Actor, each behind the
same small batch ask/tell interface:

- ``tpe``: Optuna's TPESampler (multivariate, constant liar for batches) with each
  guardrail as a constraint (``Trial.set_constraint``, Optuna 5's replacement of the
  deprecated ``constraints_func``);
- ``gp``: Optuna's GPSampler (Gaussian process, logEI plus the log-probability of
  feasibility, pending trials of the batch conditioned on) with the same constraints;
- ``ngopt``: nevergrad's NGOpt (picks its algorithm from budget, dimension and batch
  size) with ``tell(..., constraint_violation=...)`` and the task's invariants as cheap
  constraints;
- ``random``: Optuna's RandomSampler (uniform), for reference.

Every strategy is told the production baseline first (lift 0, every guardrail holding):
a practitioner knows it, and rectune's Actor knows it too. A candidate that violates a
task invariant is never launched (rectune's Critic refuses those as well): it is told as
failed and another is asked for.
"""

from __future__ import annotations

import math
import random
from typing import Any

from task import Task

# Trials drawn uniformly before the model-based samplers take over: two rounds' worth of
# arms (Optuna's default of 10 would spend a third of a 32-arm budget on random arms).
STARTUP_ROUNDS = 2


class Strategy:
    name = "?"

    def ask(self, k: int) -> list[tuple[Any, dict[str, Any]]]:
        raise NotImplementedError

    def tell(self, handle: Any, score: float, constraints: list[float]) -> None:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}


def _valid_random(task: Task, rng: random.Random) -> dict[str, Any]:
    for _ in range(10_000):
        cfg = {}
        for p in task.params:
            if p.kind == "float":
                cfg[p.name] = rng.uniform(p.low, p.high)
            elif p.kind == "int":
                cfg[p.name] = rng.randint(int(p.low), int(p.high))
            elif p.kind == "choice":
                cfg[p.name] = rng.choice(p.values)
            else:
                cfg[p.name] = rng.choice([False, True])
        if task.invariants_hold(cfg):
            return cfg
    raise RuntimeError("no configuration satisfies the task's invariants")


class OptunaStrategy(Strategy):
    def __init__(self, task: Task, kind: str, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.task = task
        self.name = kind
        self.rng = random.Random(seed ^ 0x5EED)
        startup = STARTUP_ROUNDS * task.arms_per_round
        if kind == "tpe":
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True
            )
        elif kind == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        elif kind == "random":
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            raise ValueError(kind)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        # The production baseline, known to every practitioner: lift 0, guardrails hold.
        self.study.enqueue_trial(task.baseline())
        trial = self.study.ask()
        self._suggest(trial)
        base = [g.breach_pct(1.0, 1.0) if g.limit.endswith("pct") else -1.0 for g in task.guardrails]
        self.tell(trial, 0.0, base)

    def versions(self) -> dict[str, str]:
        out = {"optuna": self.optuna.__version__}
        if self.name == "gp":
            import torch

            out["torch"] = torch.__version__
        return out

    def _suggest(self, trial) -> dict[str, Any]:
        cfg = {}
        for p in self.task.params:
            if p.kind == "float":
                cfg[p.name] = trial.suggest_float(p.name, p.low, p.high)
            elif p.kind == "int":
                cfg[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
            elif p.kind == "choice":
                cfg[p.name] = trial.suggest_categorical(p.name, p.values)
            else:
                cfg[p.name] = trial.suggest_categorical(p.name, [False, True])
        return cfg

    def ask(self, k: int):
        out = []
        while len(out) < k:
            for attempt in range(50):
                trial = self.study.ask()
                cfg = self._suggest(trial)
                if self.task.invariants_hold(cfg):
                    out.append((trial, cfg))
                    break
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            else:
                # The sampler keeps proposing outside the invariants: launch a valid
                # uniform draw instead (never happened in the benchmark's tasks).
                self.study.enqueue_trial(_valid_random(self.task, self.rng))
        return out

    def tell(self, handle, score: float, constraints: list[float]) -> None:
        for i, (g, c) in enumerate(zip(self.task.guardrails, constraints)):
            handle.set_constraint(f"{i}:{g.metric}", c)
        self.study.tell(handle, score)


class NevergradStrategy(Strategy):
    name = "ngopt"

    def __init__(self, task: Task, seed: int, budget: int, workers: int):
        import nevergrad as ng
        import numpy as np

        self.ng = ng
        self.task = task
        spec = {}
        for p in task.params:
            if p.kind == "float":
                spec[p.name] = ng.p.Scalar(init=float(p.baseline), lower=p.low, upper=p.high)
            elif p.kind == "int":
                spec[p.name] = ng.p.Scalar(init=int(p.baseline), lower=p.low, upper=p.high).set_integer_casting()
            elif p.kind == "choice":
                spec[p.name] = ng.p.Choice(p.values)
            else:
                spec[p.name] = ng.p.Choice([False, True])
        param = ng.p.Dict(**spec)
        param.random_state = np.random.RandomState(seed)
        if task.invariants:
            param.register_cheap_constraint(task.invariants_hold)
        self.opt = ng.optimizers.NGOpt(parametrization=param, budget=budget, num_workers=workers)
        # The production baseline, lift 0, every guardrail holding.
        base = param.spawn_child(new_value=self._native(task.baseline()))
        self.opt.tell(base, 0.0, constraint_violation=[0.0] * max(1, len(task.guardrails)))

    def versions(self) -> dict[str, str]:
        return {"nevergrad": self.ng.__version__, "ngopt_choice": type(self.opt.optim).__name__ if hasattr(self.opt, "optim") else "?"}

    def _native(self, cfg: dict[str, Any]) -> dict[str, Any]:
        return {p.name: (int(cfg[p.name]) if p.kind == "int" else cfg[p.name]) for p in self.task.params}

    def ask(self, k: int):
        out = []
        for _ in range(100 * k):
            if len(out) == k:
                break
            cand = self.opt.ask()
            cfg = {p.name: _plain(cand.value[p.name], p.kind) for p in self.task.params}
            if self.task.invariants_hold(cfg):
                out.append((cand, cfg))
            else:
                self.opt.tell(cand, 0.0, constraint_violation=[1.0])
        if len(out) < k:
            raise RuntimeError("NGOpt keeps proposing configurations outside the task's invariants")
        return out

    def tell(self, handle, score: float, constraints: list[float]) -> None:
        violation = [max(c, 0.0) for c in constraints] or [0.0]
        self.opt.tell(handle, -score, constraint_violation=violation)


def _plain(v: Any, kind: str) -> Any:
    if kind == "int":
        return int(round(float(v)))
    if kind == "float":
        x = float(v)
        return x if math.isfinite(x) else 0.0
    if kind == "bool":
        return bool(v)
    return str(v)


def make(name: str, task: Task, seed: int, rounds: int, arms: int) -> Strategy:
    if name in ("tpe", "gp", "random"):
        return OptunaStrategy(task, name, seed)
    if name == "ngopt":
        return NevergradStrategy(task, seed, budget=rounds * arms, workers=arms)
    raise ValueError(f"unknown strategy `{name}` (known: tpe, gp, ngopt, random)")
