//! Rows as the rest of carrel sees them, built from domain types.

use carrel_core::ids::{AccountId, BlobHash, FileId, FolderId, SecretHash, ShareId, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::share::ShareRules;
use carrel_core::time::Timestamp;

/// What kind of tus upload this is (the concatenation extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadKind {
    Single,
    /// A part to be concatenated; never becomes a file by itself.
    Partial,
    /// The concatenation of these parts, in order.
    Final(Vec<UploadId>),
}

/// The share link an upload gets when it completes.
#[derive(Clone, Debug)]
pub struct PlannedShare {
    pub id: ShareId,
    pub rules: ShareRules,
    pub password_hash: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewUpload {
    pub id: UploadId,
    pub length: Option<i64>,
    pub metadata: String,
    pub kind: UploadKind,
    pub owner: Option<AccountId>,
    pub client_ip: Option<String>,
    pub file_name: FileName,
    pub media_type: MediaType,
    pub share: Option<PlannedShare>,
    pub manage_token_hash: Option<SecretHash>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub new: NewUpload,
    pub offset: i64,
    pub completed: bool,
    pub file_id: Option<FileId>,
}

impl std::ops::Deref for Upload {
    type Target = NewUpload;
    fn deref(&self) -> &NewUpload {
        &self.new
    }
}

/// Everything [`crate::UploadRepo::complete_upload`] writes.
#[derive(Clone, Debug)]
pub struct Completion {
    pub upload: UploadId,
    pub blob: BlobHash,
    pub file: NewFile,
    pub share: Option<NewShare>,
    /// Work other wings want done once the file is stored (queued in the same transaction).
    pub jobs: Vec<NewJob>,
}

/// A job to queue: its kind (`wing.verb`), payload and earliest start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub run_after: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewFile {
    pub id: FileId,
    pub name: FileName,
    pub media_type: MediaType,
    pub size: i64,
    pub blob: BlobHash,
    pub owner: Option<AccountId>,
    pub folder: Option<FolderId>,
    pub manage_token_hash: Option<SecretHash>,
    pub created_at: Timestamp,
}

pub type File = NewFile;

#[derive(Clone, Debug)]
pub struct NewFolder {
    pub id: FolderId,
    pub name: FileName,
    pub owner: Option<AccountId>,
    pub manage_token_hash: Option<SecretHash>,
    pub created_at: Timestamp,
}

pub type Folder = NewFolder;

/// What a link points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareTarget {
    File(FileId),
    Folder(FolderId),
}

#[derive(Clone, Debug)]
pub struct NewShare {
    pub id: ShareId,
    pub target: ShareTarget,
    pub rules: ShareRules,
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct Share {
    pub new: NewShare,
    pub download_count: i64,
}

impl std::ops::Deref for Share {
    type Target = NewShare;
    fn deref(&self) -> &NewShare {
        &self.new
    }
}

/// A job's row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobId(pub i64);

/// A claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: String,
    /// Including this one.
    pub attempts: i64,
}

/// A blob whose last reference is gone, and the job that deletes its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRelease {
    pub hash: BlobHash,
    pub job: JobId,
}

/// The job kind that deletes an unreferenced blob's bytes; its payload is
/// the blob's hash in hex.
pub const JOB_BLOB_DELETE: &str = "blob.delete";

/// The order of an owner's file listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSort {
    /// By name, case-insensitively (Unicode lower case, then byte order).
    Name,
    Size,
    Created,
}

/// Which of an owner's files a listing shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FolderFilter {
    /// Every file, in a folder or not.
    Any,
    /// Files in no folder.
    TopLevel,
    /// The files of this folder.
    In(FolderId),
}

/// One page of an owner's files.
#[derive(Clone, Debug)]
pub struct FileQuery {
    pub owner: AccountId,
    /// A case-insensitive part of the name (matched literally: `%` and `_` are plain characters).
    pub search: Option<String>,
    pub folder: FolderFilter,
    pub sort: FileSort,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

/// A folder with how many files it holds and their bytes.
#[derive(Clone, Debug)]
pub struct FolderSummary {
    pub folder: Folder,
    pub files: i64,
    pub bytes: i64,
}

/// A name as the owner's search and name sort see it (Unicode lower case).
pub fn name_key(name: &FileName) -> String {
    name.as_str().to_lowercase()
}

/// `text` as a `LIKE` pattern that matches it anywhere, literally (with `ESCAPE '\'`).
pub fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_contains("Ab"), "%ab%");
        assert_eq!(like_contains("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(name_key(&FileName::new("ÉTÉ.PDF").unwrap()), "été.pdf");
    }
}
