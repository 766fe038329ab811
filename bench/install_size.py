"""What does installing hse_tf cost: time, size on disk, packages? This tree against another.

    python bench/install_size.py [--compare ../base] [--extras "" ,profile]

For each tree (this one, and --compare's, e.g. the previous main: `git worktree add ../base
<commit>`) and each extra, in this one run: a fresh virtual environment, `pip install TREE[extra]`
timed, then the size of its site-packages and the number of distributions in it. pip's cache is
used as it comes (warm on a machine that installed the project before), so the time is mostly
unpacking and byte-compiling, not downloading. Then the heaviest distributions that one
install has and the other has not.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def folder_bytes(path):
    total = 0
    for base, _, files in os.walk(path):
        for f in files:
            p = os.path.join(base, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def distribution_sizes(python):
    """{distribution name: installed bytes} of a virtual environment (from its RECORD files)."""
    code = ("import importlib.metadata as m, json, os\n"
            "out = {}\n"
            "for d in m.distributions():\n"
            "    n = 0\n"
            "    for f in d.files or []:\n"
            "        p = d.locate_file(f)\n"
            "        n += os.path.getsize(p) if os.path.isfile(p) else 0\n"
            "    out[d.metadata['Name'].lower()] = n\n"
            "print(json.dumps(out))\n")
    import json
    return json.loads(subprocess.check_output([python, "-c", code], text=True))


def install(tree, extra, scratch):
    venv = tempfile.mkdtemp(prefix="venv-", dir=scratch)
    subprocess.check_call([sys.executable, "-m", "venv", venv])
    python = os.path.join(venv, "bin", "python")
    subprocess.check_call([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    target = os.path.abspath(tree) + (f"[{extra}]" if extra else "")
    t = time.perf_counter()
    subprocess.check_call([python, "-m", "pip", "install", "-q", target])
    seconds = time.perf_counter() - t
    site = subprocess.check_output([python, "-c", "import sysconfig; "
                                    "print(sysconfig.get_paths()['purelib'])"], text=True).strip()
    sizes = distribution_sizes(python)
    row = {"seconds": seconds, "bytes": folder_bytes(site), "packages": len(sizes) - 1,
           "sizes": sizes}  # - 1: pip itself
    shutil.rmtree(venv)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--compare", help="another checkout of hse_tf (e.g. ../base)")
    p.add_argument("--extras", default=",profile",
                   help="comma-separated extras to install with each tree ('' = none)")
    args = p.parse_args()
    trees = [("this", ROOT)] + ([("compare", args.compare)] if args.compare else [])
    rows = {}
    with tempfile.TemporaryDirectory(prefix="install-") as scratch:
        for name, tree in trees:
            for extra in args.extras.split(","):
                if name == "compare" and extra:
                    continue  # the other tree's extras may not exist
                rows[(name, extra)] = install(tree, extra, scratch)
                r = rows[(name, extra)]
                print(f"  {name} [{extra}]: {r['seconds']:.0f} s, "
                      f"{r['bytes'] / 2**20:,.0f} MB", flush=True)
    print(f"{'tree':<10}{'extra':<10}{'install s':>10}{'site-packages MB':>18}{'packages':>10}")
    for (name, extra), r in rows.items():
        print(f"{name:<10}{extra or '-':<10}{r['seconds']:>10.0f}{r['bytes'] / 2**20:>18,.0f}"
              f"{r['packages']:>10}")
    base = rows.get(("compare", "")) or rows.get(("this", "profile"))
    if base is not None:
        mine = rows[("this", "")]["sizes"]
        extra = {k: v for k, v in base["sizes"].items() if k not in mine}
        print(f"\n{len(extra)} distributions not in this tree's base install, "
              f"{sum(extra.values()) / 2**20:,.0f} MB; the largest:")
        for k, v in sorted(extra.items(), key=lambda kv: -kv[1])[:12]:
            print(f"  {k:<32}{v / 2**20:>8.1f} MB")
    mine = rows[("this", "")]["sizes"]
    print("\nthis tree's base install, the largest distributions:")
    for k, v in sorted(mine.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {k:<32}{v / 2**20:>8.1f} MB")


if __name__ == "__main__":
    main()
