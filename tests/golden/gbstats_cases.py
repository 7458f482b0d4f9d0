#!/usr/bin/env python3
"""Golden expectations for rectune's experiment analysis, computed by GrowthBook's gbstats.

Generates deterministic two-arm cases as the platform's sufficient statistics (the read
format of design/experiment-platform.md), runs gbstats' frequentist engine on each and
writes inputs and outputs as JSON:

- TwoSidedTTest, absolute and relative effects (Welch df, sample variances n - 1),
- RatioStatistic for ratio metrics (delta method),
- RegressionAdjustedStatistic (CUPED, theta from the two arms pooled) when pre data exist,
- SequentialTwoSidedTTest (asymptotic confidence sequences) with a per-case N*,
- check_srm for a few traffic splits.

agents/tests/gbstats_golden.rs checks rectune's numbers against the output. Usage:
    python gbstats_cases.py [OUTPUT]   (default: gbstats_expected.json beside this file)

Small cases are simulated unit by unit with a seeded random.Random (stable across Python
versions); large ones are built from target moments, which is exact and fast.
"""

import json
import math
import warnings
import random
import sys
from importlib.metadata import version
from pathlib import Path

from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)
from gbstats.utils import check_srm

SEED = 20240611


# ---- inputs: platform-format sufficient statistics --------------------------------


def mean_sums(ys, xs=None):
    """A mean metric from unit values ys (and pre-period values xs)."""
    data = {
        "kind": "mean",
        "n": len(ys),
        "sum": math.fsum(ys),
        "sum_sq": math.fsum(y * y for y in ys),
    }
    if xs is not None:
        data["pre"] = {
            "sum": math.fsum(xs),
            "sum_sq": math.fsum(x * x for x in xs),
            "sum_product": math.fsum(x * y for x, y in zip(xs, ys)),
        }
    return data


def simulate_mean(rng, n, mu, sd, pre_corr=None, pre_mu=None, pre_sd=1.0):
    """Normal unit values; with pre_corr, a pre-period value correlated with them."""
    ys, xs = [], []
    for _ in range(n):
        z = rng.gauss(0.0, 1.0)
        ys.append(mu + sd * z)
        if pre_corr is not None:
            w = pre_corr * z + math.sqrt(1 - pre_corr**2) * rng.gauss(0.0, 1.0)
            xs.append(pre_mu + pre_sd * w)
    return mean_sums(ys, xs if pre_corr is not None else None)


def simulate_binary(rng, n, p):
    return mean_sums([1.0 if rng.random() < p else 0.0 for _ in range(n)])


def simulate_skewed(rng, n, mean):
    return mean_sums([rng.expovariate(1.0 / mean) for _ in range(n)])


def moment_mean(n, mean, var, pre=None):
    """Sums with exactly the given moments; pre = (mean_x, var_x, corr)."""
    data = {"kind": "mean", "n": n, "sum": n * mean, "sum_sq": (n - 1) * var + n * mean**2}
    if pre is not None:
        mx, vx, corr = pre
        cov = corr * math.sqrt(vx * var)
        data["pre"] = {
            "sum": n * mx,
            "sum_sq": (n - 1) * vx + n * mx**2,
            "sum_product": (n - 1) * cov + n * mx * mean,
        }
    return data


def simulate_ratio(rng, n, ctr, mean_den):
    """Per unit: impressions ~ 1 + exponential, clicks ~ binomial(impressions, ctr)."""
    nums, dens = [], []
    for _ in range(n):
        d = 1 + int(rng.expovariate(1.0 / mean_den))
        dens.append(float(d))
        nums.append(float(sum(1 for _ in range(d) if rng.random() < ctr)))
    return ratio_from_units(nums, dens)


def ratio_from_units(nums, dens):
    return {
        "kind": "ratio",
        "n": len(nums),
        "num": {"sum": math.fsum(nums), "sum_sq": math.fsum(v * v for v in nums)},
        "den": {"sum": math.fsum(dens), "sum_sq": math.fsum(v * v for v in dens)},
        "sum_product": math.fsum(a * b for a, b in zip(nums, dens)),
    }


def moment_ratio(n, mean_num, var_num, mean_den, var_den, corr):
    cov = corr * math.sqrt(var_num * var_den)
    return {
        "kind": "ratio",
        "n": n,
        "num": {"sum": n * mean_num, "sum_sq": (n - 1) * var_num + n * mean_num**2},
        "den": {"sum": n * mean_den, "sum_sq": (n - 1) * var_den + n * mean_den**2},
        "sum_product": (n - 1) * cov + n * mean_num * mean_den,
    }


# ---- the cases ----------------------------------------------------------------------


def mean_cases(rng):
    sim = simulate_mean
    return [
        ("mean_n20_large_effect", sim(rng, 20, 10.0, 3.0), sim(rng, 20, 12.0, 3.0)),
        ("mean_unequal_n_and_sd", sim(rng, 12, 5.0, 1.0), sim(rng, 15, 5.5, 2.5)),
        ("mean_n60_small_effect", sim(rng, 50, 20.0, 6.0), sim(rng, 60, 20.5, 6.0)),
        ("mean_n200_null", sim(rng, 200, 3.0, 1.5), sim(rng, 200, 3.0, 1.5)),
        ("mean_n1000_two_pct", sim(rng, 1000, 8.0, 4.0), sim(rng, 1000, 8.16, 4.0)),
        ("mean_binary_n3000", simulate_binary(rng, 3000, 0.10), simulate_binary(rng, 3000, 0.11)),
        ("mean_skewed_n1500", simulate_skewed(rng, 1500, 2.0), simulate_skewed(rng, 1500, 2.1)),
        ("mean_negative_effect_n800", sim(rng, 800, 50.0, 10.0), sim(rng, 800, 48.5, 10.0)),
        ("mean_huge_effect_n100", sim(rng, 100, 5.0, 1.0), sim(rng, 100, 8.0, 1.2)),
        ("mean_large_n100k", moment_mean(100_000, 3.1, 4.0), moment_mean(100_000, 3.13, 4.2)),
        ("mean_large_unequal_n", moment_mean(500_000, 7.0, 30.0), moment_mean(480_000, 7.007, 30.5)),
        ("mean_rare_n20k", moment_mean(20_000, 0.05, 0.05), moment_mean(20_000, 0.056, 0.056)),
        ("mean_welch_df_matters", sim(rng, 8, 100.0, 20.0), sim(rng, 30, 110.0, 5.0)),
    ]


def cuped_cases(rng):
    sim = simulate_mean
    return [
        ("cuped_n10", sim(rng, 10, 3.0, 1.0, 0.8, 3.0, 1.0), sim(rng, 10, 3.5, 1.0, 0.8, 3.0, 1.0)),
        ("cuped_n30_corr07", sim(rng, 30, 10.0, 2.0, 0.7, 9.0, 2.0), sim(rng, 30, 11.0, 2.0, 0.7, 9.0, 2.0)),
        ("cuped_n100_corr03", sim(rng, 100, 4.0, 1.0, 0.3, 4.0, 1.0), sim(rng, 100, 4.1, 1.0, 0.3, 4.0, 1.0)),
        ("cuped_n500_corr09", sim(rng, 500, 6.0, 3.0, 0.9, 6.0, 3.0), sim(rng, 500, 6.1, 3.0, 0.9, 6.0, 3.0)),
        ("cuped_n2000_null", sim(rng, 2000, 2.0, 1.0, 0.6, 2.0, 1.0), sim(rng, 2000, 2.0, 1.0, 0.6, 2.0, 1.0)),
        ("cuped_n2000_big_effect", sim(rng, 2000, 2.0, 1.0, 0.8, 2.0, 1.0), sim(rng, 2000, 3.0, 1.0, 0.8, 2.0, 1.0)),
        ("cuped_unequal_n_corr05", sim(rng, 300, 12.0, 5.0, 0.5, 11.0, 4.0), sim(rng, 450, 12.6, 5.5, 0.5, 11.0, 4.0)),
        ("cuped_uncorrelated_pre", sim(rng, 400, 5.0, 2.0, 0.0, 5.0, 2.0), sim(rng, 400, 5.2, 2.0, 0.0, 5.0, 2.0)),
        ("cuped_negative_corr", sim(rng, 600, 9.0, 2.0, -0.6, 3.0, 1.0), sim(rng, 600, 9.2, 2.0, -0.6, 3.0, 1.0)),
        (
            "cuped_large_n50k",
            moment_mean(50_000, 3.0, 4.0, (2.9, 3.8, 0.5)),
            moment_mean(50_000, 3.03, 4.1, (2.91, 3.8, 0.5)),
        ),
        (
            "cuped_large_n200k_corr08",
            moment_mean(200_000, 1.5, 2.0, (1.5, 2.0, 0.8)),
            moment_mean(200_000, 1.509, 2.05, (1.498, 2.02, 0.8)),
        ),
        (
            "cuped_pre_means_differ",
            moment_mean(10_000, 20.0, 25.0, (19.0, 24.0, 0.7)),
            moment_mean(10_000, 21.0, 26.0, (19.4, 24.0, 0.7)),
        ),
    ]


def ratio_cases(rng):
    sim = simulate_ratio
    return [
        ("ratio_n10", sim(rng, 10, 0.2, 5.0), sim(rng, 12, 0.25, 5.0)),
        ("ratio_n40", sim(rng, 40, 0.10, 8.0), sim(rng, 40, 0.13, 8.0)),
        ("ratio_n300", sim(rng, 300, 0.05, 10.0), sim(rng, 300, 0.055, 10.0)),
        ("ratio_n2000_null", sim(rng, 2000, 0.08, 6.0), sim(rng, 2000, 0.08, 6.0)),
        ("ratio_n3000_effect", sim(rng, 3000, 0.05, 10.0), sim(rng, 3000, 0.056, 10.0)),
        (
            "ratio_large_n100k",
            moment_ratio(100_000, 0.5, 0.9, 10.0, 60.0, 0.6),
            moment_ratio(100_000, 0.51, 0.95, 10.0, 61.0, 0.6),
        ),
        (
            "ratio_large_n300k_weak_corr",
            moment_ratio(300_000, 2.0, 5.0, 20.0, 150.0, 0.1),
            moment_ratio(310_000, 2.01, 5.1, 20.05, 150.0, 0.1),
        ),
        (
            "ratio_strong_corr",
            moment_ratio(20_000, 1.0, 2.0, 12.0, 100.0, 0.95),
            moment_ratio(20_000, 1.03, 2.1, 12.1, 102.0, 0.95),
        ),
        (
            "ratio_negative_effect",
            moment_ratio(8_000, 0.30, 0.4, 5.0, 9.0, 0.5),
            moment_ratio(8_000, 0.29, 0.39, 5.02, 9.0, 0.5),
        ),
    ]


def sequential_cases(rng):
    """Reads at interim looks, where the tuning parameter N* matters most."""
    return [
        ("seq_at_n_star", moment_mean(2_500, 4.0, 9.0), moment_mean(2_500, 4.2, 9.2)),
        ("seq_early_look", simulate_mean(rng, 150, 4.0, 3.0), simulate_mean(rng, 150, 4.6, 3.0)),
        ("seq_far_below_n_star", moment_mean(300, 4.0, 9.0), moment_mean(300, 4.5, 9.0)),
        ("seq_late_look", moment_mean(150_000, 4.0, 9.0), moment_mean(150_000, 4.03, 9.0)),
        ("seq_ratio_look", simulate_ratio(rng, 1200, 0.06, 8.0), simulate_ratio(rng, 1200, 0.07, 8.0)),
        (
            "seq_cuped_look",
            moment_mean(30_000, 2.0, 3.0, (2.0, 3.0, 0.7)),
            moment_mean(30_000, 2.04, 3.1, (2.01, 3.0, 0.7)),
        ),
    ]


# Confidence levels and N* cycle over the cases so that every kind meets several.
ALPHAS = [0.05, 0.05, 0.1, 0.05, 0.01]
N_STARS = [5000.0, 5000.0, 1000.0, 20000.0, 100000.0]


# ---- gbstats ------------------------------------------------------------------------


def sample_mean(n, sums):
    return SampleMeanStatistic(n=n, sum=sums["sum"], sum_squares=sums["sum_sq"])


def statistic(data, adjusted):
    n = data["n"]
    if data["kind"] == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=sample_mean(n, data["num"]),
            d_statistic=sample_mean(n, data["den"]),
            m_d_sum_of_products=data["sum_product"],
        )
    post = sample_mean(n, data)
    if not adjusted:
        return post
    pre = data["pre"]
    return RegressionAdjustedStatistic(
        n=n,
        post_statistic=post,
        pre_statistic=sample_mean(n, pre),
        post_pre_sum_of_products=pre["sum_product"],
        theta=0,
    )


def run(test_class, config, control, treatment, adjusted):
    # Fresh statistics per test: gbstats writes theta into them.
    test = test_class(statistic(control, adjusted), statistic(treatment, adjusted), config)
    with warnings.catch_warnings():
        # A decisive sequential read overflows gbstats' e-value to inf: p = 1/inf = 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test.compute_result()
    if res.error_message:
        raise ValueError(f"gbstats could not analyse the case: {res.error_message}")
    return {
        "estimate": float(res.expected),
        "ci_low": float(res.ci[0]),
        "ci_high": float(res.ci[1]),
        "p_value": float(res.p_value),
    }


def expected(control, treatment, alpha, n_star):
    adjusted = "pre" in control and "pre" in treatment
    out = {}
    for diff in ("absolute", "relative"):
        fixed = FrequentistConfig(alpha=alpha, difference_type=diff)
        out[diff] = run(TwoSidedTTest, fixed, control, treatment, False)
        if adjusted:
            out[f"cuped_{diff}"] = run(TwoSidedTTest, fixed, control, treatment, True)
        seq = SequentialConfig(alpha=alpha, difference_type=diff, sequential_tuning_parameter=n_star)
        out[f"sequential_{diff}"] = run(SequentialTwoSidedTTest, seq, control, treatment, adjusted)
    if adjusted:
        out["cuped_theta"] = float(compute_theta(statistic(control, True), statistic(treatment, True)))
    return out


def srm_cases():
    splits = [
        ([5000, 5200], [0.5, 0.5]),
        ([5000, 5200, 5100], [0.25, 0.25, 0.25]),
        ([2400, 7600], [0.25, 0.75]),
        ([10000, 10450], [0.5, 0.5]),
        ([30000, 30100, 29800, 30500], [0.25, 0.25, 0.25, 0.25]),
    ]
    return [{"units": u, "shares": w, "p_value": float(check_srm(u, w))} for u, w in splits]


def build():
    rng = random.Random(SEED)
    cases = []
    for group in (mean_cases, cuped_cases, ratio_cases, sequential_cases):
        cases.extend(group(rng))
    out = []
    for i, (name, control, treatment) in enumerate(cases):
        alpha, n_star = ALPHAS[i % len(ALPHAS)], N_STARS[i % len(N_STARS)]
        out.append(
            {
                "name": name,
                "alpha": alpha,
                "n_star": n_star,
                "control": control,
                "treatment": treatment,
                "expected": expected(control, treatment, alpha, n_star),
            }
        )
    return {
        "generator": "tests/golden/gbstats_cases.py",
        "gbstats_version": version("gbstats"),
        "seed": SEED,
        "cases": out,
        "srm": srm_cases(),
    }


def main():
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("gbstats_expected.json")
    target.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
