#!/usr/bin/env python3
"""Write a C header holding a file's bytes as a string constant: embed.py NAME IN OUT."""
import sys

name, src, dst = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "w") as out:
    out.write("/* Generated from %s by scripts/embed.py; do not edit. */\n" % src.split("/")[-1])
    out.write("static const char %s[] =\n" % name)
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out.write('    "' + "".join("\\x%02x" % b for b in chunk) + '"\n')
    out.write(";\n")
