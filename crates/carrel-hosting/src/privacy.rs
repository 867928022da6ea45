//! The wing's side of privacy: what an account holds, for its export (JSON,
//! and a ZIP of every file with that JSON inside), its deletion or transfer
//! to another account, and claims of anonymous files by their management
//! tokens ([`carrel_http::holdings::Holdings`]); and the address retention:
//! client addresses of uploads are forgotten when the upload finishes, and
//! unfinished ones once `ip_retention_days` have passed.

use std::collections::HashMap;

use axum::response::Response;
use carrel_core::ids::{AccountId, FolderId};
use carrel_core::privacy::{ClaimOutcome, ClaimTokens};
use carrel_core::time::Timestamp;
use carrel_db::File;
use carrel_http::HttpError;
use carrel_http::holdings::{Claim, EXPORT_JSON, Holdings};

use crate::Hosting;
use crate::error::{HostingError, Result};
use crate::manage::share_json_at;

/// Files read from the database at once.
const PAGE: i64 = 500;

impl Hosting {
    /// Every file of an account, newest first.
    async fn all_files(&self, account: &AccountId) -> Result<Vec<File>> {
        let mut out = Vec::new();
        loop {
            let (files, _) = self.db.owned_files(account, out.len() as i64, PAGE).await?;
            let done = (files.len() as i64) < PAGE;
            out.extend(files);
            if done {
                return Ok(out);
            }
        }
    }

    /// The export's object (files with their archive paths, folders, links)
    /// and the files with those paths.
    async fn export_parts(
        &self,
        account: &AccountId,
        base: &str,
    ) -> Result<(serde_json::Value, Vec<(File, String)>)> {
        // Download counts still in memory are written first, so the export has them.
        self.flush_downloads().await?;
        let files = self.all_files(account).await?;
        let folders = self.db.owned_folders(account).await?;
        let folder_names: HashMap<&FolderId, &str> = folders
            .iter()
            .map(|f| (&f.folder.id, f.folder.name.as_str()))
            .collect();
        let ids: Vec<_> = files.iter().map(|f| f.id.clone()).collect();
        let shares = self.db.shares_of_files(&ids).await?;
        let links = crate::mine::links_by_file(&shares);
        let paths = crate::zip::unique_paths(files.iter().map(|f| {
            match f.folder.as_ref().and_then(|d| folder_names.get(d)) {
                Some(dir) => format!("files/{dir}/{}", f.name),
                None => format!("files/{}", f.name),
            }
        }));
        let mut files_json = Vec::with_capacity(files.len());
        for (f, path) in files.iter().zip(&paths) {
            let own = links.get(&f.id).map_or(&[][..], Vec::as_slice);
            files_json.push(serde_json::json!({
                "id": f.id,
                "name": f.name.as_str(),
                "size": f.size,
                "media_type": f.media_type.as_str(),
                "blake3": f.blob.to_hex(),
                "folder": f.folder,
                "created_at": f.created_at.0,
                "downloads": own.iter().map(|s| s.download_count).sum::<i64>(),
                "links": own.iter().map(|s| share_json_at(base, s)).collect::<Vec<_>>(),
                "path": path,
            }));
        }
        let mut folders_json = Vec::with_capacity(folders.len());
        for f in &folders {
            let mut j = crate::mine::folder_json(f);
            let links = self.db.shares_of_folder(&f.folder.id).await?;
            j["links"] = links.iter().map(|s| share_json_at(base, s)).collect();
            folders_json.push(j);
        }
        let json = serde_json::json!({ "files": files_json, "folders": folders_json });
        Ok((json, files.into_iter().zip(paths).collect()))
    }

    /// Deletes everything an account holds; how many files went.
    pub async fn delete_holdings(&self, account: &AccountId) -> Result<u64> {
        // Unfinished uploads first, so none becomes a file meanwhile.
        for id in self.db.owned_uploads(account).await? {
            crate::tus::forget_upload(self, &id).await?;
        }
        let mut n = 0;
        loop {
            let (files, _) = self.db.owned_files(account, 0, PAGE).await?;
            if files.is_empty() {
                break;
            }
            let pairs: Vec<_> = files.iter().map(|f| (f.id.clone(), f.blob)).collect();
            self.delete_files(&pairs).await?;
            n += pairs.len() as u64;
        }
        for f in self.db.owned_folders(account).await? {
            for s in self.db.shares_of_folder(&f.folder.id).await? {
                self.forget_share(&s.id);
            }
            self.db.delete_folder(&f.folder.id).await?;
        }
        Ok(n)
    }

    /// Gives everything `from` holds to `to`; how many files moved.
    pub async fn transfer_holdings(&self, from: &AccountId, to: &AccountId) -> Result<u64> {
        let files = self.all_files(from).await?;
        let n = self.db.transfer_holdings(from, to).await?;
        for f in &files {
            self.forget_file(&f.id);
        }
        Ok(n)
    }

    /// Claims anonymous files by their management tokens, in order, while
    /// they fit the plan: a file over the storage left (or the plan's
    /// largest file) is not claimed and says so; the next ones may still fit.
    pub async fn claim_files(
        &self,
        account: &AccountId,
        plan: &str,
        tokens: &ClaimTokens,
    ) -> Result<Vec<Claim>> {
        let mut out = Vec::with_capacity(tokens.len());
        for (index, (raw, secret)) in tokens.secrets().enumerate() {
            let shown = format!("{}…", raw.chars().take(6).collect::<String>());
            let files = self.db.files_with_token(&secret.hash()).await?;
            if files.is_empty() {
                out.push(Claim {
                    index,
                    token: shown,
                    outcome: ClaimOutcome::Unknown,
                    file_id: None,
                    name: None,
                    size: None,
                });
                continue;
            }
            for f in files {
                let outcome = match &f.owner {
                    Some(o) if o == account => ClaimOutcome::AlreadyYours,
                    Some(_) => ClaimOutcome::AlreadyClaimed,
                    None => {
                        let allowance = self.allowance(Some(account), Some(plan), 0).await?;
                        match allowance.check(f.size.max(0) as u64) {
                            Err(HostingError::QuotaExceeded { .. }) => ClaimOutcome::OverQuota,
                            Err(HostingError::PlanFileTooLarge(..) | HostingError::TooLarge(_)) => {
                                ClaimOutcome::TooLarge
                            }
                            Err(e) => return Err(e),
                            Ok(()) if self.db.claim_file(&f.id, account).await? => {
                                self.forget_file(&f.id);
                                ClaimOutcome::Claimed
                            }
                            // Someone claimed it a moment ago.
                            Ok(()) => ClaimOutcome::AlreadyClaimed,
                        }
                    }
                };
                out.push(Claim {
                    index,
                    token: shown.clone(),
                    outcome,
                    file_id: Some(f.id.to_string()),
                    name: Some(f.name.to_string()),
                    size: Some(f.size),
                });
            }
        }
        let claimed = out
            .iter()
            .filter(|c| c.outcome == ClaimOutcome::Claimed)
            .count();
        tracing::info!(target: "carrel::audit", event = "uploads_claimed", account = %account,
            tokens = tokens.len(), claimed, "anonymous uploads claimed");
        Ok(out)
    }

    /// Forgets client addresses older than `ip_retention_days` at `now`
    /// (the housekeeping runs it hourly; `carrel admin erase-ips` on
    /// demand, with an injected clock); how many were forgotten.
    pub async fn erase_old_addresses(&self, now: Timestamp) -> Result<u64> {
        let keep = i64::try_from(self.config.ip_retention_days)
            .unwrap_or(i64::MAX / 86_400)
            .min(36_500)
            * 86_400;
        let n = self.db.erase_addresses(Timestamp(now.0 - keep)).await?;
        self.forget_password_failures();
        if n > 0 {
            tracing::info!(count = n, "client addresses past their retention forgotten");
        }
        Ok(n)
    }
}

#[async_trait::async_trait]
impl Holdings for Hosting {
    async fn export(
        &self,
        account: &AccountId,
        base: &str,
    ) -> std::result::Result<serde_json::Value, HttpError> {
        Ok(self
            .export_parts(account, base)
            .await
            .map_err(HostingError::into_http)?
            .0)
    }

    async fn archive(
        &self,
        account: &AccountId,
        base: &str,
        mut document: serde_json::Value,
        archive_name: &str,
    ) -> std::result::Result<Response, HttpError> {
        let (parts, files) = self
            .export_parts(account, base)
            .await
            .map_err(HostingError::into_http)?;
        if let (Some(doc), serde_json::Value::Object(parts)) = (document.as_object_mut(), parts) {
            doc.extend(parts);
        }
        let json = serde_json::to_vec_pretty(&document)
            .map_err(|e| HostingError::Io(std::io::Error::other(e)).into_http())?;
        Ok(crate::zip::archive_response(
            self.store.clone(),
            archive_name,
            Some((EXPORT_JSON.to_owned(), json)),
            files,
        ))
    }

    async fn delete_all(&self, account: &AccountId) -> std::result::Result<u64, HttpError> {
        self.delete_holdings(account)
            .await
            .map_err(HostingError::into_http)
    }

    async fn transfer_all(
        &self,
        from: &AccountId,
        to: &AccountId,
    ) -> std::result::Result<u64, HttpError> {
        self.transfer_holdings(from, to)
            .await
            .map_err(HostingError::into_http)
    }

    async fn claim(
        &self,
        account: &AccountId,
        plan: &str,
        tokens: &ClaimTokens,
    ) -> std::result::Result<Vec<Claim>, HttpError> {
        self.claim_files(account, plan, tokens)
            .await
            .map_err(HostingError::into_http)
    }
}
