//! SVG charts drawn with plotters' SVG backend: line charts (several series, legend) and grouped
//! bar charts (linear or log y). Series keep their colour across figures when given in the
//! same order.

use std::ops::Range;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// Series colours: matplotlib's `tab10` values, which stay distinguishable on white and, after
/// the dark-mode CSS inversion, on black (plotters' own palette starts with a pale yellow).
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn color(i: usize) -> RGBAColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b).to_rgba()
}

/// Width and height of every chart, in pixels.
pub const SIZE: (u32, u32) = (820, 360);

/// Series with more points than this are drawn without point markers.
const MAX_MARKERS: usize = 60;

/// Width of the legend column right of the plot: beside the data, never on top of it, however
/// many runs are overlaid.
const LEGEND_WIDTH: u32 = 200;

/// One named line: (x, y) points in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Caption.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines; series without points are left out.
    pub series: Vec<Series>,
}

/// A grouped bar chart: one bar per (category, group).
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Caption.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// The categories along x.
    pub categories: Vec<String>,
    /// One group per legend entry; `values[i]` belongs to `categories[i]`.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Log-scaled y (zero bars are drawn empty).
    pub log_y: bool,
}

fn chart_err(id: &str, e: impl std::fmt::Display) -> Error {
    Error::Chart {
        id: id.to_string(),
        message: e.to_string(),
    }
}

/// A range around `lo..hi` with 5% padding; a flat range gets unit height.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return lo - d..hi + d;
    }
    let p = (hi - lo) * 0.05;
    lo - p..hi + p
}

/// Draws a line chart as a standalone SVG document.
pub fn line_svg(id: &str, chart: &LineChart) -> Result<String> {
    let pts = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(id, e))?;
        let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(padded(x0, x1), padded(y0, y1))
            .map_err(|e| chart_err(id, e))?;
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        for (i, s) in chart.series.iter().enumerate() {
            if s.points.is_empty() {
                continue;
            }
            let color = color(i);
            ctx.draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| chart_err(id, e))?;
            // Markers make single-step or sparse series (eval steps) visible; on long runs they
            // would only bloat the SVG (one element per point) and hide the line.
            if s.points.len() <= MAX_MARKERS {
                ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| chart_err(id, e))?;
            }
        }
        let names: Vec<&str> = chart
            .series
            .iter()
            .filter(|s| !s.points.is_empty())
            .map(|s| s.name.as_str())
            .collect();
        draw_legend(id, &legend, &names, false)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg)
}

/// One legend row per name (in series colour order), as a line or a bar swatch.
fn draw_legend<DB: DrawingBackend>(
    id: &str,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    names: &[&str],
    bars: bool,
) -> Result<()> {
    let style = ("sans-serif", 12)
        .into_font()
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        let c = color(i);
        let y = 44 + 18 * i as i32;
        if bars {
            area.draw(&Rectangle::new([(6, y - 5), (18, y + 5)], c.filled()))
        } else {
            area.draw(&PathElement::new(vec![(2, y), (22, y)], c.stroke_width(2)))
        }
        .map_err(|e| chart_err(id, e))?;
        area.draw(&Text::new(name.to_string(), (28, y), style.clone()))
            .map_err(|e| chart_err(id, e))?;
    }
    Ok(())
}

/// Draws a grouped bar chart as a standalone SVG document.
pub fn bar_svg(id: &str, chart: &BarChart) -> Result<String> {
    let max = chart
        .groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max);
    if chart.log_y {
        // Counts start at 1; the axis starts just below so a count of 1 shows as a stub.
        let top = (max * 2.0).max(10.0);
        bars(id, chart, (0.5f64..top).log_scale(), 0.5)
    } else {
        let top = if max > 0.0 { max * 1.1 } else { 1.0 };
        bars(id, chart, 0.0f64..top, 0.0)
    }
}

fn bars<Y>(id: &str, chart: &BarChart, y: Y, base: f64) -> Result<String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let n = chart.categories.len().max(1);
    let groups = chart.groups.len().max(1);
    let rotate = chart.categories.iter().any(|c| c.len() > 6) && n > 4;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(id, e))?;
        let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(if rotate { 100 } else { 40 })
            .y_label_area_size(60)
            .build_cartesian_2d(0.0f64..n as f64, y)
            .map_err(|e| chart_err(id, e))?;
        ctx.configure_mesh()
            .disable_x_mesh()
            // Log axes get a label per minor step otherwise, which piles up below each decade.
            .y_labels(if chart.log_y { 4 } else { 10 })
            .light_line_style(WHITE.mix(0.0))
            // Category names are drawn below instead: plotters places numeric ticks itself.
            .x_labels(0)
            .y_desc(chart.y_label.as_str())
            .draw()
            .map_err(|e| chart_err(id, e))?;
        let label_style = if rotate {
            ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90)
                .into_text_style(&root)
                .pos(Pos::new(HPos::Left, VPos::Center))
        } else {
            ("sans-serif", 12)
                .into_font()
                .into_text_style(&root)
                .pos(Pos::new(HPos::Center, VPos::Top))
        };
        for (i, c) in chart.categories.iter().enumerate() {
            let (px, py) = ctx.backend_coord(&(i as f64 + 0.5, base));
            root.draw(&Text::new(c.as_str(), (px, py + 6), label_style.clone()))
                .map_err(|e| chart_err(id, e))?;
        }
        let width = 0.8 / groups as f64;
        for (g, (_, values)) in chart.groups.iter().enumerate() {
            let color = color(g);
            let rects = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > base)
                .map(|(i, &v)| {
                    let x0 = i as f64 + 0.1 + g as f64 * width;
                    Rectangle::new([(x0, base), (x0 + width, v)], color.filled())
                });
            ctx.draw_series(rects).map_err(|e| chart_err(id, e))?;
        }
        let names: Vec<&str> = chart.groups.iter().map(|(n, _)| n.as_str()).collect();
        draw_legend(id, &legend, &names, true)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg)
}
