//! Media probes and the follow-up jobs of a completed upload, on both backends.

use std::time::Duration;

use carrel_core::ids::{BlobHash, UploadId};
use carrel_core::media::MediaType;
use carrel_core::name::FileName;
use carrel_core::time::Timestamp;
use carrel_db::*;

mod common;
use common::backends;

#[tokio::test]
async fn completion_queues_its_jobs_and_wings_claim_only_their_kinds() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let u = NewUpload {
            id: UploadId::generate(),
            length: Some(5),
            metadata: String::new(),
            kind: UploadKind::Single,
            owner: None,
            client_ip: None,
            file_name: FileName::new("clip.webm").unwrap(),
            media_type: MediaType::new("video/webm").unwrap(),
            share: None,
            manage_token_hash: None,
            expires_at: Timestamp(2000),
            created_at: Timestamp(1000),
        };
        db.create_upload(&u).await.unwrap();
        let blob = BlobHash::from_bytes([21; 32]);
        let t = Timestamp(1001);
        db.complete_upload(&Completion {
            upload: u.id.clone(),
            blob,
            file: common::file_of(&u, blob, t),

            share: None,
            jobs: vec![NewJob {
                kind: JOB_MEDIA_PROBE.into(),
                payload: blob.to_hex(),
                run_after: t,
            }],
        })
        .await
        .unwrap();
        db.enqueue_job(JOB_BLOB_DELETE, "x", t).await.unwrap();
        assert_eq!(db.pending_jobs().await.unwrap(), 2, "{b:?}");
        let lease = t.plus(Duration::from_secs(30));
        let m = db.claim_job("media.", t, lease).await.unwrap().unwrap();
        assert_eq!(
            (m.kind.as_str(), m.payload.clone()),
            (JOB_MEDIA_PROBE, blob.to_hex()),
            "{b:?}"
        );
        assert!(
            db.claim_job("media.", t, lease).await.unwrap().is_none(),
            "{b:?}: blob.delete is not the media wing's"
        );
        let d = db.claim_job("blob.", t, lease).await.unwrap().unwrap();
        assert_eq!(d.kind, JOB_BLOB_DELETE, "{b:?}");
        db.finish_job(m.id).await.unwrap();
        db.finish_job(d.id).await.unwrap();
    }
}

#[tokio::test]
async fn probes_are_stored_once_per_hash_and_replaced() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let blob = BlobHash::from_bytes([22; 32]);
        assert_eq!(db.media_probe(&blob).await.unwrap(), None, "{b:?}");
        let failed = MediaProbe {
            blob,
            outcome: ProbeOutcome::Failed("EBML header parsing failed".into()),
            probed_at: Timestamp(5),
        };
        db.put_media_probe(&failed).await.unwrap();
        assert_eq!(db.media_probe(&blob).await.unwrap(), Some(failed), "{b:?}");
        let ok = MediaProbe {
            blob,
            outcome: ProbeOutcome::Media(r#"{"duration":1.5}"#.into()),
            probed_at: Timestamp(6),
        };
        db.put_media_probe(&ok).await.unwrap();
        assert_eq!(db.media_probe(&blob).await.unwrap(), Some(ok), "{b:?}");
        assert_eq!(
            db.media_probe(&BlobHash::from_bytes([23; 32]))
                .await
                .unwrap(),
            None,
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn renditions_round_trip_hold_their_blob_and_are_stray_without_their_source() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let source = BlobHash::from_bytes([31; 32]);
        let file = BlobHash::from_bytes([32; 32]);
        assert!(
            db.media_rendition(&source, "remux")
                .await
                .unwrap()
                .is_none()
        );
        assert!(!db.blob_referenced(&file).await.unwrap(), "{b:?}");
        let r = MediaRendition {
            source,
            name: "remux".into(),
            outcome: RenditionOutcome::Ready(RenditionFile {
                blob: file,
                size: 1234,
                playlist: "#EXTM3U\n".into(),
                bandwidth: 800_000,
                resolution: Some("1920x1080".into()),
                codecs: "avc1.64002a,mp4a.40.2".into(),
            }),
            made_at: Timestamp(5),
        };
        db.put_media_rendition(&r).await.unwrap();
        assert_eq!(
            db.media_rendition(&source, "remux").await.unwrap(),
            Some(r.clone()),
            "{b:?}"
        );
        // All of a source's renditions at once, by name (a failed one too).
        let track = MediaRendition {
            name: "subs.2".into(),
            outcome: RenditionOutcome::Failed("image subtitles".into()),
            ..r.clone()
        };
        db.put_media_rendition(&track).await.unwrap();
        assert_eq!(
            db.media_renditions(&source).await.unwrap(),
            vec![r.clone(), track],
            "{b:?}"
        );
        db.delete_media_rendition(&source, "subs.2").await.unwrap();
        assert!(db.media_renditions(&file).await.unwrap().is_empty());
        assert!(
            db.blob_referenced(&file).await.unwrap(),
            "{b:?}: a rendition holds its blob"
        );
        // Its source is stored by no file: the sweep finds it.
        let stray = db.stray_renditions(10).await.unwrap();
        assert_eq!(
            stray,
            vec![(source, "remux".to_owned(), Some(file))],
            "{b:?}"
        );
        // A failure replaces it and holds no blob.
        let failed = MediaRendition {
            outcome: RenditionOutcome::Failed("ffmpeg said no".into()),
            ..r
        };
        db.put_media_rendition(&failed).await.unwrap();
        assert_eq!(
            db.media_rendition(&source, "remux").await.unwrap(),
            Some(failed),
            "{b:?}"
        );
        assert!(!db.blob_referenced(&file).await.unwrap(), "{b:?}");
        db.delete_media_rendition(&source, "remux").await.unwrap();
        assert!(
            db.media_rendition(&source, "remux")
                .await
                .unwrap()
                .is_none()
        );
        assert!(db.stray_renditions(10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn transcode_progress_and_hastened_jobs() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let source = BlobHash::from_bytes([41; 32]);
        assert_eq!(db.media_progress(&source).await.unwrap(), None, "{b:?}");
        db.put_media_progress(&source, Some(0.25), Timestamp(1))
            .await
            .unwrap();
        db.put_media_progress(&source, Some(0.5), Timestamp(2))
            .await
            .unwrap();
        assert_eq!(
            db.media_progress(&source).await.unwrap(),
            Some(0.5),
            "{b:?}"
        );
        db.put_media_progress(&source, None, Timestamp(3))
            .await
            .unwrap();
        assert_eq!(db.media_progress(&source).await.unwrap(), None, "{b:?}");

        // A job someone waits for is claimed before older ones.
        let t = Timestamp(1_000_000);
        let old = db.enqueue_job("media.transcode", "a", t).await.unwrap();
        let wanted = db
            .enqueue_job("media.transcode", "b", t.plus(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(db.job_queued("media.transcode", "b").await.unwrap());
        assert!(!db.job_queued("media.transcode", "c").await.unwrap());
        assert!(!db.job_queued("media.probe", "b").await.unwrap());
        assert_eq!(
            db.hasten_job("media.transcode", "b", Timestamp(0))
                .await
                .unwrap(),
            1,
            "{b:?}"
        );
        // Already first: nothing moves.
        assert_eq!(
            db.hasten_job("media.transcode", "b", Timestamp(0))
                .await
                .unwrap(),
            0
        );
        let now = t.plus(Duration::from_secs(10));
        let lease = now.plus(Duration::from_secs(30));
        let j = db.claim_job("media.", now, lease).await.unwrap().unwrap();
        assert_eq!(j.id, wanted, "{b:?}");
        // A claimed job is not moved.
        assert_eq!(
            db.hasten_job("media.transcode", "b", Timestamp(-1))
                .await
                .unwrap(),
            0
        );
        db.finish_job(j.id).await.unwrap();
        let j = db.claim_job("media.", now, lease).await.unwrap().unwrap();
        assert_eq!(j.id, old);
        db.finish_job(j.id).await.unwrap();
    }
}
