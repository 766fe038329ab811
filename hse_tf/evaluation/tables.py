"""Printable tables of evaluation results (the evaluators compute, these print)."""


def format_table(results, title=""):
    """Printable table of {'p2v': {...}, 'v2p': {...}, ...} metrics."""
    lines = [title] if title else []
    lines.append(f"{'direction':<15}{'R@1':>7}{'R@5':>7}{'R@50':>7}{'MR':>7}")
    for name, m in results.items():
        if isinstance(m, dict) and "R@1" in m:
            lines.append(f"{name:<15}{m['R@1']:>7.1f}{m['R@5']:>7.1f}{m['R@50']:>7.1f}"
                         f"{m['MR']:>7.1f}")
    return "\n".join(lines)


def incomplete_table(curve):
    """Fig. 4: {k: metrics} -> p2v / v2p R@1 per k."""
    lines = ["incomplete observation (first k clips / sentences)",
             f"{'k':>3}{'p2v R@1':>10}{'v2p R@1':>10}"]
    for k, m in curve.items():
        lines.append(f"{k:>3}{m['p2v']['R@1']:>10.1f}{m['v2p']['R@1']:>10.1f}")
    return "\n".join(lines)


def proposals_table(table):
    """Table 4: {K: metrics with precision and recall} -> one row per K."""
    lines = ["uniform proposals (tIoU >= 0.5)",
             f"{'K':>3}{'precision':>11}{'recall':>8}{'p2v R@1':>9}{'p2v R@5':>9}"
             f"{'v2p R@1':>9}{'v2p R@5':>9}"]
    for k, m in table.items():
        lines.append(f"{k:>3}{m['precision']:>11.1f}{m['recall']:>8.1f}{m['p2v']['R@1']:>9.1f}"
                     f"{m['p2v']['R@5']:>9.1f}{m['v2p']['R@1']:>9.1f}{m['v2p']['R@5']:>9.1f}")
    return "\n".join(lines)
