//! The herd chart: refresh requests and time until all hold a token, against N, per library.

use plotters::prelude::*;

use crate::herd::{Row, ZOHO_OAUTH};
use crate::report::Report;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 440;
const OURS: RGBColor = RGBColor(31, 119, 180);
const PEER: RGBColor = RGBColor(214, 39, 40);

/// The chart as an SVG document.
pub fn herd_svg(report: &Report) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = if report.run.quick { "The herd (a --quick run: figures mean nothing)" } else { "The herd" };
        let root = root.titled(title, ("sans-serif", 22))?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let rows = &report.herd.rows;
        let n_max = rows.iter().map(|r| r.n).max().unwrap_or(1000) as f64;
        let n_min = rows.iter().map(|r| r.n).min().unwrap_or(10) as f64;
        let x_range = (n_min / 1.5)..(n_max * 1.5);

        let top = rows.iter().map(|r| r.refreshes_summary.median).fold(1.0, f64::max);
        panel(
            &left,
            rows,
            "Refresh requests per expiry (median of rounds)",
            "refresh requests (log)",
            x_range.clone(),
            0.7..top * 2.0,
            |r| r.refreshes_summary.median.max(1.0),
        )?;
        let times: Vec<f64> = rows.iter().map(|r| r.time.median).filter(|t| *t > 0.0).collect();
        let low = times.iter().copied().fold(f64::INFINITY, f64::min).min(1.0);
        let high = times.iter().copied().fold(0.0, f64::max).max(10.0);
        panel(
            &right,
            rows,
            "Time until all N hold a token (median of rounds)",
            "ms (log)",
            x_range,
            (low / 2.0)..(high * 2.0),
            |r| r.time.median.max(low / 2.0),
        )?;
        root.present()?;
    }
    Ok(svg)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Row],
    caption: &str,
    y_desc: &str,
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
    value: impl Fn(&Row) -> f64,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("N tasks asking at once")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| if *y >= 1.0 { format!("{y:.0}") } else { format!("{y:.1}") })
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let mut delays: Vec<u64> = rows.iter().map(|r| r.delay_ms).collect();
    delays.sort_unstable();
    delays.dedup();
    let mut libraries: Vec<&str> = rows.iter().map(|r| r.library.as_str()).collect();
    libraries.dedup();
    libraries.sort_unstable_by_key(|l| *l != ZOHO_OAUTH);
    libraries.dedup();
    for library in libraries {
        let color = if library == ZOHO_OAUTH { OURS } else { PEER };
        for (i, &delay) in delays.iter().enumerate() {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.library == library && r.delay_ms == delay)
                .map(|r| (r.n as f64, value(r)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            // The first delay is drawn solid, the others dashed, in the library's colour.
            let style = color.stroke_width(if i == 0 { 3 } else { 2 });
            let label = format!("{library}, server answers in {delay} ms");
            if i == 0 {
                chart
                    .draw_series(LineSeries::new(points.clone(), style).point_size(4))
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            } else {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], style));
                chart
                    .draw_series(points.iter().map(|&p| TriangleMarker::new(p, 5, color.filled())))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
