//! `<out>/report.md` and `<out>/report.html`: what the run did, stage by
//! stage, with its settings, numbers and figures (linked relatively, so the
//! folder can be moved or shared as a whole). The HTML is the Markdown
//! rendered by pulldown-cmark; everything from outside (labels, paths,
//! commands) is escaped before it goes into the Markdown.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::pipeline::Results;
use crate::stages::StageTiming;

/// Everything the report shows.
pub struct Report<'a> {
    pub out: &'a Path,
    pub demo: bool,
    pub model: String,
    pub d_vit: usize,
    pub device: &'a str,
    pub timings: &'a [StageTiming],
    pub(crate) results: &'a Results,
    pub dashboard: &'a str,
    pub browser: &'a str,
}

/// Plain text for Markdown: every character Markdown or HTML could read as
/// syntax is backslash-escaped.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\`*_{}[]()<>#+-.!|&~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An inline code span holding `s` verbatim.
pub fn code(s: &str) -> String {
    let mut fence = String::from("`");
    while s.contains(fence.as_str()) {
        fence.push('`');
    }
    format!("{fence} {s} {fence}")
}

/// A link target for a file under the output folder, percent-encoded.
fn link(out: &Path, p: &Path) -> String {
    let rel = p
        .strip_prefix(out)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned();
    let mut s = String::new();
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-_./~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

fn image(alt: &str, out: &Path, p: &Path) -> String {
    format!("![{}]({})", text(alt), link(out, p))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.1}%", 100.0 * x))
}

/// Markdown table from a header and rows (cells already escaped).
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!(
        "| {} |\n|{}|\n",
        head.join(" | "),
        vec!["---"; head.len()].join("|")
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

impl Report<'_> {
    fn commands(&self, stage: &str) -> String {
        let cmds = self
            .timings
            .iter()
            .find(|t| t.stage == stage)
            .map(|t| t.commands.clone())
            .unwrap_or_default();
        cmds.iter().map(|c| format!("{}\n\n", code(c))).collect()
    }

    fn intro(&self, md: &mut String) {
        let title = if self.demo { " (generated demo)" } else { "" };
        let _ = writeln!(
            md,
            "# saev-rs: ImageNet -> Flowers-102 classification control{title}\n"
        );
        if self.demo {
            md.push_str("The demo world stands in for the real data: 24 \"pretraining\" classes and 12 \"flowers\" classes of generated pictures (a coloured shape on a textured background), every shape and colour appearing in both sets. A small ViT (saev-vit, 4 blocks, width 64) is pretrained on the first set and stands in for CLIP; every later stage is the real pipeline, unchanged.\n\n");
        }
        let _ = writeln!(
            md,
            "Model: {}; d\\_vit {}; device {}; output {}.\n",
            code(&self.model),
            self.d_vit,
            text(self.device),
            code(&self.out.to_string_lossy())
        );
        md.push_str("## Stages\n\n");
        let rows: Vec<Vec<String>> = self
            .timings
            .iter()
            .map(|t| {
                let when = if t.skipped {
                    "earlier session"
                } else {
                    "this session"
                };
                vec![
                    text(&t.stage),
                    format!("{:.1}", t.seconds),
                    format!("{:.0}", t.expected_seconds),
                    when.into(),
                ]
            })
            .collect();
        md.push_str(&table(&["stage", "seconds", "expected", "run in"], &rows));
        md.push_str(
            "\nEvery stage's equivalent `saev` command is below; each can be rerun alone.\n\n",
        );
    }

    fn pretrain(&self, md: &mut String) {
        let Some(p) = &self.results.pretrain else {
            return;
        };
        md.push_str("## 1. Pretraining the stand-in ViT\n\n");
        let rows: Vec<Vec<String>> = p
            .epochs
            .iter()
            .map(|e| {
                vec![
                    e.epoch.to_string(),
                    format!("{:.3}", e.loss),
                    pct(Some(e.train_acc)),
                ]
            })
            .collect();
        md.push_str(&table(&["epoch", "loss", "train accuracy"], &rows));
        md.push('\n');
    }

    fn sweep(&self, md: &mut String) {
        let r = self.results;
        let _ = writeln!(
            md,
            "## 2. [CLS] activations of the pretraining images (layer -2)\n\n{}Store: {} ({} images)\n",
            self.commands("record-pretrain"),
            code(&link(self.out, &r.record.store)),
            r.record.n_imgs
        );
        md.push_str("## 3. SAE sweep\n\n");
        md.push_str(&self.commands("train-saes"));
        let rows: Vec<Vec<String>> = r
            .train
            .runs
            .iter()
            .map(|x| {
                vec![
                    text(&x.id),
                    x.lr.to_string(),
                    x.sparsity_coeff.to_string(),
                    x.exp_factor.to_string(),
                    format!("{:.1}", x.l0),
                    format!("{:.4}", x.explained_variance),
                    x.n_dead.to_string(),
                    x.n_dense.to_string(),
                ]
            })
            .collect();
        let head = [
            "run",
            "lr",
            "sparsity coeff",
            "exp factor",
            "L0",
            "explained variance",
            "dead",
            "dense",
        ];
        md.push_str(&table(&head, &rows));
        let chosen = r
            .train
            .chosen
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let _ = writeln!(
            md,
            "\nChosen: **{}** ({}).\n\n{}\n",
            text(&chosen),
            text(&r.train.rule),
            image(
                "loss curves of the chosen SAE",
                self.out,
                &r.train.chosen.join("loss.png")
            )
        );
    }

    fn latents(&self, md: &mut String) {
        let root = &self.results.visuals_root;
        md.push_str("## 4. What the latents mean\n\n");
        md.push_str(&self.commands("visuals"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.to_string_lossy()
                    .ends_with("_activation_distributions.png")
            })
            .collect();
        files.sort();
        for f in files {
            let _ = writeln!(md, "{}\n", image("value distributions", self.out, &f));
        }
        let mut neurons: Vec<(usize, PathBuf)> = std::fs::read_dir(root.join("neurons"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().to_string_lossy().parse().ok()?, e.path())))
            .collect();
        neurons.sort();
        if neurons.is_empty() {
            return;
        }
        md.push_str("Top images of some latents (label of the first image in brackets):\n\n");
        for (id, dir) in neurons.iter().take(8) {
            let label = std::fs::read_to_string(dir.join("0.txt")).unwrap_or_default();
            let imgs: Vec<String> = (0..4)
                .map(|k| dir.join(format!("{k}.png")))
                .filter(|p| p.is_file())
                .map(|p| image("", self.out, &p))
                .collect();
            let _ = writeln!(
                md,
                "- latent {id} ({}): {}",
                text(label.trim()),
                imgs.join(" ")
            );
        }
        md.push('\n');
    }

    fn probe_and_steer(&self, md: &mut String) {
        let b = &self.results.probe;
        md.push_str("## 5. Linear probe on Flowers-102 [CLS] activations\n\n");
        md.push_str(&self.commands("probe"));
        let plot = self.out.join("logs/probe/hparam-sweeps.png");
        let _ = writeln!(
            md,
            "Best setting ({}): learning rate {}, weight decay {}; validation accuracy **{}**, test accuracy **{}**.\n\n{}\n",
            text(&b.rule),
            b.learning_rate,
            b.weight_decay,
            pct(Some(b.val_acc)),
            pct(b.test_acc),
            image("probe sweep", self.out, &plot)
        );
        md.push_str("## 6. Steering the probe with SAE latents\n\n");
        md.push_str(&self.commands("steer"));
        md.push_str("For every test image and every other class t, t's top latents (summed activation over t's training images, among latents firing rarely on the pretraining images) are set to s times their largest activation; the control sets as many random rare latents the same way.\n\n");
        let rows: Vec<Vec<String>> = self
            .results
            .steer
            .summary
            .iter()
            .map(|l| {
                vec![
                    text(&l.kind),
                    l.scale.to_string(),
                    pct(Some(l.flip_rate)),
                    format!("{:.4}", l.mean_dp_target),
                    format!("{:.4}", l.mean_dp_true),
                ]
            })
            .collect();
        let head = [
            "latents",
            "scale s",
            "prediction becomes t",
            "mean change p(t)",
            "mean change p(true)",
        ];
        md.push_str(&table(&head, &rows));
        let plot = self.out.join("logs/steer/steer_eval.png");
        let _ = writeln!(md, "\n{}\n", image("steering", self.out, &plot));
        md.push_str("## Look for yourself\n\n");
        let _ = writeln!(
            md,
            "Steering dashboard:\n\n```sh\n{}\n```\n\nFeature browser:\n\n```sh\n{}\n```\n",
            self.dashboard, self.browser
        );
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.intro(&mut md);
        self.pretrain(&mut md);
        self.sweep(&mut md);
        self.latents(&mut md);
        self.probe_and_steer(&mut md);
        md
    }

    /// Write `report.md` and `report.html`; returns their paths.
    pub fn write(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let md = self.markdown();
        let md_path = self.out.join("report.md");
        saev_io::write_atomic(&md_path, md.as_bytes())?;
        let html_path = self.out.join("report.html");
        saev_io::write_atomic(&html_path, html(&md).as_bytes())?;
        Ok((md_path, html_path))
    }
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#1d1d1f}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f3f7}code{background:#f3f3f7;padding:1px 4px;border-radius:3px;font-size:13px;word-break:break-all}pre{background:#f3f3f7;padding:10px;overflow:auto}img{max-width:100%}li img{width:64px;height:64px;object-fit:cover;margin-right:2px;vertical-align:middle}";

/// A whole HTML page from the report's Markdown (raw HTML in it is escaped,
/// not passed through).
pub fn html(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>saev-rs report</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_cannot_become_markup() {
        let md = format!(
            "label {}\n\n{}\n",
            text("<script>x</script> *a*"),
            code("a `b` c")
        );
        let h = html(&md);
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
        assert!(h.contains("<code>a `b` c</code>"), "{h}");
        assert!(!h.contains("<em>"), "{h}");
        // Raw HTML in the Markdown is shown, not run.
        assert!(html("<img src=x onerror=alert(1)>").contains("&lt;img"));
        assert_eq!(
            link(Path::new("/o"), Path::new("/o/a b/c.png")),
            "a%20b/c.png"
        );
    }

    #[test]
    fn numbers_print_as_written() {
        let rows = vec![vec![3e-3f32.to_string(), 1.6e-3f32.to_string()]];
        let t = table(&["lr", "coeff"], &rows);
        assert!(t.contains("| 0.003 | 0.0016 |"), "{t}");
    }
}
