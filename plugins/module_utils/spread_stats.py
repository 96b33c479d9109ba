# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Statistics of ``taskmanager.aws.instance_spread``: percentiles, the chi-square goodness of fit
against an even spread (its p-value from the regularized incomplete gamma function, without
SciPy), and the aggregation of the probe's samples.
"""

import math


def percentile(values, q):
    """Percentile ``q`` (0..100) with linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    return _percentile_sorted(sorted(values), q)


def _percentile_sorted(ordered, q):
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * (q / 100.0)
    low = int(math.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies):
    """p50/p95/p99/max/mean in milliseconds, rounded to 0.1 ms."""
    result = {}
    ordered = sorted(latencies)  # once, for the three percentiles
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        result[name] = round(_percentile_sorted(ordered, q) * 1000.0, 1) if ordered else None
    result["max"] = round(max(latencies) * 1000.0, 1) if latencies else None
    result["mean"] = round(sum(latencies) / len(latencies) * 1000.0, 1) if latencies else None
    return result


_EPS = 1e-15
_MAX_ITER = 1000


def _gamma_series(a, x):
    """Regularized lower incomplete gamma P(a, x) by its power series (good for x < a + 1)."""
    term = 1.0 / a
    total = term
    denom = a
    for _step in range(_MAX_ITER):
        denom += 1.0
        term *= x / denom
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a, x):
    """Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < tiny:
            d = tiny
        c = b + an / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a, x):
    """Regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x < 0:
        raise ValueError("x must not be negative")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, min(1.0, 1.0 - _gamma_series(a, x)))
    return max(0.0, min(1.0, _gamma_continued_fraction(a, x)))


def chi2_sf(statistic, df):
    """Survival function (upper tail, the p-value) of the chi-square distribution."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if statistic <= 0:
        return 1.0
    return gammaincc(df / 2.0, statistic / 2.0)


def chi_square_uniform(counts):
    """Chi-square goodness of fit of ``counts`` against an even spread.

    Returns ``{"statistic", "df", "p_value"}``; None when fewer than two categories or no
    observations.
    """
    counts = list(counts)
    total = sum(counts)
    k = len(counts)
    if k < 2 or total <= 0:
        return None
    expected = total / float(k)
    statistic = sum((observed - expected) ** 2 / expected for observed in counts)
    df = k - 1
    return {"statistic": round(statistic, 4), "df": df, "p_value": chi2_sf(statistic, df)}


def aggregate(samples, elapsed, max_error_samples=5):
    """Counts per ID and AZ, errors by kind with samples, latency and throughput."""
    counts = {}
    az_counts = {}
    errors = {}
    error_samples = []
    latencies = []
    sent = 0
    not_sent = 0
    for sample in samples:
        if not sample.get("sent", True):
            not_sent += 1
            continue
        sent += 1
        if sample.get("latency") is not None:
            latencies.append(sample["latency"])
        if sample["ok"]:
            counts[sample["id"]] = counts.get(sample["id"], 0) + 1
            if sample.get("az"):
                az_counts[sample["az"]] = az_counts.get(sample["az"], 0) + 1
        else:
            errors[sample["error"]] = errors.get(sample["error"], 0) + 1
            if len(error_samples) < max_error_samples:
                error_samples.append({"kind": sample["error"], "detail": sample.get("detail", "")})
    error_count = sum(errors.values())
    return {
        "requests": len(samples),
        "sent": sent,
        "not_sent": not_sent,
        "succeeded": sent - error_count,
        "failed_requests": error_count,
        "counts": dict(sorted(counts.items())),
        "az_counts": dict(sorted(az_counts.items())),
        "errors": dict(sorted(errors.items())),
        "error_samples": error_samples,
        "error_rate": round(error_count / float(sent), 4) if sent else 0.0,
        "latency_ms": latency_summary(latencies),
        "elapsed": round(elapsed, 3),
        "requests_per_second": round(sent / elapsed, 1) if elapsed > 0 else None,
    }
