#!/usr/bin/env python3
"""Checks a Prometheus / OpenMetrics exposition (what timed serves at /metrics).

Usage:
    check_metrics.py URL            e.g. http://127.0.0.1:24102/metrics
    check_metrics.py FILE           a saved exposition
    check_metrics.py -              read it from stdin
    options: --format auto|openmetrics|prometheus (auto: the Content-Type of
    a URL, else OpenMetrics when the text ends with "# EOF")

Needs prometheus-client (pip install -r packaging/test-requirements.txt).
The text must parse with prometheus-client's parser for its format
(prometheus_client.openmetrics.parser for OpenMetrics 1.0, which timed
serves; prometheus_client.parser for the Prometheus 0.0.4 text format), and
every family must follow the Prometheus naming rules:

  - a "# HELP name" line with some text and a "# TYPE name" line;
  - a counter's samples end in _total;
  - units are base units, as the name's last word: _seconds and _bytes,
    never _ms, _milliseconds, _minutes, _kb, _mb, ...; a name that says it
    measures time (latency, duration, uptime, ...) ends in _seconds.
    Gauges and counters of things (transactions, peers) need no unit.

Each problem goes to stderr as "check_metrics: NAME: problem". Exit 0: no
problem; 1: problems (or the text does not parse); 2: bad usage or the
input cannot be read.
"""

import argparse
import re
import sys
import urllib.request

try:
    from prometheus_client import parser as prometheus_parser
    from prometheus_client.openmetrics import parser as openmetrics_parser
except ImportError:
    sys.stderr.write(
        "check_metrics: prometheus-client is not installed "
        "(pip install -r packaging/test-requirements.txt)\n"
    )
    sys.exit(2)

# Units that are not the base unit, with the base unit to use instead.
NON_BASE_UNITS = {
    **dict.fromkeys(
        "ms msec msecs millis millisecond milliseconds us usec usecs micros "
        "microsecond microseconds ns nsec nsecs nanos nanosecond nanoseconds "
        "sec secs minute minutes hour hours day days".split(),
        "seconds",
    ),
    **dict.fromkeys(
        "byte kb kib kbytes kilobytes mb mib mbytes megabytes gb gib gbytes "
        "gigabytes tb tib".split(),
        "bytes",
    ),
    "percent": "ratio (0..1)",
}
BASE_UNITS = ("seconds", "bytes")
# Words that say a family measures time, so it must end in _seconds.
TIME_WORDS = {"latency", "duration", "uptime", "elapsed", "delay", "age", "time"}


def read_input(source, timeout):
    """The text and its Content-Type (None for a file or stdin)."""
    if source == "-":
        return sys.stdin.read(), None
    if re.match(r"^https?://", source):
        request = urllib.request.Request(
            source,
            headers={
                "Accept": "application/openmetrics-text;version=1.0.0,"
                "text/plain;version=0.0.4;q=0.5"
            },
        )
        # A node's own metrics endpoint is reached directly, never by proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as response:
            charset = response.headers.get_content_charset() or "utf-8"
            return response.read().decode(charset), response.headers.get("Content-Type")
    with open(source, encoding="utf-8") as f:
        return f.read(), None


def detect_format(text, content_type):
    if content_type is not None:
        if content_type.startswith("application/openmetrics-text"):
            return "openmetrics"
        return "prometheus"
    lines = [line for line in text.splitlines() if line.strip()]
    return "openmetrics" if lines and lines[-1] == "# EOF" else "prometheus"


def metadata(text, keyword):
    """Names declared by "# KEYWORD name ..." lines (HELP, TYPE), with the rest."""
    found = {}
    for match in re.finditer(rf"^# {keyword} (\S+)(?: (.*))?$", text, re.MULTILINE):
        found[match.group(1)] = (match.group(2) or "").strip()
    return found


def unit_problems(name):
    words = name.split("_")
    problems = []
    for word in words:
        base = NON_BASE_UNITS.get(word)
        if base is not None:
            problems.append(f"unit '{word}' is not a base unit: use _{base.split()[0]}")
    for unit in BASE_UNITS:
        if unit in words and words[-1] != unit:
            problems.append(f"the unit must be the name's last word: ..._{unit}")
    if TIME_WORDS.intersection(words) and words[-1] != "seconds":
        problems.append("measures time but does not end in _seconds")
    return problems


def check(text, fmt):
    """Every problem as (name, what)."""
    problems = []
    parse = (
        openmetrics_parser.text_string_to_metric_families
        if fmt == "openmetrics"
        else prometheus_parser.text_string_to_metric_families
    )
    try:
        families = list(parse(text))
    except Exception as e:  # the parsers raise ValueError and others
        return [("(parse)", f"not valid {fmt} text: {type(e).__name__}: {e}")], 0
    helps = metadata(text, "HELP")
    types = metadata(text, "TYPE")
    for family in families:
        name = family.name
        declared = [name]
        if family.type == "counter":
            declared.append(name + "_total")
        help_name = next((n for n in declared if n in helps), None)
        if help_name is None:
            problems.append((name, "no # HELP line"))
        elif not helps[help_name]:
            problems.append((name, "# HELP line without text"))
        if not any(n in types for n in declared):
            problems.append((name, "no # TYPE line"))
        if family.type == "counter":
            if fmt == "prometheus":
                # The 0.0.4 parser adds _total to a counter's samples itself:
                # the declared name is what says whether they have it.
                if name + "_total" not in types:
                    problems.append((name, "a counter whose name does not end in _total"))
            else:
                for sample in family.samples:
                    if not sample.name.endswith(("_total", "_created")):
                        problems.append((sample.name, "a counter sample not ending in _total"))
        for what in unit_problems(name):
            problems.append((name, what))
    return problems, len(families)


def main():
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("source", help="a URL, a file, or - for stdin")
    args.add_argument("--format", choices=["auto", "openmetrics", "prometheus"], default="auto")
    args.add_argument("--timeout", type=float, default=10.0, help="seconds, for a URL")
    opts = args.parse_args()
    try:
        text, content_type = read_input(opts.source, opts.timeout)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"check_metrics: cannot read {opts.source}: {e}\n")
        return 2
    fmt = opts.format if opts.format != "auto" else detect_format(text, content_type)
    problems, count = check(text, fmt)
    for name, what in problems:
        sys.stderr.write(f"check_metrics: {name}: {what}\n")
    if problems:
        sys.stderr.write(f"check_metrics: {len(problems)} problem(s) in {opts.source} ({fmt})\n")
        return 1
    print(f"check_metrics: {count} families ok ({fmt})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
