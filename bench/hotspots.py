"""Sum up a ``py-spy record --format raw`` profile: where the server's samples went.

    python -m bench.hotspots PROFILE.txt [--top 25]

Prints the share of samples per thread kind (event loop or the aiosqlite worker), the functions
that were on the CPU themselves (self), the functions with everything they called (total), and
for each sample the innermost payam function, which charges library time to the payam code
that asked for it.
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


def thread_of(frames: list[str]) -> str:
    if any("_connection_worker_thread" in f for f in frames):
        return "aiosqlite worker thread (SQLite, GIL released while in C)"
    if frames and frames[0].startswith("Thread._bootstrap"):
        return "other threads"
    return "event loop thread"


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
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        ours = [f for f in frames if "(payam/" in f]
        payam[ours[-1] if ours else "(no payam frame) " + frames[-1]] += count
    print(f"{path}: {total} samples")
    show("by thread", threads, total, top)
    show("self", own, total, top)
    show("total (self and callees)", inclusive, total, top)
    show("innermost payam frame", payam, total, top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    main(args.profile, args.top)
