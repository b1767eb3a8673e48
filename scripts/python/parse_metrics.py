"""Reads a /metrics exposition on stdin and prints its samples as JSON, for the Rust tests.

The text is parsed twice, with the Prometheus project's own Python parsers: the OpenMetrics
parser (strict: `# EOF`, types, suffixes, label syntax) and the Prometheus text-format parser.
Any complaint from either exits non-zero with the parser's message. The output comes from the
text-format parser: one object per family, {"name", "type", "samples": [{"name", "labels",
"value"}]}.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        list(openmetrics_families(text))
        families = list(text_string_to_metric_families(text))
    except Exception as err:  # the parsers raise ValueError and friends; report any
        print(f"unparseable exposition: {err!r}", file=sys.stderr)
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
