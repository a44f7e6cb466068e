#!/usr/bin/env python3
"""Run a command, recording every line written to its stdin.

Usage: tee_stdin.py RECORD_FILE -- CMD [ARGS...]

Put between the proxy and a real MCP server, it shows exactly which lines reached the server:
the proof that a blocked request never did. The command's stdout and stderr are inherited
untouched; SIGTERM, SIGINT and SIGHUP are passed on; the exit status is the command's
(128 + signal number when a signal ended it).
"""

import os
import signal
import subprocess
import sys
import threading


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    record = open(sys.argv[1], "ab", buffering=0)
    child = subprocess.Popen(sys.argv[3:], stdin=subprocess.PIPE)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    def pump() -> None:
        try:
            for line in sys.stdin.buffer:
                record.write(line if line.endswith(b"\n") else line + b"\n")
                child.stdin.write(line)
                child.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        finally:
            try:
                child.stdin.close()
            except BrokenPipeError:
                pass

    threading.Thread(target=pump, daemon=True).start()
    code = child.wait()
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    status = main()
    # os._exit: the pump thread may still be blocked reading stdin, and a normal interpreter
    # shutdown would abort on the buffered reader's lock.
    sys.stdout.flush()
    os._exit(status)
