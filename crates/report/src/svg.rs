//! Inline SVG charts: time series with shaded spans, and sparklines. Every text that reaches
//! the page goes through [`escape`].

use std::fmt::Write;

use flowatlas_rollup::WINDOW_SECONDS;

use crate::format::{clock, escape};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 22.0;

/// One line of a chart; `None` values and gaps of more than a window break the line.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS class of the line (its colour).
    pub class: &'a str,
    /// (window start, value).
    pub points: Vec<(i64, Option<f64>)>,
}

/// A time-series chart over `[from, to)`.
pub struct Chart<'a> {
    /// What it shows, for screen readers.
    pub title: &'a str,
    /// Start, Unix seconds.
    pub from: i64,
    /// End, Unix seconds.
    pub to: i64,
    /// Lowest value on the axis.
    pub y_min: f64,
    /// Highest value on the axis.
    pub y_max: f64,
    /// Axis labels.
    pub y_format: fn(f64) -> String,
    /// Lines.
    pub series: Vec<Series<'a>>,
    /// Shaded times (start, end, hover text).
    pub spans: Vec<(i64, i64, String)>,
}

/// Writes the chart as an `<svg>` element.
pub fn line_chart(out: &mut String, chart: &Chart) {
    let span = (chart.to - chart.from).max(1) as f64;
    let x_of = |time: i64| LEFT + (time - chart.from) as f64 / span * (WIDTH - LEFT - RIGHT);
    let y_range = (chart.y_max - chart.y_min).max(f64::MIN_POSITIVE);
    let y_of = |value: f64| {
        let share = ((value - chart.y_min) / y_range).clamp(0.0, 1.0);
        HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)
    };
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
        escape(chart.title)
    );
    for (start, end, text) in &chart.spans {
        let (x0, x1) = (x_of((*start).max(chart.from)), x_of((*end).min(chart.to)));
        let _ = write!(
            out,
            r#"<rect class="span" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            (x1 - x0).max(1.0),
            HEIGHT - TOP - BOTTOM,
            escape(text)
        );
    }
    for fraction in [0.0, 0.5, 1.0] {
        let value = chart.y_min + fraction * (chart.y_max - chart.y_min);
        let y = y_of(value);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&(chart.y_format)(value))
        );
    }
    let step = tick_step(chart.to - chart.from);
    let mut tick = chart.from + (step - chart.from.rem_euclid(step)) % step;
    let with_date = chart.to - chart.from > 86_400;
    while tick < chart.to {
        let label = clock(tick, with_date);
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x_of(tick),
            HEIGHT - 6.0
        );
        tick += step;
    }
    let mut legend_x = LEFT;
    for series in &chart.series {
        let _ = write!(
            out,
            r#"<text class="legend {}" x="{legend_x:.1}" y="12">■ {}</text>"#,
            escape(series.class),
            escape(series.name)
        );
        legend_x += 24.0 + 7.0 * series.name.chars().count() as f64;
        let mut previous: Option<i64> = None;
        let mut open = false;
        for &(time, value) in &series.points {
            let Some(value) = value else {
                previous = None;
                continue;
            };
            let continues = previous.is_some_and(|previous| time - previous <= WINDOW_SECONDS);
            if !continues {
                if open {
                    out.push_str(r#""/>"#);
                }
                let _ = write!(
                    out,
                    r#"<polyline class="line {}" points=""#,
                    escape(series.class)
                );
                open = true;
            } else {
                out.push(' ');
            }
            let _ = write!(out, "{:.1},{:.1}", x_of(time), y_of(value));
            previous = Some(time);
        }
        if open {
            out.push_str(r#""/>"#);
        }
    }
    out.push_str("</svg>");
}

/// The time between axis labels: at most about eight labels.
fn tick_step(span: i64) -> i64 {
    const STEPS: [i64; 8] = [
        900,
        1_800,
        3_600,
        3 * 3_600,
        6 * 3_600,
        12 * 3_600,
        86_400,
        7 * 86_400,
    ];
    STEPS
        .into_iter()
        .find(|step| span / step <= 8)
        .unwrap_or(30 * 86_400)
}

/// A small line of values, scaled to its own maximum.
pub fn sparkline(out: &mut String, values: &[i64]) {
    const W: f64 = 120.0;
    const H: f64 = 22.0;
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = W / (values.len().max(2) - 1) as f64;
    let _ = write!(
        out,
        r#"<svg class="spark" viewBox="0 0 {W} {H}" aria-hidden="true"><polyline points=""#
    );
    for (index, &value) in values.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        let _ = write!(
            out,
            "{:.1},{:.1}",
            index as f64 * step,
            H - 1.0 - value as f64 / max * (H - 2.0)
        );
    }
    out.push_str(r#""/></svg>"#);
}
