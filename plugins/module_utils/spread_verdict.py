# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The verdict of ``taskmanager.aws.instance_spread``: the aggregated statistics judged against the
expected IDs, the error rate, the balance test and the AZs, with the reasons in plain words, and
the text-bar summary.
"""

from ansible_collections.taskmanager.aws.plugins.module_utils.spread_stats import chi_square_uniform


def _format_p(p_value):
    return f"{p_value:.3g}" if p_value >= 1e-4 else f"{p_value:.1e}"


def evaluate(
    stats,
    expected_ids=None,
    min_distinct=2,
    max_error_rate=0.0,
    min_balance_p_value=0.001,
    min_azs=0,
    expected_count=None,
):
    """Judge the aggregated ``stats``; return a dict of findings with ``passed`` and ``failures``.

    ``expected_ids``: every one must answer and nothing else may. ``expected_count``: the number of
    targets when their IDs cannot be compared with what answers (e.g. ip targets of a target
    group); it raises ``min_distinct``. The balance test runs over the expected IDs plus anything
    that answered, so a silent target counts as a starved one.
    """
    counts = stats["counts"]
    failures = []
    answered = sorted(counts)
    if expected_ids is not None:
        expected = sorted(set(expected_ids))
        missing = [i for i in expected if i not in counts]
        unknown = [i for i in answered if i not in set(expected)]
        categories = sorted(set(expected) | set(answered))
    else:
        expected = None
        missing = []
        unknown = []
        categories = answered
    total_ok = sum(counts.values())

    if stats.get("not_sent"):
        failures.append(
            f"only {stats['sent']} of {stats['requests']} requests were sent before the time budget ran out"
        )
    if total_ok == 0:
        failures.append("no request got an answer that names an instance or task")
    wanted_distinct = max(min_distinct, expected_count or 0)
    if len(answered) < wanted_distinct:
        failures.append(
            f"only {len(answered)} distinct ID(s) answered ({', '.join(answered) or 'none'}), "
            f"at least {wanted_distinct} required"
        )
    if missing:
        failures.append(f"expected ID(s) never answered: {', '.join(missing)}")
    if unknown:
        failures.append(f"unexpected ID(s) answered: {', '.join(unknown)}")
    if stats["sent"] and stats["error_rate"] > max_error_rate:
        kinds = ", ".join(f"{kind} x{n}" for kind, n in stats["errors"].items())
        failures.append(
            f"error rate {stats['error_rate'] * 100:.1f}% ({stats['failed_requests']} of {stats['sent']}: {kinds}) "
            f"is above the allowed {max_error_rate * 100:.1f}%"
        )

    balance = chi_square_uniform([counts.get(i, 0) for i in categories]) if total_ok else None
    if balance is not None:
        balance["threshold"] = min_balance_p_value
        balance["passed"] = balance["p_value"] >= min_balance_p_value
        if not balance["passed"]:
            fair = total_ok / float(len(categories))
            worst = max(categories, key=lambda i: abs(counts.get(i, 0) - fair))
            worst_count = counts.get(worst, 0)
            state = "starved" if worst_count < fair else "overloaded"
            failures.append(
                f"uneven spread: {worst} got {worst_count} of {total_ok} answers against a fair share of "
                f"{fair:.1f} ({state}); chi-square p-value {_format_p(balance['p_value'])} "
                f"is below {min_balance_p_value}"
            )

    az_count = len(stats["az_counts"])
    if min_azs and az_count < min_azs:
        failures.append(
            f"answers came from {az_count} Availability Zone(s) "
            f"({', '.join(stats['az_counts']) or 'none reported'}), at least {min_azs} required"
        )

    shares = []
    fair_share = 1.0 / len(categories) if categories else 0.0
    for ident in categories:
        count = counts.get(ident, 0)
        share = count / float(total_ok) if total_ok else 0.0
        shares.append(
            {
                "id": ident,
                "count": count,
                "share": round(share, 4),
                "fair_share": round(fair_share, 4),
                "deviation": round((share - fair_share) / fair_share, 4) if fair_share else 0.0,
            }
        )
    return {
        "passed": not failures,
        "failures": failures,
        "expected_ids": expected,
        "missing_ids": missing,
        "unknown_ids": unknown,
        "distinct": len(answered),
        "balance": balance,
        "shares": shares,
    }


def summary_lines(shares, az_counts=None, width=30):
    """One line per ID: count, share, fair share and a bar of ``#`` scaled to the largest count."""
    if not shares:
        return ["no ID answered"]
    top = max(entry["count"] for entry in shares) or 1
    id_width = max(len(entry["id"]) for entry in shares)
    count_width = len(str(top))
    lines = []
    for entry in shares:
        bar_text = "#" * int(round(width * entry["count"] / float(top)))
        lines.append(
            f"{entry['id']:<{id_width}} {entry['count']:>{count_width}} {entry['share'] * 100:5.1f}% "
            f"(fair {entry['fair_share'] * 100:.1f}%) {bar_text}"
        )
    if az_counts:
        lines.append("AZs: " + ", ".join(f"{az} {n}" for az, n in az_counts.items()))
    return lines
