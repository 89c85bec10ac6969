//! Local web pages for saev-rs, served with axum on localhost:
//!
//! - [`browse`]: the feature browser over `saev visuals` outputs (a sortable,
//!   filterable, paginated table of latents; each latent's top images with
//!   heatmaps, labels and value histogram);
//! - [`steer`]: the steering dashboard (a test image, nine latent sliders,
//!   the probe's top-5 classes before and after the edit).
//!
//! Pages are single HTML files embedded in the binary (no CDN, no network).

pub mod browse;
pub mod steer;

use std::net::SocketAddr;

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    File(std::path::PathBuf, String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Serve `app` on `host:port` (port 0 picks a free one) until Ctrl-C;
/// `on_bound` gets the address actually bound.
pub fn serve(
    app: axum::Router,
    host: &str,
    port: u16,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    let app = with_error_pages(app);
    if !is_loopback(host) {
        tracing::warn!(
            "serving on {host}: the page is reachable from other machines on the network, with no login"
        );
    }
    rt.block_on(async move {
        let addr = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| Error::Bind(addr.clone(), e))?;
        let bound = listener.local_addr().map_err(|e| Error::Bind(addr, e))?;
        on_bound(bound);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Config(e.to_string()))
    })
}

/// Unknown paths and wrong methods answer with one line saying so (axum's
/// defaults are empty bodies).
pub fn with_error_pages(app: axum::Router) -> axum::Router {
    use axum::http::{Method, StatusCode, Uri};
    app.fallback(|uri: Uri| async move {
        let msg = format!(
            "404 not found: {} (the pages are / and /api/...)\n",
            uri.path()
        );
        (StatusCode::NOT_FOUND, msg)
    })
    .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
        let msg = format!(
            "405 method not allowed: {method} {} (use GET)\n",
            uri.path()
        );
        (StatusCode::METHOD_NOT_ALLOWED, msg)
    })
}

/// Whether `host` only accepts connections from this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A JSON error response.
pub(crate) fn error(
    status: axum::http::StatusCode,
    msg: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({"error": msg.into()}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn request(addr: SocketAddr, method: &str, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn unknown_paths_and_wrong_methods_answer_with_a_line_saying_so() {
        let app = axum::Router::new().route("/api/meta", axum::routing::get(|| async { "ok" }));
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, with_error_pages(app)).await });
        let missing = request(addr, "GET", "/nope");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(
            missing.ends_with("404 not found: /nope (the pages are / and /api/...)\n"),
            "{missing}"
        );
        let post = request(addr, "POST", "/api/meta");
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(
            post.ends_with("405 method not allowed: POST /api/meta (use GET)\n"),
            "{post}"
        );
        assert!(request(addr, "GET", "/api/meta").ends_with("ok"));
    }

    #[test]
    fn only_loopback_hosts_count_as_local() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.4", "example.org"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
