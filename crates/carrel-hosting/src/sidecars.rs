//! Sidecar subtitles: the `.srt` and `.vtt` files beside a video, named like
//! it ([`carrel_core::sidecar::sidecar_of`]). "Beside" is the same folder;
//! for an account's files in no folder, its other files in no folder. An
//! anonymous file in no folder has none. Found when asked, so the upload
//! order, renames and moves need no bookkeeping: a subtitle file uploaded
//! after its video, or moved next to it, is attached from then on.

use carrel_core::sidecar::sidecar_of;
use carrel_db::{File, FileQuery, FileSort, FolderFilter};
use carrel_http::media::Sidecar;

use crate::Hosting;
use crate::error::Result;

/// The most sidecars one video gets (and files looked at to find them).
pub const MAX_SIDECARS: usize = 16;
const MAX_LOOKED_AT: i64 = 500;

impl Hosting {
    /// The sidecar subtitles of `video`, sorted by name.
    pub async fn sidecars_of(&self, video: &File) -> Result<Vec<Sidecar>> {
        let name = video.name.as_str();
        let Some((base, _)) = name.rsplit_once('.') else {
            return Ok(Vec::new());
        };
        if base.is_empty() || !matches!(video.media_type.top(), "video" | "audio") {
            return Ok(Vec::new());
        }
        let neighbours = match (&video.owner, &video.folder) {
            (Some(owner), folder) => {
                self.db
                    .list_files(&FileQuery {
                        owner: owner.clone(),
                        search: Some(base.to_owned()),
                        folder: match folder {
                            Some(f) => FolderFilter::In(f.clone()),
                            None => FolderFilter::TopLevel,
                        },
                        sort: FileSort::Name,
                        descending: false,
                        offset: 0,
                        limit: MAX_LOOKED_AT,
                    })
                    .await?
                    .0
            }
            (None, Some(folder)) => self.db.folder_files(folder).await?,
            (None, None) => Vec::new(),
        };
        let mut found: Vec<Sidecar> = neighbours
            .into_iter()
            .filter(|f| f.id != video.id && f.owner == video.owner)
            .filter_map(|f| {
                let what = sidecar_of(name, f.name.as_str())?;
                Some(Sidecar {
                    file: f.id,
                    blob: f.blob,
                    size: f.size as u64,
                    name: f.name.to_string(),
                    what,
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found.truncate(MAX_SIDECARS);
        Ok(found)
    }
}
