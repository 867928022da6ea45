//! Plans on the hosting paths: what an upload may still add (file size and
//! storage quota, checked when it is created and again as its bytes
//! arrive), the download [`Tap`] of each request (daily volume, speed,
//! downloads at once; see [`carrel_http::meter`]), the last download of
//! each file, and the retention sweep that deletes files nobody downloaded
//! for their plan's number of days.

use std::net::IpAddr;
use std::sync::Arc;

use carrel_core::account::Caller;
use carrel_core::ids::{AccountId, FileId};
use carrel_core::plan::Limits;
use carrel_core::time::Timestamp;
use carrel_db::{NewUpload, Upload, UploadKind};
use carrel_http::auth::Who;
use carrel_http::meter::Tap;

use crate::error::{HostingError, Result};
use crate::{Hosting, Uploader};

/// What one upload may hold: the largest file, and the storage left.
#[derive(Clone, Debug)]
pub struct Allowance {
    /// The server's and the plan's file size limit, the smaller.
    max_file: u64,
    /// Whether `max_file` is the plan's (not the server's) limit, and the plan's name.
    plan_max: Option<String>,
    /// (quota, bytes left) when the plan has a storage quota.
    storage: Option<(u64, u64)>,
}

impl Allowance {
    /// The most bytes this upload may reach.
    pub fn limit(&self) -> u64 {
        match self.storage {
            Some((_, left)) => self.max_file.min(left),
            None => self.max_file,
        }
    }
    /// Refuses `total` bytes with the reason that applies.
    pub fn check(&self, total: u64) -> Result<()> {
        if total > self.max_file {
            return Err(match &self.plan_max {
                Some(plan) => HostingError::PlanFileTooLarge(self.max_file, plan.clone()),
                None => HostingError::TooLarge(self.max_file),
            });
        }
        if let Some((quota, left)) = self.storage
            && total > left
        {
            return Err(HostingError::QuotaExceeded {
                needed: total,
                left,
                quota,
            });
        }
        Ok(())
    }
}

impl Allowance {
    /// Why the database refused to reserve `length` within `quota`: this
    /// allowance's own reason (read just after), or the quota if another
    /// upload's room was freed in between.
    fn refusal(&self, length: u64, quota: u64) -> HostingError {
        self.check(length)
            .err()
            .unwrap_or(HostingError::QuotaExceeded {
                needed: length,
                left: self.limit(),
                quota,
            })
    }
}

impl Hosting {
    /// The limits that apply to `caller`: its plan's, or the anonymous plan's.
    pub fn limits_of(&self, caller: &Caller) -> &Limits {
        match caller {
            Caller::Account { plan, .. } => self.plans.limits_of(plan),
            Caller::Anonymous => self.plans.anonymous_limits(),
        }
    }

    fn allowance_with(
        &self,
        limits: &Limits,
        plan: &str,
        storage: Option<(u64, u64)>,
    ) -> Allowance {
        let server = self.config.max_file_size;
        match limits.max_file {
            Some(m) if m.0 < server => Allowance {
                max_file: m.0,
                plan_max: Some(plan.to_owned()),
                storage,
            },
            _ => Allowance {
                max_file: server,
                plan_max: None,
                storage,
            },
        }
    }

    /// What a new upload by `owner` (on `plan`) may hold. `already` is what
    /// this upload itself counts in the storage used (an upload in progress).
    pub async fn allowance(
        &self,
        owner: Option<&AccountId>,
        plan: Option<&str>,
        already: u64,
    ) -> Result<Allowance> {
        let (limits, plan) = match (owner, plan) {
            (Some(_), Some(p)) => (self.plans.limits_of(p), p),
            _ => (self.plans.anonymous_limits(), self.plans.anonymous.as_str()),
        };
        let storage = match (owner, limits.storage) {
            (Some(o), Some(q)) => {
                let used = self.db.storage_used(o, Timestamp::now()).await?.max(0) as u64;
                let used = used.saturating_sub(already);
                Some((q.0, q.0.saturating_sub(used)))
            }
            _ => None,
        };
        Ok(self.allowance_with(limits, plan, storage))
    }

    /// The storage quota of an uploader with an account, if its plan has one.
    pub fn storage_quota(&self, owner: &Uploader) -> Option<carrel_core::plan::Bytes> {
        match (&owner.account, owner.plan.as_deref()) {
            (Some(_), Some(p)) => self.plans.limits_of(p).storage,
            _ => None,
        }
    }

    /// Creates an upload for `owner`. With a declared length and a storage
    /// quota, the length is reserved within the quota atomically (see
    /// [`carrel_db::UploadRepo::create_upload_within`]): uploads started at
    /// once that each fit, but not together, are not all created. The
    /// refused one gets the quota's error; nothing of it is kept.
    pub async fn create_upload_reserved(&self, owner: &Uploader, new: &NewUpload) -> Result<()> {
        let (Some(quota), Some(length)) = (self.storage_quota(owner), new.length) else {
            return Ok(self.db.create_upload(new).await?);
        };
        if matches!(new.kind, UploadKind::Final(_)) {
            // Counted through its parts, which were reserved themselves.
            return Ok(self.db.create_upload(new).await?);
        }
        let q = i64::try_from(quota.0).unwrap_or(i64::MAX);
        if self
            .db
            .create_upload_within(new, q, Timestamp::now())
            .await?
        {
            return Ok(());
        }
        let length = length.max(0) as u64;
        Err(self.allowance_for(owner).await?.refusal(length, quota.0))
    }

    /// Sets the length of an upload created with a deferred one: reserved
    /// within its owner's storage quota atomically, like a length declared
    /// at creation ([`Hosting::create_upload_reserved`]). False if it was
    /// already set.
    pub async fn set_length_reserved(&self, u: &Upload, length: u64) -> Result<bool> {
        let l = i64::try_from(length).unwrap_or(i64::MAX);
        let quota = match &u.owner {
            Some(o) => match self.db.account(o).await? {
                Some(a) => self.plans.limits_of(&a.plan).storage,
                None => None,
            },
            None => None,
        };
        let (Some(owner), Some(quota)) = (&u.owner, quota) else {
            return Ok(self.db.set_upload_length(&u.id, l).await?);
        };
        let q = i64::try_from(quota.0).unwrap_or(i64::MAX);
        match self
            .db
            .set_upload_length_within(&u.id, owner, l, q, Timestamp::now())
            .await?
        {
            Some(set) => Ok(set),
            None => Err(self.allowance_of_upload(u).await?.refusal(length, quota.0)),
        }
    }

    /// What an upload in progress may still reach (its owner's plan now).
    pub async fn allowance_of_upload(&self, u: &Upload) -> Result<Allowance> {
        let plan = match &u.owner {
            Some(o) => self.db.account(o).await?.map(|a| a.plan),
            None => None,
        };
        let counted = u.length.unwrap_or(u.offset).max(0) as u64;
        self.allowance(u.owner.as_ref(), plan.as_deref(), counted)
            .await
    }

    /// Starts a download for this request under the downloader's plan: the
    /// account's (per account), or the anonymous plan's (per address).
    pub fn download_tap(&self, who: &Who, ip: IpAddr) -> Result<Arc<Tap>> {
        self.meter
            .start_for(&self.plans, who.peek(), ip)
            .map_err(HostingError::Refused)
    }

    /// Notes that a file was downloaded (written to the database in batches).
    pub(crate) fn touch(&self, id: &FileId) {
        let mut t = self.touched.lock().expect("lock");
        if !t.contains(id) {
            t.insert(id.clone());
        }
    }

    pub(crate) async fn flush_touched(&self) -> Result<()> {
        let ids: Vec<FileId> = std::mem::take(&mut *self.touched.lock().expect("lock"))
            .into_iter()
            .collect();
        if !ids.is_empty() {
            self.db.touch_files(&ids, Timestamp::now()).await?;
        }
        Ok(())
    }

    /// The instant before which a file on `limits` counts as inactive at `now`.
    pub fn retention_cutoff(limits: &Limits, now: Timestamp) -> Option<Timestamp> {
        limits
            .retention_days
            .map(|d| Timestamp(now.0 - i64::from(d) * 86_400))
    }

    /// The plans (and the anonymous files) with a retention, and the
    /// instant before which their files are inactive at `now`.
    fn retention_cutoffs(&self, now: Timestamp) -> Vec<(Option<&str>, Timestamp)> {
        let mut plans: Vec<(Option<&str>, &Limits)> = self
            .plans
            .tiers
            .iter()
            .map(|(n, l)| (Some(n.as_str()), l))
            .collect();
        plans.push((None, self.plans.anonymous_limits()));
        plans
            .into_iter()
            .filter_map(|(p, l)| Some((p, Self::retention_cutoff(l, now)?)))
            .collect()
    }

    /// The files the retention sweep would delete at `now` (id and name).
    pub async fn retention_due(&self, now: Timestamp) -> Result<Vec<(FileId, String)>> {
        self.flush_touched().await?;
        let mut due = Vec::new();
        for (plan, cutoff) in self.retention_cutoffs(now) {
            for id in self.db.inactive_files(plan, cutoff, 100_000).await? {
                if let Some(f) = self.db.file(&id).await? {
                    due.push((id, f.name.to_string()));
                }
            }
        }
        Ok(due)
    }

    /// Deletes every file whose plan's retention has run out at `now`:
    /// files nobody downloaded (or uploaded) for that many days. Anonymous
    /// files follow the anonymous plan; an account on a plan that is no
    /// longer configured keeps its files. Returns how many went.
    pub async fn sweep_retention(&self, now: Timestamp) -> Result<u64> {
        self.flush_touched().await?;
        let mut n = 0;
        for (plan, cutoff) in self.retention_cutoffs(now) {
            loop {
                let ids = self.db.inactive_files(plan, cutoff, 500).await?;
                if ids.is_empty() {
                    break;
                }
                for id in &ids {
                    if let Some(f) = self.db.file(id).await? {
                        self.delete_file(id, &f.blob).await?;
                        n += 1;
                    }
                }
            }
        }
        if n > 0 {
            tracing::info!(count = n, "files past their plan's retention deleted");
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_names_the_limit_that_applies() {
        let a = Allowance {
            max_file: 100,
            plan_max: Some("tiny".into()),
            storage: Some((1000, 60)),
        };
        assert_eq!(a.limit(), 60);
        assert!(a.check(60).is_ok());
        assert!(matches!(
            a.check(61),
            Err(HostingError::QuotaExceeded {
                needed: 61,
                left: 60,
                quota: 1000
            })
        ));
        assert!(matches!(
            a.check(101),
            Err(HostingError::PlanFileTooLarge(100, ref p)) if p == "tiny"
        ));
        let server = Allowance {
            max_file: 100,
            plan_max: None,
            storage: None,
        };
        assert_eq!(server.limit(), 100);
        assert!(matches!(
            server.check(101),
            Err(HostingError::TooLarge(100))
        ));
        let e = a.check(61).unwrap_err().into_http();
        assert_eq!((e.status.as_u16(), e.code), (507, "quota_exceeded"));
        assert!(e.message.contains("60 B left of 1000 B"), "{}", e.message);
    }
}
