//! What the streaming wing knows of hosted files as audio and video, for
//! the hosting wing without it knowing how media is examined: the jobs a
//! newly stored file needs (queued in the transaction that stores it) and
//! the facts its share page and JSON show. The streaming wing implements
//! [`MediaFacts`]; the server hands it to the hosting wing, so neither wing
//! imports the other (as with [`crate::holdings::Holdings`]).

use std::net::IpAddr;

use axum::http::HeaderMap;
use carrel_core::ids::{BlobHash, FileId};
use carrel_core::media::MediaType;
use carrel_core::sidecar::SidecarName;

use crate::HttpError;

/// A file the hosting wing has just stored.
#[derive(Clone, Copy, Debug)]
pub struct StoredFile<'a> {
    pub blob: &'a BlobHash,
    /// The type recorded for it (from the client or its name; not trusted).
    pub media_type: &'a MediaType,
    /// Its first bytes (up to [`HEAD_BYTES`]), to sniff what it really is.
    pub head: &'a [u8],
}

/// How many first bytes of a stored file [`MediaFacts::follow_ups`] sees.
pub const HEAD_BYTES: usize = 4096;

/// A job to queue with the stored file: kind (`wing.verb`) and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    pub kind: String,
    pub payload: String,
}

/// What a share page and the JSON API show of a file as media.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaView {
    /// One line for people: "plays directly", "needs transcoding", "could not read: …".
    pub verdict: String,
    /// Labelled facts for the page, in order (duration, resolution, codecs, …).
    pub facts: Vec<(String, String)>,
    /// The same, and more, for the JSON API (a `media` object).
    pub json: serde_json::Value,
    /// The bytes were examined and are not playable media (the page offers no player).
    pub unreadable: bool,
    /// What the page's player plays instead of the original, as a path
    /// below the share link (`hls/remux.mp4`), when the original container
    /// is not one browsers play and a rendition is ready.
    pub play: Option<String>,
    /// What the page's `<video>` gets besides its source: a poster, subtitle
    /// tracks and seek previews (paths below the share link).
    pub player: Player,
}

/// The extras of a share page's player, as paths below the share link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Player {
    /// `media/poster.jpg`, when made.
    pub poster: Option<String>,
    /// `<track kind="subtitles">` elements, in order (the first is the default).
    pub tracks: Vec<PlayerTrack>,
    /// The WebVTT thumbnail track (`media/thumbs.vtt`), when made.
    pub thumbnails: Option<String>,
    /// The quality menu, best first (empty: no menu): files that each play
    /// whole, among which the menu's "Auto" picks by the player's size.
    pub qualities: Vec<PlayerQuality>,
    /// The file has no picture: an `<audio>` player, not a `<video>`.
    pub audio_only: bool,
}

/// One choice of the player's quality menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerQuality {
    /// What the menu says: `720p`, `128k`, `Original`.
    pub label: String,
    /// The file, as a path below the share link (`hls/720p.mp4`); `None`
    /// for the original file as uploaded (its direct link).
    pub src: Option<String>,
    /// The picture's size (none for audio).
    pub size: Option<(u32, u32)>,
    /// A rung of the ladder (what "Auto" picks among), not the original.
    pub rung: bool,
}

/// One subtitle track of the player.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerTrack {
    /// `subs/0.vtt`.
    pub src: String,
    pub label: String,
    /// A BCP 47 tag, when known.
    pub srclang: Option<String>,
}

/// A file beside a shared video that is its subtitles (same folder, named
/// like it: [`carrel_core::sidecar::sidecar_of`]), as the hosting wing found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sidecar {
    pub file: FileId,
    pub blob: BlobHash,
    pub size: u64,
    pub name: String,
    /// What its name says (format, language, label).
    pub what: SidecarName,
}

/// A file behind an open share link, for a request that may read it (made
/// once per file the gate remembers, not per request).
#[derive(Clone, Debug)]
pub struct SharedFile {
    pub id: FileId,
    pub blob: BlobHash,
    pub media_type: MediaType,
    pub name: String,
}

/// The hosting wing's share-link rules for other wings' routes under
/// `/s/{id}/…` (the streaming wing's playlists and renditions): the link
/// exists and is open (not disabled, not expired), the request has
/// unlocked it (the landing page's cookie, or HTTP Basic auth for
/// players), and it shares one file. The hosting wing implements it; the
/// server hands it to the streaming wing.
#[async_trait::async_trait]
pub trait ShareGate: Send + Sync + 'static {
    async fn shared_file(
        &self,
        share: &str,
        headers: &HeaderMap,
        ip: IpAddr,
    ) -> Result<std::sync::Arc<SharedFile>, HttpError>;

    /// The sidecar subtitles of a shared file (by name, sorted by name), for
    /// a request that [`ShareGate::shared_file`] let through.
    async fn sidecars(&self, file: &SharedFile) -> Result<Vec<Sidecar>, HttpError>;

    /// Starts metering a stream's media bytes to `who` at `ip` under their
    /// plan (daily volume, speed, downloads at once), as a download of the
    /// shared file is metered; a refusal says why (429 with `Retry-After`).
    fn tap(
        &self,
        who: &crate::auth::Who,
        ip: IpAddr,
    ) -> Result<std::sync::Arc<crate::meter::Tap>, HttpError>;

    /// Counts a new view of a shared file (a player's master playlist, or a
    /// rendition's whole file from its first byte) as one download of the
    /// link, or refuses it when the link's download limit is reached; the
    /// view's segments are not counted again.
    async fn count_view(&self, share: &str) -> Result<(), HttpError>;
}

#[async_trait::async_trait]
pub trait MediaFacts: Send + Sync + 'static {
    /// The jobs a newly stored file needs (none when it cannot be audio or video).
    fn follow_ups(&self, file: &StoredFile<'_>) -> Vec<FollowUp>;
    /// The jobs [`MediaFacts::follow_ups`] named are committed with their
    /// file: a worker waiting for them may take them now.
    fn queued(&self) {}
    /// What is known of a blob as media; `None` when it is not media (or
    /// not known to be, and its type does not say it is). `sidecars` are the
    /// subtitle files beside it.
    async fn view(
        &self,
        blob: &BlobHash,
        media_type: &MediaType,
        sidecars: &[Sidecar],
    ) -> Option<MediaView>;
}
