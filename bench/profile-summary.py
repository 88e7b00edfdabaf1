#!/usr/bin/env python3
"""Summarise a dotnet-trace sampled-thread-time profile (speedscope JSON) from bench/profile.sh.

Usage: python3 bench/profile-summary.py TRACE.speedscope.json [REGEX [TOP]]

Prints, as shares of the busy thread time (threads waiting for work are left out):
  1. the leaves: where threads were, with the two frames above (CPU_TIME is managed code,
     UNMANAGED_CODE_TIME native code such as OpenSSL, SQLite or a system call);
  2. inclusive time per frame whose name matches REGEX (default: OpenCM's own code), each
     frame counted once per stack, so a caller's share includes its callees'.
Sampled thread time is wall time on each thread: a thread blocked in a system call (fsync,
send) counts as busy. Read shares, not speeds (docs/benchmarks.md).
"""
import collections
import json
import re
import sys

# Frames near the leaf that mean a thread is idle: waiting for work, a timer, or the socket loop.
IDLE = ("WaitHandle", "LowLevelLifoSemaphore", "Monitor.Wait", "WaitForSignal",
        "SocketAsyncEngine.EventLoop", "Thread.Sleep", "LowLevelMonitor", "WaitOne",
        "ManualResetEventSlim.Wait")


def short(name):
    name = re.sub(r"\(.*", "", name).split("!")[-1]
    return re.sub(r"\+<(\w+)>d__\d+(`1\[[^\]]*\])?\.MoveNext", r".\1", name)


def stacks_of(path):
    trace = json.load(open(path, encoding="utf-8"))
    frames = [f["name"] for f in trace["shared"]["frames"]]
    weights = collections.Counter()
    for profile in trace["profiles"]:
        stack, last = [], None
        for event in profile["events"]:  # evented: open/close frames at times
            if last is not None and stack:
                weights[tuple(stack)] += event["at"] - last
            last = event["at"]
            if event["type"] == "O":
                stack.append(event["frame"])
            else:
                stack.pop()
    return [([frames[i] for i in s], w) for s, w in weights.items()]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pattern = re.compile(sys.argv[2] if len(sys.argv) > 2 else r"^OpenCM\.")
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    busy, leaves, inclusive = 0.0, collections.Counter(), collections.Counter()
    for names, weight in stacks_of(sys.argv[1]):
        if any(idle in " ".join(names[-8:]) for idle in IDLE):
            continue
        busy += weight
        leaves[" <- ".join(short(n)[-70:] for n in names[-3:][::-1])] += weight
        for name in {short(n) for n in names}:
            if pattern.search(name) and "AsyncStateMachineBox" not in name and "AsyncTaskMethodBuilder" not in name:
                inclusive[name] += weight
    if busy == 0:
        sys.exit("no busy samples")
    print(f"busy thread time: {busy / 1000:.1f} s\n\nleaves:")
    for key, weight in leaves.most_common(20):
        print(f"{100 * weight / busy:5.1f}%  {key}")
    print(f"\ninclusive, frames matching {pattern.pattern}:")
    for key, weight in inclusive.most_common(top):
        print(f"{100 * weight / busy:5.1f}%  {key[-150:]}")


if __name__ == "__main__":
    main()
