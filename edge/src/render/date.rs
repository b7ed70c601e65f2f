//! Time stamps in the two forms the metalinks carry: the RFC 7231 HTTP date of metalink 3's
//! `pubdate` (E57) and the RFC 3339 `published` of metalink 4 (E62).
//!
//! Computed here from Unix seconds (civil-from-days, H. Hinnant) rather than through
//! `httpdate`/`time`, whose formatters return a fresh `String` per call: render only appends to
//! the caller's buffer.

use super::push_i64;

const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A UTC civil time broken down from Unix seconds.
struct Civil {
    year: i64,
    /// 1..=12
    month: u32,
    /// 1..=31
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday
    weekday: u32,
}

impl Civil {
    fn from_unix(unix: i64) -> Civil {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400) as u32;
        // civil_from_days: eras of 400 years starting on 0000-03-01.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs / 3_600,
            minute: secs / 60 % 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }
}

fn push_2(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
}

/// Four digits for years 0–9999, plain decimal otherwise (never reached by real clocks).
fn push_year(out: &mut Vec<u8>, year: i64) {
    if (0..10_000).contains(&year) {
        push_2(out, (year / 100) as u32);
        push_2(out, (year % 100) as u32);
    } else {
        push_i64(out, year);
    }
}

fn push_hms(out: &mut Vec<u8>, c: &Civil) {
    push_2(out, c.hour);
    out.push(b':');
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
}

/// Appends `unix` as an HTTP date, `Wed, 25 Nov 2026 10:00:03 GMT` (English names, UTC).
pub fn http_date(out: &mut Vec<u8>, unix: i64) {
    let c = Civil::from_unix(unix);
    out.extend_from_slice(WEEKDAYS[c.weekday as usize]);
    out.extend_from_slice(b", ");
    push_2(out, c.day);
    out.push(b' ');
    out.extend_from_slice(MONTHS[c.month as usize - 1]);
    out.push(b' ');
    push_year(out, c.year);
    out.push(b' ');
    push_hms(out, &c);
    out.extend_from_slice(b" GMT");
}

/// Appends `unix` in RFC 3339 UTC, `2026-11-25T10:00:03Z`.
pub fn rfc3339(out: &mut Vec<u8>, unix: i64) {
    let c = Civil::from_unix(unix);
    push_year(out, c.year);
    out.push(b'-');
    push_2(out, c.month);
    out.push(b'-');
    push_2(out, c.day);
    out.push(b'T');
    push_hms(out, &c);
    out.push(b'Z');
}

/// [`rfc3339`] as a `String`, for JSON documents (explain, `/snapshot`).
pub fn rfc3339_string(unix: i64) -> String {
    let mut out = Vec::with_capacity(20);
    rfc3339(&mut out, unix);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn http(unix: i64) -> String {
        let mut out = Vec::new();
        http_date(&mut out, unix);
        String::from_utf8(out).unwrap()
    }

    fn rfc(unix: i64) -> String {
        let mut out = Vec::new();
        rfc3339(&mut out, unix);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn spec_instant() {
        assert_eq!(http(1_795_600_803), "Wed, 25 Nov 2026 10:00:03 GMT");
        assert_eq!(rfc(1_795_600_803), "2026-11-25T10:00:03Z");
    }

    #[test]
    fn edges_of_the_calendar() {
        assert_eq!(http(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(rfc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc(253_402_300_799), "9999-12-31T23:59:59Z");
        // Extremes must not overflow or panic.
        http(i64::MIN);
        http(i64::MAX);
    }

    #[test]
    fn agrees_with_httpdate_across_centuries() {
        // Every 1,000,003 s from 1970 to 2150: a stride coprime to days, hours and minutes.
        for unix in (0..5_680_000_000i64).step_by(1_000_003) {
            let expected = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix as u64));
            assert_eq!(http(unix), expected, "unix {unix}");
        }
    }
}
