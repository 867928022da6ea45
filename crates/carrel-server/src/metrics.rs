//! Prometheus metrics at `/metrics` (text exposition format 0.0.4).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use carrel_hosting::Hosting;

pub struct Metrics {
    hosting: Arc<Hosting>,
    /// Responses by (method, status); `Method` clones without allocating.
    requests: Mutex<HashMap<(Method, u16), u64>>,
}

impl Metrics {
    pub fn new(hosting: Arc<Hosting>) -> Arc<Self> {
        Arc::new(Self {
            hosting,
            requests: Mutex::default(),
        })
    }
}

/// Middleware: counts responses by method and status.
pub async fn count(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let res = next.run(req).await;
    *m.requests
        .lock()
        .expect("lock")
        .entry((method, res.status().as_u16()))
        .or_default() += 1;
    res
}

pub async fn render(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let mut out = String::new();
    out.push_str("# HELP carrel_http_requests_total HTTP responses by method and status.\n");
    out.push_str("# TYPE carrel_http_requests_total counter\n");
    let mut rows: Vec<(String, u16, u64)> = m
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|((m, s), n)| (m.to_string(), *s, *n))
        .collect();
    rows.sort();
    for (method, status, n) in rows {
        let _ = writeln!(
            out,
            "carrel_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
        );
    }
    for (name, help, v) in m.hosting.stats.snapshot() {
        let _ = writeln!(
            out,
            "# HELP {name}_total {help}\n# TYPE {name}_total counter\n{name}_total {v}"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
}
