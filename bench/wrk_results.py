"""Reads the RESULT lines of bench/lib.sh: {round: {name: (rps, p50_ms, p99_ms)}}, and prints medians."""
import re
import statistics

med = statistics.median


def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x


def load_rounds(path):
    rounds = {}
    for line in open(path):
        f = line.split()
        kv = dict(x.split("=", 1) for x in f[2:6])
        rounds.setdefault(int(kv["round"]), {})[f[1]] = (float(kv["rps"]), ms(kv["p50"]), ms(kv["p99"]))
    return rounds


def print_medians(rounds, names, width=8):
    for name in names:
        print("MEDIAN %-*s rps=%.0f p50_ms=%.3f p99_ms=%.3f" % (width, name, med(r[name][0] for r in rounds.values()),
              med(r[name][1] for r in rounds.values()), med(r[name][2] for r in rounds.values())))
