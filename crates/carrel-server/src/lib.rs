//! carrel's composition root. It reads the [`Settings`], opens the database
//! and the blob store, builds each wing, merges their routes with the
//! operational ones (`/metrics`, `/healthz`, `/api/openapi.json`), and
//! serves HTTP/1.1 and HTTP/2 (through [`carrel_http::conn`]) until told
//! to stop.
//!
//! Only this crate (and the CLI above it) knows every wing; wings never
//! import it.

pub mod metrics;
pub mod routes;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use carrel_hosting::Hosting;
use carrel_http::conn::{Connections, Handler};
use futures::FutureExt;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use settings::Settings;

/// A server bound to its address, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
    metrics: Arc<metrics::Metrics>,
    hosting: Arc<Hosting>,
    library: Arc<carrel_library::Library>,
    accounts: Arc<carrel_accounts::Accounts>,
    streaming: Arc<carrel_streaming::Streaming>,
    settings: Settings,
}

/// Opens the library: its catalog in `db` and its search index in the data
/// directory. An index of another schema version is recreated and rebuilt
/// from the database (the database is the truth).
pub async fn open_library(
    settings: &Settings,
    db: Arc<dyn carrel_db::Database>,
    store: Arc<dyn carrel_blob::BlobStore>,
) -> anyhow::Result<Arc<carrel_library::Library>> {
    let dir = settings.index_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the index directory {}", dir.display()))?;
    let opts = carrel_search::IndexOptions::default();
    let (index, stale) = match carrel_search::SearchIndex::open(&dir, opts) {
        Ok(i) => (i, false),
        Err(carrel_search::SearchError::SchemaChanged { .. }) => {
            tracing::warn!(dir = %dir.display(), "the search index is of another version: rebuilding it");
            (carrel_search::SearchIndex::recreate(&dir, opts)?, true)
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot open the search index in {}", dir.display())));
        }
    };
    let extractor = carrel_library::extract::Extractor::current_exe()?;
    let lib = carrel_library::Library::new(db, index, store, extractor);
    if lib.index().is_read_only() {
        tracing::warn!(
            dir = %dir.display(),
            "another carrel process writes the search index in this data directory: this one searches it \
             and cannot change the library"
        );
        return Ok(lib);
    }
    let empty_index = lib.index().num_docs() == 0 && lib.db().count_editions().await? > 0;
    if stale || empty_index {
        let n = lib.rebuild_index(&|_, _| {}).await?;
        tracing::info!(editions = n, "search index rebuilt from the database");
    }
    Ok(lib)
}

/// The file-hosting wing on a settings file's database and blob store, for
/// CLI commands (no listener; nothing runs in the background).
pub async fn open_hosting(settings: &Settings) -> anyhow::Result<Arc<Hosting>> {
    settings
        .plans
        .validate()
        .context("the plans in the settings are inconsistent")?;
    let db = open_database(settings).await?;
    let store = open_store(settings)?;
    Ok(Hosting::new(
        db,
        store,
        settings.hosting.clone(),
        Arc::new(settings.plans.clone()),
        Arc::new(carrel_http::meter::Meter::new()),
    ))
}

/// Opens the blob store of a data directory.
pub fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn carrel_blob::BlobStore>> {
    let store = carrel_blob::LocalBlobStore::open(&settings.data)
        .with_context(|| format!("cannot open the blob store in {}", settings.data.display()))?;
    Ok(Arc::new(store))
}

/// Opens the database a settings file names (for CLI commands).
pub async fn open_database(settings: &Settings) -> anyhow::Result<Arc<dyn carrel_db::Database>> {
    std::fs::create_dir_all(&settings.data).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data.display()
        )
    })?;
    let url = settings.database_url();
    carrel_db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&url)))
}

impl Server {
    /// Opens storage and binds the listening socket.
    pub async fn bind(settings: Settings) -> anyhow::Result<Self> {
        let db = open_database(&settings).await?;
        let store = carrel_blob::LocalBlobStore::open(&settings.data).with_context(|| {
            format!("cannot open the blob store in {}", settings.data.display())
        })?;
        let store: Arc<dyn carrel_blob::BlobStore> = Arc::new(carrel_blob::MemoryCached::new(
            store,
            settings.memory_cache_bytes,
            64 << 10,
        ));
        let library = open_library(&settings, db.clone(), store.clone()).await?;
        let mut accounts_config = settings.accounts.clone();
        accounts_config.public_url = settings.hosting.public_url.clone();
        settings
            .plans
            .validate()
            .context("the plans in the settings are inconsistent")?;
        if settings
            .accounts
            .webhook_secret
            .as_ref()
            .is_some_and(|s| s.len() < 32)
        {
            anyhow::bail!(
                "accounts.webhook_secret must be at least 32 characters (for example: openssl rand -hex 32)"
            );
        }
        let plans = Arc::new(settings.plans.clone());
        let meter = Arc::new(carrel_http::meter::Meter::new());
        library.set_meter(meter.clone(), plans.clone());
        let accounts = carrel_accounts::Accounts::new(
            db.clone(),
            accounts_config,
            plans.clone(),
            meter.clone(),
        );
        let streaming =
            carrel_streaming::Streaming::new(db.clone(), store.clone(), settings.streaming.clone());
        let hosting = Hosting::new(db, store, settings.hosting.clone(), plans, meter);
        accounts.set_holdings(hosting.clone());
        hosting.set_media(streaming.clone());
        streaming.set_gate(hosting.clone());
        let metrics = metrics::Metrics::new(hosting.clone());
        let router = hosting
            .router()
            .merge(accounts.router())
            .merge(streaming.router())
            .merge(carrel_library::web::routes(library.clone()))
            .merge(ops_routes(metrics.clone()))
            // Every wing learns who is asking through the same authenticator.
            .layer(axum::Extension(accounts.authenticator()));
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        if let Some(mailer) =
            carrel_accounts::mail::Mailer::new(&settings.smtp).map_err(|e| anyhow::anyhow!(e))?
        {
            // Links in mails never come from a request's Host header.
            let base = match &settings.hosting.public_url {
                Some(u) => u.trim_end_matches('/').to_owned(),
                None => {
                    let at = listener.local_addr()?;
                    tracing::warn!(
                        "smtp is set but hosting.public_url is not: mailed links point at http://{at}"
                    );
                    format!("http://{at}")
                }
            };
            accounts.set_mail(carrel_accounts::mail::Mail { mailer, base });
        }
        let server = Self {
            listener,
            router,
            metrics,
            hosting,
            library,
            accounts,
            streaming,
            settings,
        };
        server.first_start().await?;
        Ok(server)
    }

    /// Every method and path pattern this server answers (see [`routes`]).
    pub async fn routes(&self) -> anyhow::Result<Vec<routes::Route>> {
        routes::table(&self.router).await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound socket")
    }

    /// Serves until `shutdown` completes, then lets requests in flight
    /// finish (up to the grace period) and flushes state.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let housekeeping = tokio::spawn(self.hosting.clone().run_housekeeping(stop_rx.clone()));
        let account_housekeeping =
            tokio::spawn(self.accounts.clone().run_housekeeping(stop_rx.clone()));
        // The streaming wing's jobs (probes) run one at a time beside the hosting wing's.
        let media_worker = tokio::spawn(self.streaming.clone().run_worker(stop_rx));
        // Changes reach search within a second: the index commits every 500 ms while they arrive.
        let committer = tokio::spawn(self.library.clone().commit_loop(Duration::from_millis(500)));
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(self.settings.header_read_timeout_secs))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256);
        let router = self.router.clone();
        let metrics = self.metrics.clone();
        let handler: Handler = Arc::new(move |req: axum::extract::Request| {
            let method = req.method().clone();
            let metrics = metrics.clone();
            router
                .clone()
                .oneshot(req)
                .map(move |res| {
                    let res = match res {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    metrics.count(&method, res.status());
                    res
                })
                .boxed()
        });
        let connections = Connections::new(
            handler,
            builder,
            Duration::from_secs(self.settings.header_read_timeout_secs),
        );
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            connections.serve(stream, peer);
        }
        tracing::info!("shutting down: no new connections; waiting for requests in flight");
        let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
        if tokio::time::timeout(grace, connections.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "requests still running after {grace:?}; closing them (uploads stay resumable)"
            );
        }
        let _ = stop_tx.send(true);
        let _ = housekeeping.await;
        let _ = account_housekeeping.await;
        let _ = media_worker.await;
        committer.abort();
        if let Err(e) = self.library.commit().await {
            tracing::warn!(error = %e, "final search index commit failed");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

impl Server {
    /// With no account yet, makes a one-time link that creates the
    /// administrator and logs it (the first start's set-up step).
    async fn first_start(&self) -> anyhow::Result<()> {
        if self.accounts.db.count_accounts().await? > 0 {
            return Ok(());
        }
        let base = match &self.settings.hosting.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.local_addr()),
        };
        let link = carrel_accounts::api::invitation_link(&self.accounts, None, &base).await?;
        tracing::warn!(
            "no accounts yet: create the administrator at {link} (or run `carrel admin create-user --admin EMAIL`)"
        );
        Ok(())
    }
}

fn ops_routes(metrics: Arc<metrics::Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/openapi.json", get(openapi))
        .route("/metrics", get(metrics::render))
        .with_state(metrics)
}

async fn openapi() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        include_str!("../openapi.json"),
    )
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
