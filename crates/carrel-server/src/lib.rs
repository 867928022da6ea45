//! carrel's composition root. It reads the [`Settings`], opens the database
//! and the blob store, builds each wing, merges their routes with the
//! operational ones (`/metrics`, `/healthz`, `/api/openapi.json`), and
//! serves HTTP/1.1 and HTTP/2 (through [`carrel_http::conn`]) until told
//! to stop.
//!
//! Only this crate (and the CLI above it) knows every wing; wings never
//! import it.

pub mod metrics;
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
    settings: Settings,
}

impl Server {
    /// Opens storage and binds the listening socket.
    pub async fn bind(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data).with_context(|| {
            format!(
                "cannot create the data directory {}",
                settings.data.display()
            )
        })?;
        let url = settings.database_url();
        let db = carrel_db::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact(&url)))?;
        let store = carrel_blob::LocalBlobStore::open(&settings.data).with_context(|| {
            format!("cannot open the blob store in {}", settings.data.display())
        })?;
        let store = carrel_blob::MemoryCached::new(store, settings.memory_cache_bytes, 64 << 10);
        let hosting = Hosting::new(db, Arc::new(store), settings.hosting.clone());
        let metrics = metrics::Metrics::new(hosting.clone());
        let router = hosting.router().merge(ops_routes(metrics.clone()));
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        Ok(Self {
            listener,
            router,
            metrics,
            hosting,
            settings,
        })
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
        let housekeeping = tokio::spawn(self.hosting.clone().run_housekeeping(stop_rx));
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
        tracing::info!("stopped");
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
