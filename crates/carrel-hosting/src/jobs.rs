//! The wing's side of the durable job queue (rows in the database, see
//! `carrel_db::JobRepo`): the jobs it queues and how each is run. The
//! housekeeping loop runs due jobs every second; each is leased while it
//! runs, so a job whose process died runs again once the lease is over.
//!
//! The wing claims only kinds in its namespace, `blob.` (other wings run
//! theirs, such as the streaming wing's `media.probe`).
//!
//! Kinds:
//! - `blob.delete`: delete an unreferenced blob's bytes (queued in the
//!   transaction that drops the last reference). Skipped when the blob was
//!   stored again since.

use std::time::Duration;

use carrel_core::ids::BlobHash;
use carrel_core::time::Timestamp;
use carrel_db::{JOB_BLOB_DELETE, Job, JobRun, run_next_job};

use crate::Hosting;
use crate::error::{HostingError, Result};

/// The namespace of this wing's job kinds.
pub const JOB_PREFIX: &str = "blob.";
/// How long a claimed job is reserved for its worker.
const LEASE: Duration = Duration::from_secs(300);
/// A job whose work failed where it was queued (deleting a blob right
/// after its last reference) is first tried again by the queue this soon.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Jobs run per housekeeping tick at most.
const PER_TICK: usize = 100;

/// Back-off before attempt `attempts + 1`: 10 s, 40 s, 90 s, … up to an hour.
pub fn retry_delay(attempts: i64) -> Duration {
    let a = attempts.clamp(1, 19) as u64;
    Duration::from_secs((10 * a * a).min(3600))
}

impl Hosting {
    /// Runs the jobs that are due at `now`; returns how many finished.
    pub async fn run_due_jobs(&self, now: Timestamp) -> Result<usize> {
        let mut done = 0;
        for _ in 0..PER_TICK {
            let run = |job: Job| async move { self.run_job(&job).await };
            match run_next_job(&*self.db, JOB_PREFIX, now, LEASE, retry_delay, run).await? {
                JobRun::NoneDue => break,
                JobRun::Finished => done += 1,
                JobRun::Failed | JobRun::Lost => {}
            }
        }
        Ok(done)
    }

    async fn run_job(&self, job: &Job) -> Result<()> {
        match job.kind.as_str() {
            JOB_BLOB_DELETE => {
                let hash: BlobHash = job.payload.parse().map_err(|_| {
                    HostingError::BadJob(format!("blob.delete with payload {:?}", job.payload))
                })?;
                let _guard = self.blob_lock(&hash).lock().await;
                if self.db.blob_referenced(&hash).await? {
                    tracing::info!(blob = %hash, "blob stored again since; kept");
                } else {
                    self.store.delete(&hash).await?;
                    tracing::info!(blob = %hash, "unreferenced blob deleted by the job queue");
                }
                Ok(())
            }
            other => Err(HostingError::BadJob(format!("unknown kind {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn back_off_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_secs(10));
        assert_eq!(retry_delay(3), Duration::from_secs(90));
        assert_eq!(retry_delay(1000), Duration::from_secs(3600));
        assert_eq!(retry_delay(0), Duration::from_secs(10));
    }
}
