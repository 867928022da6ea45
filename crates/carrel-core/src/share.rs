//! The rules of a share link. A link is open unless it is disabled (with a
//! reason shown to visitors), past its expiry, or has used up its download
//! limit. A download counts once when it starts at byte 0, so resuming and
//! multi-connection clients (each connection asks for a later range) do not
//! use up the limit of a single download.

use crate::time::Timestamp;

/// The most downloads a limit may allow.
pub const MAX_DOWNLOAD_LIMIT: i64 = 1_000_000_000;

/// What a link allows, as set by its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareRules {
    pub expires_at: Option<Timestamp>,
    pub max_downloads: Option<i64>,
    pub disabled_reason: Option<String>,
}

/// Why an existing link cannot be used now (HTTP 410 Gone).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    #[error("this link has expired")]
    Expired,
    #[error("this link has reached its download limit")]
    LimitReached,
    #[error("this link has been disabled: {0}")]
    Disabled(String),
}

impl Closed {
    pub fn code(&self) -> &'static str {
        match self {
            Closed::Expired => "share_expired",
            Closed::LimitReached => "share_download_limit_reached",
            Closed::Disabled(_) => "share_disabled",
        }
    }
}

impl ShareRules {
    /// Whether the link may be opened at all (landing page, ranges that
    /// continue a download already counted).
    pub fn check_open(&self, now: Timestamp) -> Result<(), Closed> {
        if let Some(reason) = &self.disabled_reason {
            return Err(Closed::Disabled(reason.clone()));
        }
        if self.expires_at.is_some_and(|e| now >= e) {
            return Err(Closed::Expired);
        }
        Ok(())
    }

    /// Whether a new download (one that starts at byte 0) may begin, given
    /// the downloads counted so far.
    pub fn check_new_download(&self, now: Timestamp, downloads: i64) -> Result<(), Closed> {
        self.check_open(now)?;
        if self.max_downloads.is_some_and(|m| downloads >= m) {
            return Err(Closed::LimitReached);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let now = Timestamp(1000);
        let open = ShareRules::default();
        assert!(open.check_new_download(now, 1_000_000).is_ok());
        let exp = ShareRules {
            expires_at: Some(Timestamp(1000)),
            ..Default::default()
        };
        assert_eq!(exp.check_open(now), Err(Closed::Expired));
        assert!(exp.check_open(Timestamp(999)).is_ok());
        let lim = ShareRules {
            max_downloads: Some(2),
            ..Default::default()
        };
        assert!(lim.check_new_download(now, 1).is_ok());
        assert_eq!(lim.check_new_download(now, 2), Err(Closed::LimitReached));
        assert!(
            lim.check_open(now).is_ok(),
            "a started download may continue"
        );
        let dis = ShareRules {
            disabled_reason: Some("takedown".into()),
            ..Default::default()
        };
        assert_eq!(dis.check_open(now).unwrap_err().code(), "share_disabled");
    }
}
