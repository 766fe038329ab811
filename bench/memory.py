"""Process memory from /proc (Linux), shared by the benchmarks.

VmHWM / VmRSS are this process's own: unlike ru_maxrss they are not carried over from the parent
across fork+exec, so a child process measures only itself.
"""


def proc_mb(field="VmRSS"):
    """VmHWM (peak) or VmRSS (current) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")
