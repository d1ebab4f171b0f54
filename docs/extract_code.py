#!/usr/bin/python3
"""Writes the first ```c code block of a Markdown guide to a .c file, so that the
test suite compiles and runs the program the guide shows.

Usage: extract_code.py GUIDE.md OUT.c
"""

import re
import sys


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^```c[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M)
    if not m:
        print("no ```c block in " + sys.argv[1], file=sys.stderr)
        return 1
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("/* Generated from %s: edit the guide, not this file. */\n" % sys.argv[1])
        f.write(m.group(1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
