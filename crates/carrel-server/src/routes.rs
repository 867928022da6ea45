//! The routes the server answers, read from the assembled router itself
//! (not from a list kept beside it, which could forget one): the path
//! patterns axum holds, and each one's methods as its `Allow` header
//! names them. `carrel routes --json` prints them; the authorization
//! matrix test fails when one of them has no row.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

/// One method of one path pattern (`{id}` for a segment, `{*rest}` for the rest).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Route {
    pub method: String,
    pub path: String,
}

/// The path patterns in a router's debug form (`RouteId(n): "/path"`).
fn patterns(router: &Router) -> Vec<String> {
    let dump = format!("{router:?}");
    // The routes proper; the fallback router that follows holds axum's own.
    let mut rest = dump.split("fallback_router").next().unwrap_or_default();
    let mut out = Vec::new();
    while let Some(i) = rest.find("RouteId(") {
        rest = &rest[i + "RouteId(".len()..];
        let Some(j) = rest.find("): \"") else { break };
        let after = &rest[j + 4..];
        let Some(end) = after.find('"') else { break };
        let path = &after[..end];
        // axum's own catch-all for the fallback is no route of carrel's.
        if !path.contains("__private__axum") {
            out.push(path.to_owned());
        }
        rest = &after[end..];
    }
    out.sort();
    out.dedup();
    out
}

/// A request path that matches `pattern` (each parameter filled with `x`).
fn sample(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "x"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every method and path pattern `router` answers, sorted. HEAD is listed
/// only where it is not GET's (axum answers HEAD for every GET route). A
/// path that takes any method is listed with `*`.
pub async fn table(router: &Router) -> anyhow::Result<Vec<Route>> {
    let probe = Method::from_bytes(b"CARREL-PROBE")?;
    let mut out = Vec::new();
    for path in patterns(router) {
        let req = Request::builder()
            .method(probe.clone())
            .uri(sample(&path))
            .body(Body::empty())?;
        let res = router.clone().oneshot(req).await?;
        if res.status() != StatusCode::METHOD_NOT_ALLOWED {
            out.push(Route {
                method: "*".into(),
                path,
            });
            continue;
        }
        let allow = res
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let methods: Vec<&str> = allow
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        anyhow::ensure!(
            !methods.is_empty(),
            "{path} names no methods in its Allow header"
        );
        for m in &methods {
            if *m == "HEAD" && methods.contains(&"GET") {
                continue;
            }
            out.push(Route {
                method: (*m).to_owned(),
                path: path.clone(),
            });
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use axum::routing::{any, get, post};

    use super::*;

    #[tokio::test]
    async fn routes_come_from_the_router() {
        let r: Router = Router::new()
            .route("/a/{id}", get(|| async {}).delete(|| async {}))
            .route("/b", post(|| async {}))
            .route("/c/{*rest}", any(|| async {}))
            .merge(Router::new().route("/d", get(|| async {})));
        let t: Vec<_> = table(&r)
            .await
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            t,
            [
                "* /c/{*rest}",
                "DELETE /a/{id}",
                "GET /a/{id}",
                "GET /d",
                "POST /b"
            ]
        );
    }
}
