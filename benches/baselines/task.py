"""The tuning task as rectune defines it, read from a task file (config/tasks/*.toml).

Mirrors skillhub/src/task.rs exactly, so the Python baselines optimise the same scalar
objective and read guardrails the same way as rectune's own agents:

- ``score``: the weighted sum of signed relative lifts in percent (``TaskSpec::score``);
- ``lifts_pct``: ``100 * (v - b) / |b|`` for every metric present in both maps;
- guardrail thresholds and ``holds`` (``Guardrail::threshold`` / ``holds``);
- invariants: ``min <= sum(terms[p] * p) <= max`` (``Invariant::check``).

The Rust benchmark re-computes the score and the observed guardrail verdict of every arm
this code reports with ``TaskSpec::score`` / ``TaskSpec::feasible`` and stops if they
disagree, so the mirror cannot drift silently.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Param:
    name: str
    kind: str  # float | int | choice | bool
    baseline: Any
    low: float | None = None
    high: float | None = None
    values: list[str] = field(default_factory=list)


@dataclass
class Objective:
    metric: str
    sign: float  # +1 maximise, -1 minimise
    weight: float


@dataclass
class Guardrail:
    metric: str
    limit: str  # max | min | max_drop_pct | max_rise_pct
    value: float

    def threshold(self, baseline: float) -> float:
        if self.limit in ("max", "min"):
            return self.value
        if self.limit == "max_drop_pct":
            return baseline * (1.0 - self.value / 100.0)
        return baseline * (1.0 + self.value / 100.0)

    def higher_is_safe(self) -> bool:
        return self.limit in ("min", "max_drop_pct")

    def holds(self, value: float, baseline: float) -> bool:
        t = self.threshold(baseline)
        return value >= t if self.higher_is_safe() else value <= t

    def breach_pct(self, value: float, baseline: float) -> float:
        """Signed distance past the threshold in % of it: <= 0 holds, > 0 breached
        (the same measure the simulator's optimum search uses)."""
        t = self.threshold(baseline)
        breach = t - value if self.higher_is_safe() else value - t
        return 100.0 * breach / max(abs(t), 1e-9)

    def describe(self) -> str:
        return f"{self.metric} {self.limit} {self.value}"


@dataclass
class Invariant:
    description: str
    terms: dict[str, float]
    low: float | None
    high: float | None

    def holds(self, cfg: dict[str, Any]) -> bool:
        v = sum(w * float(cfg[p]) for p, w in self.terms.items())
        return not ((self.low is not None and v < self.low) or (self.high is not None and v > self.high))


@dataclass
class Task:
    id: str
    params: list[Param]
    objectives: list[Objective]
    guardrails: list[Guardrail]
    invariants: list[Invariant]
    rounds: int
    arms_per_round: int
    units_per_arm: int

    @staticmethod
    def load(path: str) -> "Task":
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        t = doc["task"]
        params = []
        for p in t["params"]:
            kind = p["type"]
            if kind in ("float", "int"):
                params.append(Param(p["name"], kind, p["baseline"], low=p["min"], high=p["max"]))
            elif kind == "choice":
                params.append(Param(p["name"], kind, p["baseline"], values=list(p["values"])))
            elif kind == "bool":
                params.append(Param(p["name"], kind, p["baseline"]))
            else:
                raise ValueError(f"task.params: `{p['name']}` has unknown type `{kind}`")
        objectives = [
            Objective(o["metric"], 1.0 if o["direction"] == "maximize" else -1.0, float(o.get("weight", 1.0)))
            for o in t["objectives"]
        ]
        guardrails = []
        for g in t.get("guardrails", []):
            limits = [k for k in ("max", "min", "max_drop_pct", "max_rise_pct") if k in g]
            if len(limits) != 1:
                raise ValueError(f"guardrail on `{g['metric']}` must set exactly one limit")
            guardrails.append(Guardrail(g["metric"], limits[0], float(g[limits[0]])))
        invariants = [
            Invariant(i["description"], {k: float(v) for k, v in i["terms"].items()}, i.get("min"), i.get("max"))
            for i in t.get("invariants", [])
        ]
        b = t["budget"]
        return Task(
            t["id"], params, objectives, guardrails, invariants,
            int(b["rounds"]), int(b["arms_per_round"]), int(b["units_per_arm"]),
        )

    def baseline(self) -> dict[str, Any]:
        return {p.name: p.baseline for p in self.params}

    def metrics(self) -> list[str]:
        out: list[str] = []
        for m in [o.metric for o in self.objectives] + [g.metric for g in self.guardrails]:
            if m not in out:
                out.append(m)
        return out

    def score(self, lifts: dict[str, float]) -> float:
        total = 0.0
        for o in self.objectives:
            total += o.weight * o.sign * lifts.get(o.metric, 0.0)
        return total

    def invariants_hold(self, cfg: dict[str, Any]) -> bool:
        return all(i.holds(cfg) for i in self.invariants)


def lifts_pct(values: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    return {k: 100.0 * (v - baseline[k]) / abs(baseline[k]) for k, v in values.items() if baseline.get(k, 0.0) != 0.0}
