#!/usr/bin/env python3
"""tests/e2e/empty_data.py MANIFEST - make a version's manifest list data.mdb
as 0 bytes with the XXH3-64 of nothing, as a FIFO or /dev/zero would
measure. The manifest is not checksummed, so nothing else tells: the
e2e scripts use it to build versions that must be refused without being
opened (schemas/cache.md, "Versions")."""
import json
import sys

path = sys.argv[1]
with open(path) as f:
    m = json.load(f)
for entry in m['files']:
    if entry['name'] == 'data.mdb':
        entry['bytes'], entry['xxh3'] = 0, '2d06800538d394c2'
with open(path, 'w') as f:
    json.dump(m, f)
