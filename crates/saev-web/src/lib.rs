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

/// A JSON error response.
pub(crate) fn error(
    status: axum::http::StatusCode,
    msg: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({"error": msg.into()}))).into_response()
}
