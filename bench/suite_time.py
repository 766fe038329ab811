"""How long the test suite takes, as CI runs it (each tree's own README test command), here
and in another tree, one after the other in one run:

    git worktree add ../base <previous main>
    python bench/suite_time.py --compare ../base

Prints a table: the tree, its commit, the command, the outcome line of pytest and the wall
time, then after/before. Runs with this interpreter (its virtual environment must hold both
trees' test dependencies); pass --skip_slow to time the quick loop (`-m "not slow"`) instead.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_command(tree):
    """The pytest arguments of a tree's README test command (its first `python -m pytest`)."""
    with open(os.path.join(tree, "README.md"), encoding="utf-8") as f:
        found = re.search(r"python -m pytest([^\n`&;]*)", f.read())
    if not found:
        raise SystemExit(f"{tree}/README.md: no `python -m pytest ...` command")
    return shlex.split(found.group(1))


def commit(tree):
    done = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "?"


def run_suite(tree, args, skip_slow):
    args = list(args) + (["-m", "not slow"] if skip_slow else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tree, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    outcome = re.sub(r"=+", "", lines[-1]).strip() if lines else f"exit {done.returncode}"
    return {"tree": tree, "commit": commit(tree), "command": " ".join(args),
            "outcome": outcome, "seconds": seconds, "rc": done.returncode}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compare", help="another tree (e.g. ../base, the previous main); run first")
    p.add_argument("--skip_slow", action="store_true", help="leave out tests marked slow")
    args = p.parse_args()
    trees = ([os.path.abspath(args.compare)] if args.compare else []) + [HERE]
    rows = [run_suite(t, test_command(t), args.skip_slow) for t in trees]
    print(f"{'tree':<12}{'commit':<10}{'wall s':>8}  {'pytest':<48}command")
    for r in rows:
        print(f"{os.path.basename(r['tree']):<12}{r['commit']:<10}{r['seconds']:>8.0f}  "
              f"{r['outcome'][:46]:<48}{r['command']}")
    if len(rows) == 2:
        print(f"this / {os.path.basename(rows[0]['tree'])}: "
              f"{rows[1]['seconds'] / rows[0]['seconds']:.2f}x the wall time")
    return max(r["rc"] for r in rows)


if __name__ == "__main__":
    sys.exit(main())
