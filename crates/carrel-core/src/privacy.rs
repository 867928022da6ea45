//! Privacy rules: which anonymous uploads a sign-up may claim and what each
//! claim came to, what is left of a deleted account, and how client
//! addresses appear in logs.

use std::net::IpAddr;

use crate::CoreError;
use crate::ids::{AccountId, Secret};

/// The most management tokens one claim may name.
pub const MAX_CLAIM_TOKENS: usize = 500;
/// The longest management token looked at (carrel's are 43 characters).
const MAX_TOKEN_LEN: usize = 128;

/// The management tokens of one claim, as the client sent them: trimmed,
/// empty lines dropped, duplicates named once, at most
/// [`MAX_CLAIM_TOKENS`]. A token that is malformed stays in the list (it
/// answers `unknown`, never an error that loses the others).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimTokens(Vec<String>);

impl ClaimTokens {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(tokens: I) -> Result<Self, CoreError> {
        let mut out: Vec<String> = Vec::new();
        for t in tokens {
            let t = t.as_ref().trim();
            if t.is_empty() || out.iter().any(|o| o == t) {
                continue;
            }
            if out.len() == MAX_CLAIM_TOKENS {
                return Err(CoreError::TooManyTokens(MAX_CLAIM_TOKENS));
            }
            out.push(t.chars().take(MAX_TOKEN_LEN).collect());
        }
        Ok(Self(out))
    }

    /// Tokens separated by white space or commas (a form's text area).
    pub fn parse_text(text: &str) -> Result<Self, CoreError> {
        Self::new(text.split(|c: char| c.is_whitespace() || c == ','))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The tokens as secrets, in the order sent.
    pub fn secrets(&self) -> impl Iterator<Item = (&str, Secret)> {
        self.0.iter().map(|t| (t.as_str(), Secret::from_client(t)))
    }
}

/// What claiming one management token came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The anonymous file is now the account's.
    Claimed,
    /// The file was this account's already (a second claim changes nothing).
    AlreadyYours,
    /// Another account claimed (or uploaded) it.
    AlreadyClaimed,
    /// No finished file has this token (mistyped, deleted, or still uploading).
    Unknown,
    /// It does not fit in what is left of the plan's storage; nothing changed.
    OverQuota,
    /// It is larger than the plan's largest file; nothing changed.
    TooLarge,
}

impl ClaimOutcome {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            ClaimOutcome::Claimed => "claimed",
            ClaimOutcome::AlreadyYours => "already_yours",
            ClaimOutcome::AlreadyClaimed => "already_claimed",
            ClaimOutcome::Unknown => "unknown",
            ClaimOutcome::OverQuota => "over_quota",
            ClaimOutcome::TooLarge => "too_large",
        }
    }

    /// Whether the token is settled (a browser may forget it): everything
    /// but the plan limits, which a later claim may pass.
    pub fn settled(self) -> bool {
        !matches!(self, ClaimOutcome::OverQuota | ClaimOutcome::TooLarge)
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            ClaimOutcome::Claimed => "now yours",
            ClaimOutcome::AlreadyYours => "already yours",
            ClaimOutcome::AlreadyClaimed => "already claimed by another account",
            ClaimOutcome::Unknown => "no finished upload has this token",
            ClaimOutcome::OverQuota => {
                "does not fit in your plan's storage; free some space and claim it again"
            }
            ClaimOutcome::TooLarge => "larger than your plan's largest file",
        }
    }
}

/// The e-mail address a deleted account keeps in place of its own: unique,
/// about nobody (`.invalid` is reserved, RFC 2606), so the address it had
/// may sign up again and the id stays for audit and takedown records.
pub fn tombstone_email(id: &AccountId) -> String {
    format!(
        "deleted-{}@deleted.invalid",
        id.as_str().to_ascii_lowercase()
    )
}

/// A client address as logs show it: IPv4 cut to its /24 and IPv6 to its
/// /48 (`203.0.113.0/24`), enough to tell networks apart in an incident,
/// too little to name a person. IPv4 inside IPv6 counts as IPv4.
pub fn log_address(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_trimmed_deduplicated_and_bounded() {
        let t = ClaimTokens::parse_text(" a\n\nb, a\r\n c ").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.secrets().map(|(s, _)| s.to_owned()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(ClaimTokens::new(Vec::<String>::new()).unwrap().is_empty());
        let many: Vec<String> = (0..=MAX_CLAIM_TOKENS).map(|i| i.to_string()).collect();
        assert_eq!(
            ClaimTokens::new(&many).unwrap_err().code(),
            "too_many_tokens"
        );
        assert!(ClaimTokens::new(&many[..MAX_CLAIM_TOKENS]).is_ok());
        let long = "x".repeat(10_000);
        let t = ClaimTokens::new([long]).unwrap();
        assert_eq!(t.secrets().next().unwrap().0.len(), MAX_TOKEN_LEN);
    }

    #[test]
    fn only_plan_limits_leave_a_claim_open() {
        assert!(ClaimOutcome::Claimed.settled() && ClaimOutcome::Unknown.settled());
        assert!(!ClaimOutcome::OverQuota.settled() && !ClaimOutcome::TooLarge.settled());
        assert_eq!(ClaimOutcome::AlreadyClaimed.code(), "already_claimed");
    }

    #[test]
    fn logs_see_networks_not_people() {
        assert_eq!(
            log_address("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            log_address("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        assert_eq!(
            log_address("::ffff:198.51.100.9".parse().unwrap()),
            "198.51.100.0/24"
        );
    }

    #[test]
    fn tombstones_are_valid_unique_addresses_about_nobody() {
        let id = AccountId::generate();
        let e: crate::account::Email = tombstone_email(&id).parse().unwrap();
        assert!(e.as_str().ends_with("@deleted.invalid"));
        assert_ne!(tombstone_email(&AccountId::generate()), e.as_str());
    }
}
