"""Reads a /metrics exposition on stdin and prints its samples as JSON, for the Rust tests.

The text is parsed twice, with the Prometheus project's own Python parsers: the OpenMetrics
parser (strict: `# EOF`, types, suffixes, label syntax), which is what the server's content
type announces, and the classic Prometheus text-format parser, which older scrapers use. Any
complaint from either, or any sample the two read differently, exits non-zero with the
reason. The output is the OpenMetrics reading: one object per family,
{"name", "type", "samples": [{"name", "labels", "value"}]}.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families


def samples(families):
    return sorted(
        (s.name, sorted(s.labels.items()), s.value)
        for family in families
        for s in family.samples
    )


def main() -> int:
    text = sys.stdin.read()
    try:
        families = list(openmetrics_families(text))
        classic = list(text_string_to_metric_families(text))
    except Exception as err:  # the parsers raise ValueError and friends; report any
        print(f"unparseable exposition: {err!r}", file=sys.stderr)
        return 1
    if samples(families) != samples(classic):
        print("the two parsers read different samples", file=sys.stderr)
        return 1
    out = [
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for s in family.samples
            ],
        }
        for family in families
    ]
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
