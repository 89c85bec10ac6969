//! `<out>/report.md` and `<out>/report.html`: what `saev reproduce` did,
//! stage by stage, with its settings, numbers and figures (linked
//! relatively, so the folder can be moved or shared as a whole).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn rel(out: &Path, p: &Path) -> String {
    p.strip_prefix(out)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{:.1}%", 100.0 * x))
}

/// A config number as it was written (f32 values without their f64 noise).
fn short(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| v.to_string(), |x| (x as f32).to_string())
}

/// Markdown table from a header and rows.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}|\n",
        head.join(" | "),
        head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// Write both reports; returns the HTML path.
pub fn write(
    out: &Path,
    plan: &Value,
    stages: &[Value],
    sae_dir: &Path,
    dashboard: &str,
    browser: &str,
) -> anyhow::Result<PathBuf> {
    let get = |name: &str| {
        stages
            .iter()
            .find(|s| s["stage"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut md = String::new();
    let demo = plan["demo"].as_bool() == Some(true);
    let _ = writeln!(
        md,
        "# saev-rs: ImageNet -> Flowers-102 classification control{}\n",
        if demo { " (generated demo)" } else { "" }
    );
    if demo {
        md += "The demo world stands in for the real data: 24 \"pretraining\" classes and 12 \"flowers\" classes of generated pictures (a coloured shape on a textured background), every shape and colour appearing in both sets. A small ViT (saev-vit, 4 blocks, width 64) is pretrained on the first set and stands in for CLIP; every later stage is the real pipeline, unchanged.\n\n";
    }
    let _ = writeln!(
        md,
        "Model: `{}`; d_vit {}; device {}; output `{}`.\n",
        plan["model_ckpt"].as_str().unwrap_or(""),
        plan["d_vit"],
        plan["device"].as_str().unwrap_or(""),
        plan["out"].as_str().unwrap_or("")
    );

    md += "## Stages\n\n";
    let rows: Vec<Vec<String>> = stages
        .iter()
        .map(|s| {
            vec![
                s["stage"].as_str().unwrap_or("").to_string(),
                f(&s["seconds"], 1),
                f(&s["expected_seconds"], 0),
            ]
        })
        .collect();
    md += &table(&["stage", "seconds", "expected"], &rows);
    md += "\nEvery stage's command is below; each can be rerun alone.\n\n";

    if demo {
        let pre = get("pretrain");
        md += "## 1. Pretraining the stand-in ViT\n\n";
        let rows: Vec<Vec<String>> = pre["outputs"]["epochs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                vec![
                    e["epoch"].to_string(),
                    f(&e["loss"], 3),
                    pct(&e["train_acc"]),
                ]
            })
            .collect();
        md += &table(&["epoch", "loss", "train accuracy"], &rows);
        md += "\n";
    }

    let rec = get("record-pretrain");
    let _ = writeln!(
        md,
        "## 2. [CLS] activations of the pretraining images (layer -2)\n\n`{}`\n\nStore: `{}`\n",
        rec["outputs"]["command"].as_str().unwrap_or(""),
        rel(
            out,
            Path::new(rec["outputs"]["store"].as_str().unwrap_or(""))
        )
    );

    let tr = get("train-saes");
    md += "## 3. SAE sweep\n\n";
    let _ = writeln!(
        md,
        "`{}`\n",
        tr["outputs"]["command"].as_str().unwrap_or("")
    );
    let rows: Vec<Vec<String>> = tr["outputs"]["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                r["run"].as_str().unwrap_or("").into(),
                r["lr"].to_string(),
                r["sparsity_coeff"].to_string(),
                r["exp_factor"].to_string(),
                f(&r["l0"], 1),
                f(&r["explained_variance"], 4),
                r["n_dead"].to_string(),
                r["n_dense"].to_string(),
            ]
        })
        .collect();
    md += &table(
        &[
            "run",
            "lr",
            "sparsity coeff",
            "exp factor",
            "L0",
            "explained variance",
            "dead",
            "dense",
        ],
        &rows,
    );
    let _ = writeln!(
        md,
        "\nChosen: **{}** ({}).\n\n![loss curves of the chosen SAE]({})\n",
        sae_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        tr["outputs"]["rule"].as_str().unwrap_or(""),
        rel(out, &sae_dir.join("loss.png"))
    );

    let vis = get("visuals");
    let root = PathBuf::from(vis["outputs"]["root"].as_str().unwrap_or(""));
    md += "## 4. What the latents mean\n\n";
    let _ = writeln!(
        md,
        "`{}`\n",
        vis["outputs"]["command"].as_str().unwrap_or("")
    );
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with("_activation_distributions.png") {
                let _ = writeln!(md, "![value distributions]({})\n", rel(out, &e.path()));
            }
        }
    }
    let mut neurons: Vec<(usize, PathBuf)> = std::fs::read_dir(root.join("neurons"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().parse().ok()?, e.path())))
        .collect();
    neurons.sort();
    if !neurons.is_empty() {
        md += "Top images of some latents (label of the first image in brackets):\n\n";
        for (id, dir) in neurons.iter().take(8) {
            let label = std::fs::read_to_string(dir.join("0.txt")).unwrap_or_default();
            let imgs: Vec<String> = (0..4)
                .filter(|k| dir.join(format!("{k}.png")).is_file())
                .map(|k| format!("![]({})", rel(out, &dir.join(format!("{k}.png")))))
                .collect();
            let _ = writeln!(md, "- latent {id} ({}): {}", label.trim(), imgs.join(" "));
        }
        md += "\n";
    }

    let pr = get("probe");
    let best = &pr["outputs"]["best"];
    md += "## 5. Linear probe on Flowers-102 [CLS] activations\n\n";
    let _ = writeln!(
        md,
        "`{}`\n",
        pr["outputs"]["command"].as_str().unwrap_or("")
    );
    let _ = writeln!(md, "Best setting ({}): learning rate {}, weight decay {}; validation accuracy **{}**, test accuracy **{}**.\n\n![probe sweep]({})\n", best["rule"].as_str().unwrap_or(""), short(&best["learning_rate"]), short(&best["weight_decay"]), pct(&best["val_acc"]), pct(&best["test_acc"]), rel(out, &out.join("logs/probe/hparam-sweeps.png")));

    let se = get("steer");
    md += "## 6. Steering the probe with SAE latents\n\n";
    let _ = writeln!(
        md,
        "`{}`\n",
        se["outputs"]["command"].as_str().unwrap_or("")
    );
    md += "For every test image and every other class t, t's top latents (summed activation over t's training images, among latents firing rarely on the pretraining images) are set to s times their largest activation; the control sets as many random rare latents the same way.\n\n";
    let rows: Vec<Vec<String>> = se["outputs"]["summary"]["summary"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                r["kind"].as_str().unwrap_or("").into(),
                r["scale"].to_string(),
                pct(&r["flip_rate"]),
                f(&r["mean_dp_target"], 4),
                f(&r["mean_dp_true"], 4),
            ]
        })
        .collect();
    md += &table(
        &[
            "latents",
            "scale s",
            "prediction becomes t",
            "mean change p(t)",
            "mean change p(true)",
        ],
        &rows,
    );
    let _ = writeln!(
        md,
        "\n![steering]({})\n",
        rel(out, &out.join("logs/steer/steer_eval.png"))
    );

    md += "## Look for yourself\n\n";
    let _ = writeln!(md, "Steering dashboard:\n\n```sh\n{dashboard}\n```\n\nFeature browser:\n\n```sh\n{browser}\n```\n");

    let md_path = out.join("report.md");
    saev_visuals::output::write_atomic(&md_path, md.as_bytes())?;
    let html_path = out.join("report.html");
    saev_visuals::output::write_atomic(&html_path, markdown_to_html(&md).as_bytes())?;
    Ok(html_path)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline `code`, **bold** and ![image](src) in one line of text.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("![") {
            if let Some((alt, after)) = r.split_once("](") {
                if let Some((src, after)) = after.split_once(')') {
                    let _ = write!(
                        out,
                        "<img src=\"{}\" alt=\"{}\" loading=\"lazy\">",
                        esc(src),
                        esc(alt)
                    );
                    rest = after;
                    continue;
                }
            }
        }
        if let Some(r) = rest.strip_prefix('`') {
            if let Some((code, after)) = r.split_once('`') {
                let _ = write!(out, "<code>{}</code>", esc(code));
                rest = after;
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix("**") {
            if let Some((b, after)) = r.split_once("**") {
                let _ = write!(out, "<b>{}</b>", esc(b));
                rest = after;
                continue;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out += &esc(&c.to_string());
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The small Markdown subset the report uses: headings, paragraphs, lists,
/// tables, fenced code, images.
fn markdown_to_html(md: &str) -> String {
    let mut h = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>saev-rs report</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#1d1d1f}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f3f7}code{background:#f3f3f7;padding:1px 4px;border-radius:3px;font-size:13px;word-break:break-all}pre{background:#f3f3f7;padding:10px;overflow:auto}img{max-width:100%}li img{width:64px;height:64px;object-fit:cover;margin-right:2px;vertical-align:middle}</style></head><body>\n");
    let mut lines = md.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(t) = line.strip_prefix("## ") {
            let _ = writeln!(h, "<h2>{}</h2>", inline(t));
        } else if let Some(t) = line.strip_prefix("# ") {
            let _ = writeln!(h, "<h1>{}</h1>", inline(t));
        } else if line.starts_with("```") {
            h += "<pre><code>";
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                h += &esc(l);
                h += "\n";
            }
            h += "</code></pre>\n";
        } else if line.starts_with('|') {
            h += "<table>\n";
            let cells = |l: &str| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect::<Vec<_>>()
            };
            let _ = writeln!(
                h,
                "<tr>{}</tr>",
                cells(line)
                    .iter()
                    .map(|c| format!("<th>{}</th>", inline(c)))
                    .collect::<String>()
            );
            lines.next(); // the --- row
            while let Some(l) = lines.peek().filter(|l| l.starts_with('|')) {
                let _ = writeln!(
                    h,
                    "<tr>{}</tr>",
                    cells(l)
                        .iter()
                        .map(|c| format!("<td>{}</td>", inline(c)))
                        .collect::<String>()
                );
                lines.next();
            }
            h += "</table>\n";
        } else if let Some(t) = line.strip_prefix("- ") {
            let _ = writeln!(h, "<ul><li>{}</li>", inline(t));
            while let Some(l) = lines.peek().and_then(|l| l.strip_prefix("- ")) {
                let _ = writeln!(h, "<li>{}</li>", inline(l));
                lines.next();
            }
            h += "</ul>\n";
        } else if !line.trim().is_empty() {
            let _ = writeln!(h, "<p>{}</p>", inline(line));
        }
    }
    h + "</body></html>\n"
}
