//! The report's plots, each as SVG and PNG (plotters): Mpps versus flow count, Mpps versus
//! inner packet size, and sluice's burst-latency distribution.
//!
//! Text is laid out and drawn with ab_glyph from a TrueType file (DejaVu Sans from Debian's
//! `fonts-dejavu-core`, or `SLUICE_PERF_FONT`), so neither fontconfig nor freetype is needed.
//! Without the font no plot is drawn and the caller is told why.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

use crate::report::tagged;
use crate::results::{Results, ScenarioResult, Tool};

/// Where Debian's `fonts-dejavu-core` puts DejaVu Sans.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Plot size in pixels.
const SIZE: (u32, u32) = (960, 600);

/// One line of a plot.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Loads the font once (plotters keeps it for the process).
fn load_font() -> anyhow::Result<()> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = std::env::var("SLUICE_PERF_FONT").unwrap_or_else(|_| DEFAULT_FONT.into());
            let bytes = std::fs::read(&path).map_err(|e| {
                format!("{path}: {e} (install fonts-dejavu-core, or set SLUICE_PERF_FONT to a .ttf file)")
            })?;
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path}: not a TrueType font"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// The colour of a tool's line.
fn color(tool: Tool) -> RGBColor {
    match tool {
        Tool::Sluice => RGBColor(0x1f, 0x77, 0xb4),
        Tool::SluiceCompare => RGBColor(0x9a, 0x4d, 0xc8),
        Tool::Testpmd5tswap => RGBColor(0xd6, 0x5f, 0x00),
        Tool::TestpmdIo => RGBColor(0x5a, 0x9e, 0x3a),
    }
}

/// One line per tool over `scenarios`, x from `x`.
fn tool_series(scenarios: &[&ScenarioResult], x: impl Fn(&ScenarioResult) -> f64) -> Vec<Series> {
    let mut tools: Vec<(Tool, String)> = Vec::new();
    for sc in scenarios {
        for t in &sc.tools {
            if !tools.iter().any(|(k, _)| *k == t.tool) {
                tools.push((t.tool, t.label.clone()));
            }
        }
    }
    tools.sort();
    tools
        .into_iter()
        .map(|(tool, label)| Series {
            label,
            color: color(tool),
            points: scenarios
                .iter()
                .filter_map(|sc| sc.mpps(tool).map(|m| (x(sc), m)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// One plot: its file stem, texts, lines and axes.
struct Plot<'a> {
    stem: &'static str,
    title: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    series: &'a [Series],
    /// Log scales.
    log_x: bool,
    log_y: bool,
    /// A marker on every point (for lines of a few points).
    markers: bool,
    x_label: &'a dyn Fn(&f64) -> String,
}

/// Draws `plot` on `root`.
fn line_plot<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &Plot<'_>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let points = || plot.series.iter().flat_map(|s| s.points.iter().copied());
    let (x_min, x_max) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y_min, y_max) = points().fold((f64::MAX, 0.0_f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(plot.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72);
    let pad = (x_max - x_min).max(1.0) * 0.03;
    let x_lin = (x_min - pad)..(x_max + pad);
    let x_log = (x_min / 2.0..x_max * 2.0).log_scale();
    let y_lin = 0.0..y_max * 1.15;
    let y_log = (y_min.max(1e-3) / 1.5..y_max * 1.5).log_scale();
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    match (plot.log_x, plot.log_y) {
        (true, false) => lines(
            &mut builder.build_cartesian_2d(x_log, y_lin).map_err(fail)?,
            plot,
        ),
        (false, true) => lines(
            &mut builder.build_cartesian_2d(x_lin, y_log).map_err(fail)?,
            plot,
        ),
        (true, true) => lines(
            &mut builder.build_cartesian_2d(x_log, y_log).map_err(fail)?,
            plot,
        ),
        (false, false) => lines(
            &mut builder.build_cartesian_2d(x_lin, y_lin).map_err(fail)?,
            plot,
        ),
    }?;
    root.present().map_err(fail)?;
    Ok(())
}

/// The mesh, one line (with markers if asked) per series, and the legend.
fn lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    plot: &Plot<'_>,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let y_label = |y: &f64| {
        if *y >= 100.0 || *y == 0.0 {
            format!("{y:.0}")
        } else if *y >= 1.0 {
            format!("{y:.1}")
        } else {
            format!("{y:.2}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(plot.x_desc)
        .y_desc(plot.y_desc)
        .x_label_formatter(plot.x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for s in plot.series {
        let style = s.color.stroke_width(3);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        if plot.markers {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|p| Circle::new(*p, 4, s.color.filled())),
                )
                .map_err(|e| anyhow!("{e:?}"))?;
        }
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(if plot.log_y {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        })
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// x of the latency plot: the "nines" of a quantile, `-log10(1 - q)` (0 at the median's
/// left end, 1 at p90, 2 at p99, ...), capped at six nines.
pub fn nines(q: f64) -> f64 {
    (-(1.0 - q).max(1e-6).log10()).max(0.0)
}

/// The label of a nines tick: "0%", "90%", "99%", "99.9%", ...
pub fn nines_label(x: &f64) -> String {
    let percent = 100.0 * (1.0 - 10_f64.powf(-x));
    if *x < 0.5 {
        "0%".into()
    } else {
        let digits = (x.round() as usize).saturating_sub(2);
        format!("{percent:.digits$}%")
    }
}

/// Draws the three plots into `dir` (SVG and PNG each).
///
/// # Errors
///
/// Without the font, or when a file cannot be written.
pub fn draw(results: &Results, dir: &Path) -> anyhow::Result<Vec<String>> {
    load_font()?;
    let mut written = Vec::new();

    let by_flows = tagged(results, "flow-scaling", |s| s.traffic.flows);
    let flows = tool_series(&by_flows, |s| s.traffic.flows as f64);
    let by_size = tagged(results, "packet-size", |s| {
        u64::from(s.traffic.inner_sizes.iter().copied().max().unwrap_or(0))
    });
    let sizes = tool_series(&by_size, |s| {
        f64::from(s.traffic.inner_sizes.iter().copied().max().unwrap_or(0))
    });
    let latency: Vec<Series> = results
        .scenarios
        .iter()
        .enumerate()
        .filter_map(|(i, sc)| {
            let l = sc.tool(Tool::Sluice)?.latency.as_ref()?;
            (!l.burst_distribution_ns.is_empty()).then(|| Series {
                label: sc.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: l
                    .burst_distribution_ns
                    .iter()
                    .map(|&(q, ns)| (nines(q), ns / 1000.0))
                    .collect(),
            })
        })
        .collect();

    let flow_label = |x: &f64| crate::report::flows_label(*x);
    let size_label = |x: &f64| format!("{x:.0}");
    let plots = [
        Plot {
            stem: "mpps-vs-flows",
            title: "Mpps versus established flows (64-byte inner packets)",
            x_desc: "established flows",
            y_desc: "Mpps",
            series: &flows,
            log_x: true,
            log_y: false,
            markers: true,
            x_label: &flow_label,
        },
        Plot {
            stem: "mpps-vs-size",
            title: "Mpps versus inner packet size",
            x_desc: "inner IP packet bytes",
            y_desc: "Mpps",
            series: &sizes,
            log_x: false,
            log_y: false,
            markers: true,
            x_label: &size_label,
        },
        Plot {
            stem: "latency",
            title: "sluice burst latency (RX to end of TX) by percentile",
            x_desc: "percentile",
            y_desc: "µs (log scale)",
            series: &latency,
            log_x: false,
            log_y: true,
            markers: false,
            x_label: &nines_label,
        },
    ];
    for plot in &plots {
        if plot.series.is_empty() {
            continue;
        }
        let svg = dir.join(format!("{}.svg", plot.stem));
        line_plot(&SVGBackend::new(&svg, SIZE).into_drawing_area(), plot)
            .with_context(|| format!("drawing {}", svg.display()))?;
        let png = dir.join(format!("{}.png", plot.stem));
        line_plot(&BitMapBackend::new(&png, SIZE).into_drawing_area(), plot)
            .with_context(|| format!("drawing {}", png.display()))?;
        written.push(plot.stem.to_owned());
    }
    Ok(written)
}

/// Colours of the latency plot's lines, one per scenario.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x5f, 0x00),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert!((nines(0.9) - 1.0).abs() < 1e-9);
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(1.0) - 6.0).abs() < 1e-9);
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&1.0), "90%");
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&3.0), "99.9%");
        assert_eq!(nines_label(&4.0), "99.99%");
    }

    #[test]
    fn plots_are_written_when_the_font_is_there() {
        if load_font().is_err() {
            // No font on this machine: `draw` says so; nothing else to check here.
            assert!(draw(&crate::results::tests::results(), Path::new("/nonexistent")).is_err());
            return;
        }
        let dir = std::env::temp_dir().join(format!("sluice-perf-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = draw(&crate::results::tests::results(), &dir).unwrap();
        assert_eq!(written, ["mpps-vs-flows", "mpps-vs-size", "latency"]);
        for stem in written {
            let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
            assert!(svg.starts_with("<svg"), "{stem}.svg");
            let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
            assert_eq!(&png[1..4], b"PNG", "{stem}.png");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
