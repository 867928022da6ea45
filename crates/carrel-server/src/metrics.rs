//! Prometheus metrics at `/metrics` (text exposition format 0.0.4).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use carrel_hosting::Hosting;

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];
const STATUSES: usize = 500; // 100..=599

pub struct Metrics {
    hosting: Arc<Hosting>,
    /// Responses by method and status: one counter each, no lock on the
    /// request path.
    requests: Box<[AtomicU64]>,
}

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

impl Metrics {
    pub fn new(hosting: Arc<Hosting>) -> Arc<Self> {
        Arc::new(Self {
            hosting,
            requests: (0..METHODS.len() * STATUSES)
                .map(|_| AtomicU64::new(0))
                .collect(),
        })
    }

    /// Counts one response.
    pub fn count(&self, method: &Method, status: StatusCode) {
        let s = (status.as_u16() as usize).clamp(100, 599) - 100;
        self.requests[method_index(method) * STATUSES + s].fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn render(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let mut out = String::new();
    out.push_str("# HELP carrel_http_requests_total HTTP responses by method and status.\n");
    out.push_str("# TYPE carrel_http_requests_total counter\n");
    for (i, n) in m.requests.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let (method, status) = (METHODS[i / STATUSES], i % STATUSES + 100);
            let _ = writeln!(
                out,
                "carrel_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
    }
    let fast = carrel_http::conn::counts();
    for (name, help, v) in m.hosting.stats.snapshot().into_iter().chain(fast) {
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
