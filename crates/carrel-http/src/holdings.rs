//! What an account holds in the other wings (files, folders, links,
//! unfinished uploads), for the accounts wing's privacy duties without it
//! knowing how files are stored: the data export, the deletion or transfer
//! of an account's files, and claims of anonymous uploads. The hosting wing
//! implements [`Holdings`]; the server hands it to the accounts wing, as it
//! hands every wing the [`crate::auth::Authenticator`].

use axum::response::Response;
use carrel_core::ids::AccountId;
use carrel_core::privacy::{ClaimOutcome, ClaimTokens};

use crate::HttpError;

/// One management token's claim: what it came to and the file it named.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    /// The token's place in the claim's list (from 0).
    pub index: usize,
    /// The token's first characters (enough to recognise, too few to use).
    pub token: String,
    pub outcome: ClaimOutcome,
    pub file_id: Option<String>,
    pub name: Option<String>,
    pub size: Option<i64>,
}

/// The name of the export's JSON document, inside its archive too.
pub const EXPORT_JSON: &str = "carrel-export.json";

#[async_trait::async_trait]
pub trait Holdings: Send + Sync + 'static {
    /// The account's files (with their links and where each sits in the
    /// export archive) and folders, as the export's JSON object; links are
    /// URLs under `base`.
    async fn export(&self, account: &AccountId, base: &str)
    -> Result<serde_json::Value, HttpError>;
    /// A streamed ZIP of the account's files whose first entry,
    /// [`EXPORT_JSON`], is `document` with [`Holdings::export`]'s object merged in.
    async fn archive(
        &self,
        account: &AccountId,
        base: &str,
        document: serde_json::Value,
        archive_name: &str,
    ) -> Result<Response, HttpError>;
    /// Deletes everything the account holds: files (through the usual
    /// delete path, so shared bytes stay), folders, links and unfinished
    /// uploads. How many files went.
    async fn delete_all(&self, account: &AccountId) -> Result<u64, HttpError>;
    /// Gives everything `from` holds to `to`; how many files moved.
    async fn transfer_all(&self, from: &AccountId, to: &AccountId) -> Result<u64, HttpError>;
    /// Claims anonymous files by their management tokens for `account`
    /// (on `plan`), in order, while they fit its plan; one answer per token.
    async fn claim(
        &self,
        account: &AccountId,
        plan: &str,
        tokens: &ClaimTokens,
    ) -> Result<Vec<Claim>, HttpError>;
}
