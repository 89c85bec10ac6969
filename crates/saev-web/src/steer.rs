//! The steering dashboard: `saev serve steer`.
//!
//! Routes:
//! - `GET /` the page;
//! - `GET /api/meta`: classes and number of examples;
//! - `GET /api/example?i&other`: an example (image, true class, the probe's
//!   top 5) and nine latents to edit: the top 3 of its class, of `other`
//!   (default: the likeliest wrong class) and 3 random rare latents, each with
//!   its current value, slider range `[-m, m]` and top images;
//! - `GET /api/steer?i&edits=latent:value,...`: top 5 before and after;
//! - `GET /image/{i}`: the example's image (224 px PNG);
//! - `GET /neuron/{latent}/{j}`: a latent's `j`th top image from `saev visuals`.
//!
//! Unknown examples, latents or classes and values outside `[-m, m]` get a
//! 400 with a message.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use saev_probe::Probe;
use saev_sae::Sae;
use saev_steer::{edit, Edit};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error;

const PAGE: &str = include_str!("../assets/steer.html");

/// Everything the dashboard serves, loaded by the caller.
pub struct SteerData {
    pub sae: Sae,
    pub probe: Probe,
    pub classes: Vec<String>,
    /// The examples, normalized like the SAE's data.
    pub x_ND: Vec<f32>,
    pub y_N: Vec<u32>,
    /// Image file of each example (may be empty).
    pub images: Vec<PathBuf>,
    /// Per class, its proposed latents.
    pub class_latents: Vec<Vec<usize>>,
    /// Latents random proposals are drawn from.
    pub random_pool: Vec<usize>,
    pub n_random: usize,
    /// Largest activation of each latent in the visuals pass (slider range).
    pub max_S: Vec<f32>,
    pub freq_S: Vec<f32>,
    /// `saev visuals` output root (`neurons/<latent>/<j>.png`).
    pub visuals_root: PathBuf,
}

impl SteerData {
    /// The dashboard's data: steer `test`'s examples with `l`'s SAE and
    /// probe; each class's latents come from `train` (default: `test`).
    pub fn new(
        l: saev_control::steer_eval::Loaded,
        test: saev_control::split::Split,
        train: Option<&saev_control::split::Split>,
        n_random: usize,
    ) -> SteerData {
        let (class_latents, random_pool) = l.proposals(train.unwrap_or(&test), n_random);
        let classes = if l.probe.classes.len() == l.probe.c {
            l.probe.classes.clone()
        } else {
            test.classes.clone()
        };
        SteerData {
            max_S: l.visuals.max_values_S.clone(),
            freq_S: l.visuals.sparsity_S.clone(),
            visuals_root: l.visuals_root.clone(),
            sae: l.sae,
            probe: l.probe,
            classes,
            x_ND: test.x_ND,
            y_N: test.y_N,
            images: test.images,
            class_latents,
            random_pool,
            n_random,
        }
    }
}

type St = Arc<SteerData>;

/// The dashboard's routes.
pub fn router(data: SteerData) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/meta", get(meta))
        .route("/api/example", get(example))
        .route("/api/steer", get(steer))
        .route("/image/{i}", get(image))
        .route("/neuron/{latent}/{j}", get(neuron))
        .with_state(Arc::new(data))
}

async fn meta(State(d): State<St>) -> Json<Value> {
    Json(json!({"n_examples": d.y_N.len(), "classes": d.classes, "d_sae": d.sae.d_sae()}))
}

fn top5(d: &SteerData, probs: &[f32]) -> Vec<Value> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(5)
        .map(|c| json!({"class": c, "name": d.classes.get(c).cloned().unwrap_or_else(|| c.to_string()), "p": probs[c]}))
        .collect()
}

fn x(d: &SteerData, i: usize) -> &[f32] {
    let dim = d.sae.d_vit();
    &d.x_ND[i * dim..(i + 1) * dim]
}

fn bad(msg: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

/// The example index, or why it is not one.
fn check_example(d: &SteerData, i: Option<usize>) -> Result<usize, String> {
    match i {
        Some(i) if i < d.y_N.len() => Ok(i),
        Some(i) => Err(format!("no example {i}: there are {}", d.y_N.len())),
        None => Err("give the example: ?i=N".into()),
    }
}

#[derive(Deserialize)]
struct ExampleQuery {
    i: Option<usize>,
    other: Option<usize>,
}

async fn example(State(d): State<St>, Query(q): Query<ExampleQuery>) -> Response {
    let i = match check_example(&d, q.i) {
        Ok(i) => i,
        Err(msg) => return bad(msg),
    };
    let y = d.y_N[i] as usize;
    let out = edit(&d.sae, &d.probe, x(&d, i), &[]);
    let other = match q.other {
        Some(c) if c < d.classes.len() => c,
        Some(c) => return bad(format!("no class {c}: there are {}", d.classes.len())),
        None => {
            // The likeliest class that is not the true one.
            (0..d.classes.len())
                .filter(|&c| c != y)
                .max_by(|&a, &b| out.probs_before[a].total_cmp(&out.probs_before[b]))
                .unwrap_or(0)
        }
    };
    let random = saev_steer::random_latents(
        &{
            let mut a = vec![false; d.sae.d_sae()];
            d.random_pool.iter().for_each(|&j| a[j] = true);
            a
        },
        d.n_random,
        i as u64,
    );
    let describe = |latents: &[usize]| -> Vec<Value> {
        latents
            .iter()
            .map(|&j| {
                let dir = d.visuals_root.join("neurons").join(j.to_string());
                let imgs: Vec<String> = (0..4)
                    .filter(|k| dir.join(format!("{k}.png")).is_file())
                    .map(|k| format!("/neuron/{j}/{k}"))
                    .collect();
                json!({"latent": j, "value": out.f_S[j], "m": d.max_S[j], "freq": d.freq_S[j], "images": imgs})
            })
            .collect()
    };
    Json(json!({
        "i": i, "true_class": y, "label": d.classes.get(y), "other": other,
        "image": (i < d.images.len()).then(|| format!("/image/{i}")),
        "columns": [
            {"title": format!("this class: {}", d.classes.get(y).cloned().unwrap_or_default()), "latents": describe(d.class_latents.get(y).map_or(&[][..], Vec::as_slice))},
            {"title": format!("other class: {}", d.classes.get(other).cloned().unwrap_or_default()), "latents": describe(d.class_latents.get(other).map_or(&[][..], Vec::as_slice))},
            {"title": "random rare latents".to_string(), "latents": describe(&random)},
        ],
        "before": top5(&d, &out.probs_before),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SteerQuery {
    i: Option<usize>,
    /// `latent:value` pairs separated by commas.
    #[serde(default)]
    edits: String,
}

/// Parse and check `latent:value,...`.
fn parse_edits(d: &SteerData, text: &str) -> Result<Vec<Edit>, String> {
    let mut edits = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (l, v) = part
            .split_once(':')
            .ok_or_else(|| format!("edit {part:?} is not latent:value"))?;
        let latent: usize = l
            .trim()
            .parse()
            .map_err(|_| format!("latent {l:?} is not a number"))?;
        let value: f32 = v
            .trim()
            .parse()
            .map_err(|_| format!("value {v:?} is not a number"))?;
        if latent >= d.sae.d_sae() {
            return Err(format!("no latent {latent}: the SAE has {}", d.sae.d_sae()));
        }
        let m = d.max_S[latent].max(0.0);
        if !value.is_finite() || value.abs() > m * 1.0001 + 1e-6 {
            return Err(format!(
                "value {value} for latent {latent} is outside [-{m}, {m}]"
            ));
        }
        edits.push(Edit { latent, value });
    }
    Ok(edits)
}

async fn steer(State(d): State<St>, Query(q): Query<SteerQuery>) -> Response {
    let i = match check_example(&d, q.i) {
        Ok(i) => i,
        Err(msg) => return bad(msg),
    };
    let edits = match parse_edits(&d, &q.edits) {
        Ok(e) => e,
        Err(msg) => return bad(msg),
    };
    let start = std::time::Instant::now();
    let out = edit(&d.sae, &d.probe, x(&d, i), &edits);
    Json(json!({
        "before": top5(&d, &out.probs_before),
        "after": top5(&d, &out.probs_after),
        "ms": start.elapsed().as_secs_f64() * 1e3,
    }))
    .into_response()
}

async fn image(State(d): State<St>, UrlPath(i): UrlPath<usize>) -> Response {
    let Some(path) = d.images.get(i).cloned() else {
        return error(StatusCode::NOT_FOUND, format!("no image for example {i}"));
    };
    let made = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let img = saev_imaging::Image8::open_rgb(&path).map_err(|e| e.to_string())?;
        let (w, h) = saev_imaging::shortest_side_size(img.width, img.height, 224);
        let small = saev_imaging::resize(&img.to_rgb(), w, h, saev_imaging::Filter::Bicubic);
        let c = small.crop(
            saev_imaging::crop_offset(w, 224),
            saev_imaging::crop_offset(h, 224),
            224.min(w),
            224.min(h),
        );
        saev_visuals::render::png_bytes(&c)
    })
    .await;
    match made {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn neuron(State(d): State<St>, UrlPath((latent, j)): UrlPath<(usize, usize)>) -> Response {
    let path = d
        .visuals_root
        .join("neurons")
        .join(latent.to_string())
        .join(format!("{j}.png"));
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            format!("no picture {j} for latent {latent}"),
        ),
    }
}
