#!/usr/bin/env python3
"""Runs a command and prints its wall time and memory peaks, sampled from
/proc/PID/status every 3 ms: VmHWM (the peak resident set, as GNU time's %M),
and the largest RssAnon (heap and stacks) and RssFile (mapped file pages, such as
the binary's own) seen. The file part depends on the page cache, not on the
program; compare the anonymous part, or drop the caches before each run.

usage: benches/peak.py LABEL COMMAND [ARG...]
"""
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    label, cmd = sys.argv[1], sys.argv[2:]
    start = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks = {"VmHWM:": 0, "RssAnon:": 0, "RssFile:": 0}
    status = f"/proc/{child.pid}/status"
    while child.poll() is None:
        try:
            with open(status) as f:
                for line in f:
                    key = line.split(":", 1)[0] + ":"
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.003)
    mb = {k: v / 1024 for k, v in peaks.items()}
    print(
        f"{label} {time.monotonic() - start:.2f} s exit {child.returncode}"
        f" hwm {mb['VmHWM:']:.1f} anon {mb['RssAnon:']:.1f} file {mb['RssFile:']:.1f} MiB"
    )


if __name__ == "__main__":
    main()
