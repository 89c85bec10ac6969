//! Draw a small figure of each kind to `demo_figure.png` (or the given path).
use saev_plot::{Figure, Panel, Series, Style};

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "demo_figure.png".into());
    let decay: Vec<(f64, f64)> = (1..200)
        .map(|i| (f64::from(i), 2.0 / f64::from(i).sqrt()))
        .collect();
    let hist: Vec<(f64, f64)> = (0..30)
        .map(|i| {
            (
                f64::from(i) / 10.0,
                (-(f64::from(i) / 10.0 - 1.5).powi(2)).exp(),
            )
        })
        .collect();
    Figure::new(2)
        .title("saev-plot demo")
        .panel(
            Panel::new("loss", "step", "loss")
                .series(Series::line("loss", decay))
                .log_y(),
        )
        .panel(
            Panel::new("values", "value", "count")
                .series(Series::line("", hist).with_style(Style::Bars))
                .series(Series::line("p99", vec![(2.4, 0.0)]).with_style(Style::VLine)),
        )
        .save(out.as_ref())
        .expect("figure written");
    println!("wrote {out}");
}
