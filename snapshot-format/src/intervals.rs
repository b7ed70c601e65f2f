//! Flattening nested prefixes into disjoint address intervals.
//!
//! The prefix→ASN table has about a million entries at Fedora scale. Building a
//! trie from them at every load would cost hundreds of milliseconds; instead the
//! builder stores, next to the canonical entries, the sorted list of disjoint
//! intervals each labelled with its longest matching entry. A look-up is one
//! binary search in the mmap, and loading costs nothing (docs/benchmarks.md).

use crate::schema::NONE;

/// One input prefix as an inclusive address range, already sorted by
/// (start ascending, length ascending) so that enclosing prefixes come first.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    /// First address.
    pub start: u128,
    /// Last address (inclusive).
    pub end: u128,
}

/// Returns `(start, entry index or NONE)` intervals covering `0..=max`, each
/// running up to the next one's start. Prefixes nest or are disjoint, so a
/// stack of open prefixes is enough.
pub fn flatten(ranges: &[Range], max: u128) -> Vec<(u128, u32)> {
    let mut out: Vec<(u128, u32)> = Vec::new();
    if ranges.is_empty() {
        return out;
    }
    let mut emit = |start: u128, entry: u32| {
        if out.last().is_some_and(|&(_, e)| e == entry) {
            return;
        }
        out.push((start, entry));
    };
    // `cursor` is the first address not yet assigned; None once past `max`.
    let mut cursor: Option<u128> = Some(0);
    let mut stack: Vec<(u128, u32)> = Vec::new();
    let close = |stack: &mut Vec<(u128, u32)>,
                 cursor: &mut Option<u128>,
                 emit: &mut dyn FnMut(u128, u32),
                 before: Option<u128>| {
        while let Some(&(end, entry)) = stack.last() {
            if before.is_some_and(|b| end >= b) {
                break;
            }
            if let Some(c) = *cursor
                && c <= end
            {
                emit(c, entry);
                *cursor = end.checked_add(1);
            }
            stack.pop();
        }
    };
    for (i, r) in ranges.iter().enumerate() {
        close(&mut stack, &mut cursor, &mut emit, Some(r.start));
        if let Some(c) = cursor
            && c < r.start
        {
            emit(c, stack.last().map_or(NONE, |&(_, e)| e));
        }
        cursor = Some(r.start);
        stack.push((r.end, i as u32));
    }
    close(&mut stack, &mut cursor, &mut emit, None);
    if let Some(c) = cursor
        && c <= max
    {
        emit(c, NONE);
    }
    out
}

/// Finds the interval containing `addr`: the entry index, if any.
pub fn lookup<T>(
    spans: &[T],
    addr: u128,
    start_of: impl Fn(&T) -> u128,
    entry_of: impl Fn(&T) -> u32,
) -> Option<u32> {
    let idx = spans.partition_point(|s| start_of(s) <= addr);
    let entry = entry_of(spans.get(idx.checked_sub(1)?)?);
    (entry != NONE).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u128, end: u128) -> Range {
        Range { start, end }
    }

    fn find(spans: &[(u128, u32)], a: u128) -> Option<u32> {
        lookup(spans, a, |s| s.0, |s| s.1)
    }

    #[test]
    fn nested_and_disjoint() {
        // 0: [10,19]  1: [12,13]  2: [12,12]  3: [30,39]
        let ranges = [r(10, 19), r(12, 13), r(12, 12), r(30, 39)];
        let spans = flatten(&ranges, 100);
        let expect = [
            (0, None),
            (9, None),
            (10, Some(0)),
            (11, Some(0)),
            (12, Some(2)),
            (13, Some(1)),
            (14, Some(0)),
            (19, Some(0)),
            (20, None),
            (30, Some(3)),
            (39, Some(3)),
            (40, None),
            (100, None),
        ];
        for (a, e) in expect {
            assert_eq!(find(&spans, a), e, "address {a} in {spans:?}");
        }
    }

    #[test]
    fn full_range_and_top() {
        let spans = flatten(&[r(0, u128::MAX)], u128::MAX);
        assert_eq!(spans, vec![(0, 0)]);
        let spans = flatten(&[r(5, u128::MAX)], u128::MAX);
        assert_eq!(find(&spans, u128::MAX), Some(0));
        assert_eq!(find(&spans, 4), None);
        assert!(flatten(&[], 10).is_empty());
    }
}
