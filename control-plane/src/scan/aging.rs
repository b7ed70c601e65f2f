//! Aging of file versions at the end of every scan (control-plane.md §4.4): per (directory,
//! file name), newest first, the newest is always kept; an older version goes once the
//! version just newer than it was recorded more than `keep_days` ago (it has been superseded
//! that long, however old its content), or when it is beyond the `max_alternates` newest
//! alternates. MirrorManager2 aged by content time and could drop a version superseded
//! minutes before (data-model.md §7, fix 13).

use time::{Duration, OffsetDateTime};

/// One stored version: (id, directory id, file name, timestamp, recorded at), in history
/// order: by directory and file name, then newest first (timestamp, then id, descending).
pub type Row = (i64, i64, String, i64, OffsetDateTime);

/// The ids of the versions to delete.
pub fn expired(rows: &[Row], now: OffsetDateTime, keep_days: u32, max_alternates: u32) -> Vec<i64> {
    let cutoff = now - Duration::days(i64::from(keep_days));
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let (_, dir, ref name, ..) = rows[start];
        let end = rows[start..]
            .iter()
            .position(|r| r.1 != dir || r.2 != *name)
            .map_or(rows.len(), |n| start + n);
        let history = &rows[start..end];
        for (i, version) in history.iter().enumerate().skip(1) {
            let superseded_at = history[i - 1].4;
            if i > max_alternates as usize || superseded_at < cutoff {
                out.push(version.0);
            }
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_and_recent_alternates() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let days = |d: i64| now - Duration::days(d);
        let rows: Vec<Row> = vec![
            // repomd.xml of directory 1: superseded 1 day ago, then 5 days ago.
            (13, 1, "repomd.xml".into(), 300, days(1)),
            (12, 1, "repomd.xml".into(), 200, days(5)),
            (11, 1, "repomd.xml".into(), 100, days(9)),
            // Directory 2: a single old version stays.
            (21, 2, "repomd.xml".into(), 50, days(100)),
            // Directory 3: the content is ancient, but it was superseded an hour ago.
            (32, 3, "summary".into(), 900, now - Duration::hours(1)),
            (31, 3, "summary".into(), 1, days(400)),
        ];
        assert_eq!(expired(&rows, now, 4, 16), vec![11]);
        assert_eq!(expired(&rows, now, 10, 16), Vec::<i64>::new());
        // At most one alternate.
        assert_eq!(expired(&rows, now, 10, 1), vec![11]);
        assert_eq!(expired(&rows, now, 10, 0), vec![12, 11, 31]);
    }
}
