//! Time as carrel stores it: seconds since the unix epoch (UTC), and human
//! durations such as `30m`, `12h`, `7d`, `2w`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::CoreError;

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        )
    }
    pub fn plus(self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    }
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.0.max(0) as u64)
    }
}

/// Parses `90s`, `30m`, `12h`, `7d`, `2w` (a bare number means seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, CoreError> {
    let err = || CoreError::InvalidDuration(s.chars().take(40).collect());
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(err()),
    };
    let secs = n
        .checked_mul(mul)
        .filter(|&s| s > 0 && s <= 100 * 365 * 86_400)
        .ok_or_else(err)?;
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        for bad in [
            "",
            "d",
            "7y",
            "-1d",
            "0s",
            "99999999999999999999d",
            "1.5h",
            "7 d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
