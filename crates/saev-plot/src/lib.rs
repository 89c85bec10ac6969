//! PNG figures for saev-rs: grids of line panels and histograms.
//!
//! Figures are drawn with plotters' bitmap backend and text is rendered from
//! an embedded DejaVu Sans (`fonts/`, its licence beside it), so plotting
//! needs no system fonts and looks the same on every machine.
//!
//! ```no_run
//! use saev_plot::{Figure, Panel, Series};
//! let loss = Series::line("loss", vec![(1.0, 0.9), (2.0, 0.5), (3.0, 0.4)]);
//! let panel = Panel::new("training loss", "step", "loss").series(loss);
//! Figure::new(1).panel(panel).save("loss.png".as_ref()).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::Once;

pub mod png;

use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is valid; a failure here would be a build defect.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("embedded font failed to load");
        }
    });
}

/// A figure that could not be drawn or written, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct PlotError {
    pub path: PathBuf,
    pub why: String,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Line,
    /// Line with a dot on every point.
    LinePoints,
    /// Bars from 0 (histograms): each point is (left edge, height), bars are
    /// as wide as the gap to the next point.
    Bars,
    /// A vertical marker at `x` (percentile lines); `y` is ignored.
    VLine,
    /// Dots only (scatter).
    Points,
}

/// One named set of points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            style: Style::Line,
        }
    }

    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// One chart of a figure.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

impl Panel {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            series: Vec::new(),
        }
    }

    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Data range over all series, padded; log axes use positive values only.
    fn range(&self) -> ((f64, f64), (f64, f64)) {
        let pts = self.series.iter().flat_map(|s| {
            let vline = s.style == Style::VLine;
            s.points
                .iter()
                .map(move |&(x, y)| (x, if vline { f64::NAN } else { y }))
        });
        let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in pts {
            if ok(x, self.log_x) {
                x0 = x0.min(x);
                x1 = x1.max(x);
            }
            if ok(y, self.log_y) {
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if self.series.iter().any(|s| s.style == Style::Bars) && !self.log_y {
            y0 = y0.min(0.0);
        }
        let pad = |lo: f64, hi: f64, log: bool| {
            if lo > hi {
                return if log { (0.1, 10.0) } else { (0.0, 1.0) };
            }
            if log {
                (lo / 1.5, hi * 1.5)
            } else {
                let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
                (lo - 0.05 * span, hi + 0.05 * span)
            }
        };
        (pad(x0, x1, self.log_x), pad(y0, y1, self.log_y))
    }
}

/// Panels laid out on a grid, `cols` wide, saved as one PNG.
#[derive(Clone, Debug)]
pub struct Figure {
    pub cols: usize,
    pub panels: Vec<Panel>,
    /// Size of one panel in pixels.
    pub panel_size: (u32, u32),
    pub title: Option<String>,
}

impl Figure {
    pub fn new(cols: usize) -> Self {
        Self {
            cols: cols.max(1),
            panels: Vec::new(),
            panel_size: (480, 340),
            title: None,
        }
    }

    pub fn panel(mut self, p: Panel) -> Self {
        self.panels.push(p);
        self
    }

    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Draw and write the PNG (atomically, see [`png::save_rgb`]).
    pub fn save(&self, path: &Path) -> Result<(), PlotError> {
        register_font();
        let err = |why: String| PlotError {
            path: path.to_path_buf(),
            why,
        };
        let rows = self.panels.len().div_ceil(self.cols).max(1);
        let top = if self.title.is_some() { 40 } else { 0 };
        let (w, h) = (
            self.panel_size.0 * self.cols as u32,
            self.panel_size.1 * rows as u32 + top,
        );
        let mut rgb = vec![0u8; 3 * w as usize * h as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
            let body = if let Some(t) = &self.title {
                let (head, body) = root.split_vertically(top);
                head.titled(t, ("sans-serif", 24))
                    .map_err(|e| err(e.to_string()))?;
                body
            } else {
                root.clone()
            };
            let areas = body.split_evenly((rows, self.cols));
            for (panel, area) in self.panels.iter().zip(areas.iter()) {
                draw_panel(panel, area).map_err(err)?;
            }
            root.present().map_err(|e| err(e.to_string()))?;
        }
        png::save_rgb(path, w, h, &rgb)
    }
}

/// Axis numbers: 3 significant digits, scientific when tiny or huge.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    // Float noise around 0 on tick positions prints as 0.
    if a < 1e-9 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The `i`th colour of the palette (matplotlib's tab10 order).
pub fn color(i: usize) -> (u8, u8, u8) {
    let c = PALETTE[i % PALETTE.len()];
    (c.0, c.1, c.2)
}

fn draw_panel(
    p: &Panel,
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> Result<(), String> {
    let ((x0, x1), (y0, y1)) = p.range();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&p.title, ("sans-serif", 17))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(58);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(p.x_label.as_str())
                .y_desc(p.y_label.as_str())
                .label_style(("sans-serif", 12))
                .x_label_formatter(&|v| short_number(*v))
                .y_label_formatter(&|v| short_number(*v))
                .max_light_lines(2)
                .light_line_style(RGBColor(240, 240, 240))
                .draw()
                .map_err(e)?;
            let mut named = false;
            for (i, s) in p.series.iter().enumerate() {
                let c = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|(x, y)| {
                        x.is_finite()
                            && (!p.log_x || *x > 0.0)
                            && (s.style == Style::VLine
                                || (y.is_finite() && (!p.log_y || *y > 0.0)))
                    })
                    .collect();
                let anno = match s.style {
                    Style::Line => chart
                        .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                        .map_err(e)?,
                    Style::LinePoints => {
                        chart
                            .draw_series(pts.iter().map(|&pt| Circle::new(pt, 3, c.filled())))
                            .map_err(e)?;
                        chart
                            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                            .map_err(e)?
                    }
                    Style::Bars => {
                        let bars: Vec<_> = pts
                            .windows(2)
                            .map(|w| {
                                Rectangle::new(
                                    [(w[0].0, y0.max(0.0)), (w[1].0, w[0].1)],
                                    c.mix(0.7).filled(),
                                )
                            })
                            .collect();
                        chart.draw_series(bars).map_err(e)?
                    }
                    Style::Points => chart
                        .draw_series(pts.iter().map(|&pt| Circle::new(pt, 4, c.filled())))
                        .map_err(e)?,
                    Style::VLine => chart
                        .draw_series(pts.iter().map(|&(x, _)| {
                            PathElement::new(vec![(x, y0), (x, y1)], c.stroke_width(2))
                        }))
                        .map_err(e)?,
                };
                if !s.name.is_empty() {
                    named = true;
                    anno.label(s.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(3))
                    });
                }
            }
            if named {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(200, 200, 200))
                    .label_font(("sans-serif", 12))
                    .draw()
                    .map_err(e)?;
            }
        }};
    }
    match (p.log_x, p.log_y) {
        (false, false) => draw!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(e)?),
        (true, false) => draw!(builder
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(e)?),
        (false, true) => draw!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(e)?),
        (true, true) => draw!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(e)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(short_number(0.30000000000000004), "0.3");
        assert_eq!(short_number(120.0), "120");
        assert_eq!(short_number(1e-5), "1e-5");
        assert_eq!(short_number(0.0125), "0.0125");
    }

    #[test]
    fn a_figure_is_a_png_of_the_grid_size() {
        let dir = std::env::temp_dir().join(format!("saev-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fig.png");
        let line = Series::line(
            "a",
            (1..50)
                .map(|i| (f64::from(i), 1.0 / f64::from(i)))
                .collect(),
        );
        let bars = Series::line("", vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 0.0)])
            .with_style(Style::Bars);
        Figure::new(2)
            .title("test")
            .panel(
                Panel::new("lines", "step", "loss")
                    .series(line.clone())
                    .log_y(),
            )
            .panel(Panel::new("bars", "x", "n").series(bars))
            .panel(
                Panel::new("log x", "lr", "acc")
                    .series(line.with_style(Style::LinePoints))
                    .log_x(),
            )
            .save(&path)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR: width and height, big-endian, at bytes 16..24.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (960, 340 * 2 + 40));
        let mut files = std::fs::read_dir(&dir).unwrap().flatten();
        assert!(!files.any(|e| e.path().extension().is_some_and(|x| x == "tmp")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
