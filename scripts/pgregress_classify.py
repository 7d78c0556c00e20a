#!/usr/bin/env python3
"""Sorts the differences of a pg_regress run into kinds, test by test.

Usage: pgregress_classify.py SUITE_DIR RESULTS_DIR [--verbose]

For every test whose output differs from the expected file, each
difference (a hunk of `diff`) is put in one kind:

  order    the same lines, in another order (a query without ORDER BY)
  plan     only lines of EXPLAIN output (a QUERY PLAN result) differ
  am       only the index access method's name differs (btree/hash shown
           as lyra_index, gin as lyra_gin, gist as lyra_gist, spgist as lyra_spgist;
           classes named lyra.x_ops; column widths aside)
  other    anything else: a refusal, a bug, a missing feature

A test is counted under the single kind of all its differences, or as
"mixed" when they are of several kinds but none is "other", or "other".
This sorts; it decides nothing: every test with differences still fails.
"""
import difflib
import os
import re
import sys
from collections import Counter

ROWS = re.compile(r'^\(\d+ rows?\)$')
PLAN_HEADER = re.compile(r'^\s*QUERY PLAN\s*$')


def plan_lines(lines):
    """Indexes of lines that belong to a QUERY PLAN result."""
    inside = set()
    i = 0
    while i < len(lines):
        if PLAN_HEADER.match(lines[i]):
            j = i
            while j < len(lines) and lines[j].strip() != '' and not ROWS.match(lines[j]):
                inside.add(j)
                j += 1
            if j < len(lines) and ROWS.match(lines[j]):
                inside.add(j)
            i = j
        i += 1
    return inside


def result_blocks(lines):
    """(first, end) of the rows of every query result: after the header's
    dashed line, up to its "(N rows)" line."""
    blocks = []
    for i, line in enumerate(lines):
        if re.match(r'^-+(\+-+)*$', line) and i > 0:
            j = i + 1
            while j < len(lines) and not ROWS.match(lines[j]) and lines[j] != '':
                j += 1
            if j < len(lines) and ROWS.match(lines[j]):
                blocks.append((i + 1, j))
    return blocks


def block_at(blocks, i1, i2):
    for first, end in blocks:
        if first <= i1 and i2 <= end and (i1 < end or i1 == i2):
            return (first, end)
    return None


def am_only(old, new):
    norm = lambda ls: [re.sub(r'\b(gin|gist|spgist)\b', r'lyra_\1', re.sub(r'\b(btree|hash)\b', 'lyra_index', l)) for l in ls]
    # a class lyra's access method has a copy of is named with its schema
    unqualified = lambda ls: [re.sub(r'\blyra\.(\w+_ops)\b', r'\1', l) for l in ls]
    # column widths follow the longer name: compare without padding
    squash = lambda ls: [re.sub(r'[-\s]+', ' ', l).strip() for l in ls]
    return squash(norm(old)) == squash(unqualified(new)) and any(re.search(r'\blyra_(index|gin|gist|spgist)\b', l) for l in new)


def kind_of(old, new, old_idx, new_idx, old_plan, new_plan):
    if old and sorted(old) == sorted(new):
        return 'order'
    if all(i in old_plan for i in old_idx) and all(i in new_plan for i in new_idx):
        return 'plan'
    if old and am_only(old, new):
        return 'am'
    return 'other'


def classify(expected, result):
    a = open(expected, errors='replace').read().split('\n')
    b = open(result, errors='replace').read().split('\n')
    ap, bp = plan_lines(a), plan_lines(b)
    ab, bb = result_blocks(a), result_blocks(b)
    kinds = []
    reordered = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == 'equal':
            continue
        blocks = (block_at(ab, i1, i2), block_at(bb, j1, j2))
        if None not in blocks:
            (f, e), (g, h) = blocks
            if sorted(a[f:e]) == sorted(b[g:h]) and a[f:e] != b[g:h]:
                if blocks not in reordered:
                    reordered.add(blocks)
                    kinds.append('order')
                continue
        kinds.append(kind_of(a[i1:i2], b[j1:j2], range(i1, i2), range(j1, j2), ap, bp))
    return kinds


def main():
    suite, results = sys.argv[1], sys.argv[2]
    verbose = '--verbose' in sys.argv
    tally = Counter()
    for name in sorted(os.listdir(results)):
        if not name.endswith('.out'):
            continue
        result = os.path.join(results, name)
        # pg_regress accepts name.out or any alternative name_N.out
        base = name[:-4]
        candidates = [os.path.join(suite, 'expected', f) for f in os.listdir(os.path.join(suite, 'expected'))
                      if f == name or re.fullmatch(re.escape(base) + r'_\d+\.out', f)]
        text = open(result, errors='replace').read()
        if not candidates or any(open(c, errors='replace').read() == text for c in candidates):
            continue
        kinds = min((classify(c, result) for c in candidates), key=len)
        if not kinds:
            continue
        found = set(kinds)
        verdict = 'other' if 'other' in found else (found.pop() if len(found) == 1 else 'mixed')
        tally[verdict] += 1
        if verbose:
            print(f'{name[:-4]:28} {verdict:6} ' + ' '.join(f'{k}:{n}' for k, n in sorted(Counter(kinds).items())))
    print('differing tests by kind: ' + ', '.join(f'{k} {tally[k]}' for k in ('order', 'plan', 'am', 'mixed', 'other')))


if __name__ == '__main__':
    main()
