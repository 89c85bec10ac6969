//! The feature browser: `saev serve DIR...` over `saev visuals` outputs.
//!
//! Routes (all JSON but `/` and `/files`):
//! - `GET /` the page;
//! - `GET /api/sources`: the visuals outputs served;
//! - `GET /api/latents?source&sort&desc&q&min_log_freq&max_log_freq&pictures&offset&limit`:
//!   one page of the latent table, filtered and sorted on the server, so
//!   12,288 latents cost one small response;
//! - `GET /api/latent?source&id`: one latent: statistics, top images, histogram;
//! - `GET /files/{source}/neurons/{id}/{file}`: its pictures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use saev_visuals::stats::{HIST_BINS, HIST_LO, HIST_WIDTH};
use saev_visuals::Summary;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{error, Error};

const PAGE: &str = include_str!("../assets/browse.html");

/// One `sort_by_<mode>/` directory.
pub struct Source {
    pub name: String,
    pub root: PathBuf,
    pub summary: Summary,
    /// `latents.json` rows.
    rows: Vec<Value>,
    /// `topk.safetensors`, mapped (read lazily, per latent).
    topk: memmap2::Mmap,
}

impl Source {
    /// Open a visuals output: a `sort_by_<mode>/` directory or a `--dump-to`
    /// directory holding them (each becomes a source).
    pub fn open_all(dir: &Path) -> Result<Vec<Source>, Error> {
        if dir.join("summary.json").is_file() {
            return Ok(vec![Self::open(dir)?]);
        }
        let mut out = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| Error::File(dir.into(), e.to_string()))?;
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for d in dirs {
            if d.join("summary.json").is_file() {
                out.push(Self::open(&d)?);
            }
        }
        if out.is_empty() {
            return Err(Error::File(
                dir.into(),
                "no saev visuals output here (summary.json); run `saev visuals` first".into(),
            ));
        }
        Ok(out)
    }

    fn open(root: &Path) -> Result<Source, Error> {
        let read = |name: &str| -> Result<Vec<u8>, Error> {
            let p = root.join(name);
            std::fs::read(&p).map_err(|e| Error::File(p, e.to_string()))
        };
        let summary: Summary = serde_json::from_slice(&read("summary.json")?)
            .map_err(|e| Error::File(root.join("summary.json"), e.to_string()))?;
        // The typed table, as rows for the queries below.
        let table = saev_visuals::LatentTable::read(root)
            .map_err(|e| Error::File(root.join("latents.json"), e.to_string()))?;
        let rows: Vec<Value> = table
            .latents
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect();
        let path = root.join("topk.safetensors");
        let file =
            std::fs::File::open(&path).map_err(|e| Error::File(path.clone(), e.to_string()))?;
        // SAFETY: the file is only read; visuals outputs are not rewritten in place
        // (saves go through a rename).
        let topk = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::File(path.clone(), e.to_string()))?;
        safetensors::SafeTensors::deserialize(&topk)
            .map_err(|e| Error::File(path, e.to_string()))?;
        let name = format!(
            "{} ({})",
            root.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        Ok(Source {
            name,
            root: root.to_path_buf(),
            summary,
            rows,
            topk,
        })
    }

    /// Row `id` of tensor `name` (`row_len` values of `width` bytes).
    fn row(&self, name: &str, id: usize, row_len: usize, width: usize) -> Option<Vec<u8>> {
        let st = safetensors::SafeTensors::deserialize(&self.topk).ok()?;
        let t = st.tensor(name).ok()?;
        let bytes = t.data();
        bytes
            .get(id * row_len * width..(id + 1) * row_len * width)
            .map(<[u8]>::to_vec)
    }
}

type Sources = Arc<Vec<Source>>;

/// The browser's routes over `sources`.
pub fn router(sources: Vec<Source>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/sources", get(list_sources))
        .route("/api/latents", get(latents))
        .route("/api/latent", get(latent))
        .route("/files/{source}/neurons/{id}/{file}", get(file))
        .with_state(Arc::new(sources))
}

async fn list_sources(State(s): State<Sources>) -> Json<Value> {
    Json(json!(s
        .iter()
        .enumerate()
        .map(|(i, src)| json!({"id": i, "name": src.name, "summary": src.summary}))
        .collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct TableQuery {
    #[serde(default)]
    source: usize,
    /// latent, freq, mean or max.
    sort: Option<String>,
    #[serde(default)]
    desc: Option<u8>,
    /// Substring of the top labels.
    q: Option<String>,
    min_log_freq: Option<f64>,
    max_log_freq: Option<f64>,
    /// 1: only latents with pictures.
    pictures: Option<u8>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

fn no_source(s: &Sources, i: usize) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no source {i} (there are {})", s.len()),
    )
}

async fn latents(State(s): State<Sources>, Query(q): Query<TableQuery>) -> Response {
    let Some(src) = s.get(q.source) else {
        return no_source(&s, q.source);
    };
    let key = q.sort.as_deref().unwrap_or("latent");
    if !["latent", "freq", "mean", "max"].contains(&key) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("cannot sort by {key:?}: use latent, freq, mean or max"),
        );
    }
    let limit = q.limit.unwrap_or(100).min(1000);
    let needle = q.q.as_deref().unwrap_or("").to_lowercase();
    let num = |r: &Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let mut rows: Vec<&Value> = src
        .rows
        .iter()
        .filter(|r| {
            let lf = num(r, "freq").log10();
            (needle.is_empty()
                || r["top_labels"].as_array().is_some_and(|ls| {
                    ls.iter()
                        .any(|l| l.as_str().unwrap_or("").to_lowercase().contains(&needle))
                }))
                && q.min_log_freq.is_none_or(|m| lf >= m)
                && q.max_log_freq.is_none_or(|m| lf <= m)
                && (q.pictures != Some(1) || r["pictures"].as_bool() == Some(true))
        })
        .collect();
    // NaN (never fired) sorts last either way.
    rows.sort_by(|a, b| {
        let (x, y) = (num(a, key), num(b, key));
        match (x.is_nan(), y.is_nan()) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if q.desc == Some(1) => y.total_cmp(&x),
            _ => x.total_cmp(&y),
        }
    });
    let total = rows.len();
    let page: Vec<&Value> = rows.into_iter().skip(q.offset).take(limit).collect();
    Json(json!({"total": total, "offset": q.offset, "rows": page})).into_response()
}

#[derive(Deserialize)]
struct LatentQuery {
    #[serde(default)]
    source: usize,
    id: Option<usize>,
}

async fn latent(State(s): State<Sources>, Query(q): Query<LatentQuery>) -> Response {
    let Some(src) = s.get(q.source) else {
        return no_source(&s, q.source);
    };
    let Some(id) = q.id else {
        return error(StatusCode::BAD_REQUEST, "give the latent: ?id=N");
    };
    let Some(row) = src.rows.get(id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no latent {id}: this SAE has {}", src.rows.len()),
        );
    };
    let meta_path = src
        .root
        .join("neurons")
        .join(id.to_string())
        .join("metadata.json");
    let top: Vec<Value> = match std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(meta) => meta["top"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(j, mut t)| {
                t["png"] = json!(format!("/files/{}/neurons/{id}/{j}.png", q.source));
                t
            })
            .collect(),
        None => {
            let k = src.summary.top_k;
            let imgs = src.row("top_img_i", id, k, 8).unwrap_or_default();
            let vals = src.row("top_values", id, k, 4).unwrap_or_default();
            imgs.chunks_exact(8)
                .zip(vals.chunks_exact(4))
                .map(|(i, v)| {
                    (
                        i64::from_le_bytes(i.try_into().expect("8")),
                        f32::from_le_bytes(v.try_into().expect("4")),
                    )
                })
                .filter(|&(i, _)| i >= 0)
                .map(|(i, v)| json!({"image": i, "value": v, "label": null, "png": null}))
                .collect()
        }
    };
    let hist: Vec<i64> = src
        .row("log_hist", id, HIST_BINS, 8)
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    Json(json!({
        "latent": id, "row": row, "top": top,
        "hist": {"lo": HIST_LO, "width": HIST_WIDTH, "counts": hist},
    }))
    .into_response()
}

async fn file(
    State(s): State<Sources>,
    UrlPath((source_i, id, name)): UrlPath<(usize, usize, String)>,
) -> Response {
    let Some(src) = s.get(source_i) else {
        return no_source(&s, source_i);
    };
    let ok_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && !name.starts_with('.');
    if !ok_name {
        return error(StatusCode::BAD_REQUEST, "bad file name");
    }
    let path = src.root.join("neurons").join(id.to_string()).join(&name);
    let mime = if name.ends_with(".png") {
        "image/png"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            format!("no file {name} for latent {id}"),
        ),
    }
}
