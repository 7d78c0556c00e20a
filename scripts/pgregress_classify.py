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

A difference that splits into several hunks (NOTICEs of a trigger or a
leaky function raised row by row, COPY TO's lines) is still "order" when
the whole output of its statement — the lines between the echoes of two
SQL lines of the test, found in both outputs — holds the same lines in
another order.

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
# EXPLAIN's own column, or a test's function returning EXPLAIN's lines
# with its numbers masked (explain_merge, explain_memoize, …)
PLAN_HEADER = re.compile(r'^\s*(QUERY PLAN|explain\w*)\s*$')


def plan_lines(lines):
    """Indexes of lines that belong to a QUERY PLAN result (up to its
    "(N rows)": a rule's plans come separated by an empty line)."""
    inside = set()
    i = 0
    while i < len(lines):
        if PLAN_HEADER.match(lines[i]):
            j = i
            while j < len(lines) and not ROWS.match(lines[j]) and not lines[j].startswith(('ERROR:', 'NOTICE:')):
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


def statement_of(lines, echoed):
    """For each line, the index of the SQL echo line that starts the
    statement output it belongs to (-1 before the first)."""
    out, current = [], -1
    for i, line in enumerate(lines):
        if line.strip() and line in echoed:
            current = i
        out.append(current)
    return out


def classify(expected, result, sql=None):
    a = open(expected, errors='replace').read().split('\n')
    b = open(result, errors='replace').read().split('\n')
    echoed = set(open(sql, errors='replace').read().split('\n')) if sql and os.path.exists(sql) else set()
    ap, bp = plan_lines(a), plan_lines(b)
    ab, bb = result_blocks(a), result_blocks(b)
    kinds = []
    reordered = set()
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    # Statement outputs, paired through SQL echo lines common to both files.
    sa, sb = statement_of(a, echoed), statement_of(b, echoed)
    pair = {}
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == 'equal':
            for k in range(i2 - i1):
                if sa[i1 + k] == i1 + k:
                    pair[i1 + k] = j1 + k

    def span(starts, first):
        end = first + 1
        while end < len(starts) and starts[end] == first:
            end += 1
        return first, end

    def statement(starts, lo, hi):
        """The statement output lines lo..hi lie in (an empty range: the
        one its preceding line is in), or None if they span two."""
        if hi == lo:
            return starts[lo - 1] if lo > 0 else -1
        return starts[lo] if starts[lo] == starts[hi - 1] else None

    def permuted_statement(i1, i2, j1, j2):
        """The statement whose output holds these lines, reordered; or None."""
        first, other = statement(sa, i1, i2), statement(sb, j1, j2)
        if first is None or first < 0 or pair.get(first) != other:
            return None
        (f, e), (g, h) = span(sa, first), span(sb, other)
        return first if sorted(a[f:e]) == sorted(b[g:h]) and a[f:e] != b[g:h] else None

    for tag, i1, i2, j1, j2 in opcodes:
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
        kind = kind_of(a[i1:i2], b[j1:j2], range(i1, i2), range(j1, j2), ap, bp)
        first = permuted_statement(i1, i2, j1, j2) if kind == 'other' else None
        if first is not None:
            if ('statement', first) in reordered:
                continue
            reordered.add(('statement', first))
            kind = 'order'
        kinds.append(kind)
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
        sql = os.path.join(suite, 'sql', base + '.sql')
        kinds = min((classify(c, result, sql) for c in candidates), key=len)
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
