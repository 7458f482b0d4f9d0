"""A client of the experiment platform HTTP contract (design/experiment-platform.md),
standard library only, and the per-arm readout the baselines optimise.

Like rectune's Online agent: every launch carries an Idempotency-Key and is re-sent with
the same key after a 429/5xx/connection error (honouring Retry-After), 4xx are errors,
experiments are polled until they end, and the production baseline runs as the control
arm of every experiment.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from task import Task, lifts_pct


class PlatformError(RuntimeError):
    pass


class Platform:
    def __init__(self, url: str, timeout_s: float = 30.0, attempts: int = 8):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.attempts = attempts

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        delay = 0.05
        last = ""
        for _ in range(self.attempts):
            req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return resp.status, json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                if e.code == 429 or e.code >= 500:
                    last = f"{method} {path} -> {e.code}: {text[:200]}"
                    after = e.headers.get("Retry-After")
                    time.sleep(float(after) if after and after.replace(".", "", 1).isdigit() else delay)
                    delay = min(delay * 2, 2.0)
                    continue
                return e.code, _json_or_text(text)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                last = f"{method} {path}: {e}"
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise PlatformError(f"gave up after {self.attempts} attempts: {last}")

    def parameters(self) -> list[dict[str, Any]] | None:
        """The platform's parameter catalogue, or None when it does not publish one (404)."""
        status, body = self._call("GET", "/v1/parameters")
        if status == 404:
            return None
        if status != 200:
            raise PlatformError(f"GET /v1/parameters -> {status}: {body}")
        return body["parameters"]

    def metrics(self) -> list[dict[str, Any]]:
        status, body = self._call("GET", "/v1/metrics")
        if status != 200:
            raise PlatformError(f"GET /v1/metrics -> {status}: {body}")
        return body["metrics"]

    def launch(self, key: str, request: dict[str, Any]) -> str:
        status, body = self._call("POST", "/v1/experiments", request, {"Idempotency-Key": key})
        if status not in (200, 201):
            raise PlatformError(f"POST /v1/experiments -> {status}: {body}")
        return body["experiment_id"]

    def read(self, experiment_id: str) -> dict[str, Any]:
        status, body = self._call("GET", f"/v1/experiments/{experiment_id}")
        if status != 200:
            raise PlatformError(f"GET /v1/experiments/{experiment_id} -> {status}: {body}")
        return body

    def wait(self, experiment_id: str, poll_s: float = 0.02, timeout_s: float = 900.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            read = self.read(experiment_id)
            if read["status"] in ("completed", "stopped"):
                return read
            if read["status"] == "failed":
                raise PlatformError(f"experiment {experiment_id} failed: {read.get('error')}")
            if time.monotonic() > deadline:
                raise PlatformError(f"experiment {experiment_id} still {read['status']} after {timeout_s}s")
            time.sleep(poll_s)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_task(task: Task, catalogue: list[dict[str, Any]] | None, metrics: list[dict[str, Any]]) -> None:
    """Refuses a task the platform cannot run (unknown parameter or metric, bounds outside
    the platform's), as rectune's check_task does."""
    known = {m["name"] for m in metrics}
    for m in task.metrics():
        if m not in known:
            raise PlatformError(f"task metric `{m}` is not in the platform's catalogue ({sorted(known)})")
    if catalogue is None:
        return
    by_name = {p["name"]: p for p in catalogue}
    for p in task.params:
        q = by_name.get(p.name)
        if q is None:
            raise PlatformError(f"task parameter `{p.name}` is not in the platform's catalogue")
        if p.kind in ("float", "int") and (p.low < q["min"] or p.high > q["max"]):
            raise PlatformError(f"task parameter `{p.name}` range [{p.low}, {p.high}] exceeds the platform's")


def _mean(m: dict[str, Any]) -> float:
    if m["kind"] == "ratio":
        return m["num"]["sum"] / m["den"]["sum"]
    return m["sum"] / m["n"]


def arm_values(control: dict[str, Any], treatment: dict[str, Any], metrics: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Per-metric values of the control and of one treatment, CUPED-adjusted for mean
    metrics that carry pre-period sums (theta fitted over both arms, as gbstats does), the
    plain ratio of sums for ratio metrics."""
    c_out: dict[str, float] = {}
    t_out: dict[str, float] = {}
    for name in metrics:
        c, t = control["metrics"][name], treatment["metrics"][name]
        yc, yt = _mean(c), _mean(t)
        if c["kind"] == "mean" and c.get("pre") and t.get("pre"):
            n = c["n"] + t["n"]
            sy, sx = c["sum"] + t["sum"], c["pre"]["sum"] + t["pre"]["sum"]
            sxy = c["pre"]["sum_product"] + t["pre"]["sum_product"]
            sxx = c["pre"]["sum_sq"] + t["pre"]["sum_sq"]
            var_x = (sxx - sx * sx / n) / (n - 1)
            cov = (sxy - sx * sy / n) / (n - 1)
            if var_x > 1e-12:
                theta = cov / var_x
                x_bar = sx / n
                yc -= theta * (c["pre"]["sum"] / c["n"] - x_bar)
                yt -= theta * (t["pre"]["sum"] / t["n"] - x_bar)
        c_out[name], t_out[name] = yc, yt
    return c_out, t_out


def read_arms(task: Task, read: dict[str, Any], control_arm: str = "control") -> dict[str, dict[str, Any]]:
    """Per treatment arm: its values and the control's (both adjusted), the relative lifts
    in %, the task's score, each guardrail's signed breach in % of its threshold (the
    optimisers' constraints: <= 0 holds) and whether every guardrail was observed to hold."""
    arms = {a["arm_id"]: a for a in read["arms"]}
    control = arms[control_arm]
    out = {}
    for arm_id, arm in arms.items():
        if arm_id == control_arm:
            continue
        c_vals, t_vals = arm_values(control, arm, task.metrics())
        lifts = lifts_pct(t_vals, c_vals)
        constraints = [g.breach_pct(t_vals[g.metric], c_vals[g.metric]) for g in task.guardrails]
        out[arm_id] = {
            "values": t_vals,
            "control_values": c_vals,
            "lifts_pct": lifts,
            "score": task.score(lifts),
            "constraints": constraints,
            "observed_feasible": all(g.holds(t_vals[g.metric], c_vals[g.metric]) for g in task.guardrails),
        }
    return out
