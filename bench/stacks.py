"""Summarise a py-spy raw profile (`bench.ingest --profile …`): per thread, self and inclusive.

    .venv/bin/python -m bench.stacks bench/results/ingest-profile.txt --thread MainThread

Shares are of the samples kept (with `--thread`, of that thread's). A thread that spends most
of its samples in `select` is waiting, not working: look there first when a process is not
CPU-bound.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarise(path: Path, thread: str | None, top: int) -> list[str]:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or (thread is not None and thread not in frames[0]):
            continue
        n = int(count)
        threads[frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
    samples = sum(threads.values())
    total = samples or 1
    lines = [f"{samples} samples"]
    for title, counter in (("thread", threads), ("self", own), ("inclusive", inclusive)):
        lines.append(f"-- {title}")
        lines += [f"{100 * n / total:5.1f}% {name}" for name, n in counter.most_common(top)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--thread", help="only stacks of threads whose name contains this")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print("\n".join(summarise(args.profile, args.thread, args.top)))


if __name__ == "__main__":
    main()
