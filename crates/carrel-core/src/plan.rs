//! Plans: what an account (or an anonymous address) may store and download.
//!
//! Plans are defined in the server's configuration; an account stores only
//! its plan's name. Every limit is optional (`None` = unlimited). Sizes are
//! written as people write them (`"10 GiB"`, `"512 MB"`, or a number of
//! bytes) and speeds as bytes per second (`"2 MiB"`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// A plan's name: 1 to 32 of `a-z`, `0-9`, `-`, `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct PlanName(String);

impl PlanName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PlanName {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(CoreError::InvalidPlan(s.chars().take(40).collect()))
        }
    }
}

impl<'de> serde::Deserialize<'de> for PlanName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<PlanName> for String {
    fn from(p: PlanName) -> String {
        p.0
    }
}

impl fmt::Display for PlanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of bytes, read from `"10 GiB"`, `"1.5 GB"`, `"4096"` or `4096`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl FromStr for Bytes {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let t = s.trim();
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Self(n));
        }
        t.parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| CoreError::InvalidSize(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// The limits of one plan. `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bytes of files an account may keep (uploads in progress count at their declared length).
    pub storage: Option<Bytes>,
    /// The largest single file.
    pub max_file: Option<Bytes>,
    /// Bytes an account (or, for anonymous downloads, one address) may download per UTC day.
    pub daily_download: Option<Bytes>,
    /// Download speed in bytes per second, shared by the account's (or address's) downloads.
    pub speed: Option<Bytes>,
    /// Downloads (connections) at once, per account or address.
    pub concurrent_downloads: Option<u32>,
    /// Files not downloaded for this many days are deleted (after notice).
    pub retention_days: Option<u32>,
}

/// Every plan by name, the plan of new accounts, and the plan whose limits
/// apply to anonymous uploads and downloads (per address).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plans {
    /// The plan given to new accounts.
    pub default: PlanName,
    /// The plan whose limits apply to people who are not logged in.
    pub anonymous: PlanName,
    /// Days before a retention deletion that the file shows as expiring.
    pub retention_notice_days: u32,
    /// The plans, by name.
    pub tiers: BTreeMap<PlanName, Limits>,
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

impl Default for Plans {
    fn default() -> Self {
        let name = |s: &str| s.parse::<PlanName>().expect("valid");
        let tiers = BTreeMap::from([
            (
                name("free"),
                Limits {
                    storage: Some(Bytes(10 * GIB)),
                    max_file: Some(Bytes(4 * GIB)),
                    daily_download: Some(Bytes(50 * GIB)),
                    speed: Some(Bytes(20 * MIB)),
                    concurrent_downloads: Some(16),
                    retention_days: Some(90),
                },
            ),
            (
                name("premium"),
                Limits {
                    storage: Some(Bytes(1024 * GIB)),
                    max_file: Some(Bytes(100 * GIB)),
                    daily_download: Some(Bytes(1024 * GIB)),
                    speed: None,
                    concurrent_downloads: Some(64),
                    retention_days: Some(365),
                },
            ),
            (name("unlimited"), Limits::default()),
        ]);
        Self {
            default: name("free"),
            anonymous: name("free"),
            retention_notice_days: 7,
            tiers,
        }
    }
}

impl Plans {
    /// Checks that the default and anonymous plans exist.
    pub fn validate(&self) -> Result<(), CoreError> {
        for p in [&self.default, &self.anonymous] {
            if !self.tiers.contains_key(p) {
                return Err(CoreError::InvalidPlan(p.to_string()));
            }
        }
        Ok(())
    }
    /// The named plan, if it is configured.
    pub fn get(&self, name: &str) -> Option<(&PlanName, &Limits)> {
        self.tiers.iter().find(|(n, _)| n.as_str() == name)
    }
    /// The limits of an account on `name`: an account whose plan is no
    /// longer configured gets the default plan's limits.
    pub fn limits_of(&self, name: &str) -> &Limits {
        self.get(name)
            .or_else(|| self.get(self.default.as_str()))
            .map(|(_, l)| l)
            .unwrap_or(&UNLIMITED)
    }
    /// The limits for people who are not logged in.
    pub fn anonymous_limits(&self) -> &Limits {
        self.limits_of(self.anonymous.as_str())
    }
    /// Parses a plan name that must be configured.
    pub fn known(&self, name: &str) -> Result<PlanName, CoreError> {
        self.get(name)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| CoreError::UnknownPlan(name.chars().take(40).collect()))
    }
}

static UNLIMITED: Limits = Limits {
    storage: None,
    max_file: None,
    daily_download: None,
    speed: None,
    concurrent_downloads: None,
    retention_days: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!("4096".parse::<Bytes>().unwrap(), Bytes(4096));
        assert_eq!("10 GiB".parse::<Bytes>().unwrap(), Bytes(10 << 30));
        assert_eq!("2MiB".parse::<Bytes>().unwrap(), Bytes(2 << 20));
        assert_eq!("1 MB".parse::<Bytes>().unwrap(), Bytes(1_000_000));
        for bad in ["", "ten", "-5", "5 parsecs", "1e999 GiB"] {
            assert!(bad.parse::<Bytes>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plan_names_are_checked() {
        assert!("premium-2".parse::<PlanName>().is_ok());
        for bad in ["", "Premium", "a b", "x".repeat(33).as_str(), "é"] {
            assert!(bad.parse::<PlanName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plans_from_configuration() {
        let p: Plans = serde_json::from_value(serde_json::json!({
            "default": "basic",
            "anonymous": "basic",
            "tiers": {
                "basic": {"storage": "1 GiB", "speed": 1048576, "retention_days": 30},
                "big": {}
            }
        }))
        .unwrap();
        p.validate().unwrap();
        assert_eq!(p.limits_of("basic").storage, Some(Bytes(1 << 30)));
        assert_eq!(p.limits_of("basic").speed, Some(Bytes(1 << 20)));
        assert_eq!(p.limits_of("big").storage, None);
        // A plan that is gone falls back to the default's limits.
        assert_eq!(p.limits_of("gone").retention_days, Some(30));
        assert!(p.known("gone").is_err());
        let bad: Plans = serde_json::from_value(serde_json::json!({
            "default": "nope", "tiers": {"basic": {}}
        }))
        .unwrap();
        assert!(bad.validate().is_err());
        assert!(
            serde_json::from_value::<Plans>(serde_json::json!({
                "tiers": {"x": {"storage": "lots"}}
            }))
            .is_err()
        );
        assert!(
            serde_json::from_value::<Plans>(serde_json::json!({
                "tiers": {"x": {"storgae": 5}}
            }))
            .is_err()
        );
    }
}
