#!/usr/bin/env python3
"""Scrapes a Prometheus endpoint and parses it with the reference parser
(prometheus_client.parser), printing the samples as JSON:
[{"name": ..., "labels": {...}, "value": ...}, ...]. A parse error fails."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append({"family": family.name, "type": family.type,
                        "name": s.name, "labels": s.labels, "value": s.value})
json.dump(samples, sys.stdout)
