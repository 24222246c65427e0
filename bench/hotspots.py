"""Sum up a ``py-spy record --format raw`` profile: where the server's samples went.

    python -m bench.hotspots PROFILE.txt [--top 25]

Prints the share of samples per thread kind, then, for the event-loop thread only, the
functions that were on the CPU themselves (self), the functions with everything they called
(total), and for each sample the innermost payam function, which charges library time to the
payam code that asked for it.

Only the event-loop thread counts: py-spy cannot tell an aiosqlite worker thread waiting for
its queue or for the GIL from one running SQLite, and samples them as busy, while
/proc/<pid>/task/*/stat shows they use a few percent of the server's CPU (docs/benchmarks.md).
Samples under ``Runner.run`` alone are uvloop's own C code: sockets, system calls, callbacks.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "function (path/to/file.py:123)": the line number is dropped so that a function is one row.
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    found = FRAME.match(frame)
    if found is None:
        return frame
    return f"{found['function']} ({found['file']})"


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


LOOP = "event loop thread"


def thread_of(frames: list[str]) -> str:
    if any("_connection_worker_thread" in f for f in frames):
        return "aiosqlite worker threads (mostly waiting: see above)"
    if frames and frames[0].startswith("Thread._bootstrap"):
        return "other threads"
    return LOOP


def show(title: str, counts: Counter[str], total: int, top: int) -> None:
    print(f"\n{title}")
    for name, count in counts.most_common(top):
        print(f"  {count / total:6.1%}  {name}")


def main(path: Path, top: int) -> None:
    stacks = read(path)
    total = sum(count for _, count in stacks)
    if not total:
        print("no samples")
        return
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    payam: Counter[str] = Counter()
    for frames, count in stacks:
        threads[thread_of(frames)] += count
        if thread_of(frames) != LOOP:
            continue
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        ours = [f for f in frames if "(payam/" in f]
        payam[ours[-1] if ours else "(no payam frame) " + frames[-1]] += count
    loop = threads[LOOP]
    print(f"{path}: {total} samples, {loop} of them on the event-loop thread")
    show("by thread (share of all samples)", threads, total, top)
    if loop:
        show("event loop, self", own, loop, top)
        show("event loop, total (self and callees)", inclusive, loop, top)
        show("event loop, innermost payam frame", payam, loop, top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    main(args.profile, args.top)
