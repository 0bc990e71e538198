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
pub const SIZE: (u32, u32) = (880, 380);

/// Series with more points than this are drawn without point markers.
const MAX_MARKERS: usize = 60;

/// Width of the legend column right of the plot: beside the data, never on top of it, however
/// many runs are overlaid.
const LEGEND_WIDTH: u32 = 250;

/// Font sizes (px at the SVG's own size; the page shows charts at 600–850 px wide).
const CAPTION_PX: u32 = 20;
const LABEL_PX: u32 = 15;
const LEGEND_PX: u32 = 14;

/// How a line is stroked: several runs of one metric share a colour and differ in dash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dash {
    /// A solid line.
    #[default]
    Solid,
    /// Long dashes.
    Dashed,
    /// Dots.
    Dotted,
}

impl Dash {
    /// The style for the `i`-th run (cycling).
    pub fn nth(i: usize) -> Dash {
        [Dash::Solid, Dash::Dashed, Dash::Dotted][i % 3]
    }
}

/// Axis tick text: integers without a decimal point, small or huge values in scientific
/// notation, others with four significant digits (plotters' default prints `1.0`, `2.0`, … for
/// steps and `0.000001` for learning rates).
pub fn tick(v: &f64) -> String {
    let v = *v;
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) && v.abs() < 1e6 {
        return format!("{}", v.round() as i64);
    }
    if v.abs() < 1e-3 || v.abs() >= 1e6 {
        // Three significant digits, trailing zeros of the mantissa dropped: 1e-5, 1.05e-5.
        let s = format!("{v:.2e}");
        return match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
    }
    // Four significant digits, so neighbouring ticks of a narrow range stay distinct.
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One named line: (x, y) points in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend name.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// Palette index of the colour.
    pub color: usize,
    /// Stroke style.
    pub dash: Dash,
    /// Drawn thin and pale, without a legend entry: the raw values under a smoothed line.
    pub faint: bool,
}

impl Series {
    /// A solid series in palette colour `color`.
    pub fn new(name: String, points: Vec<(f64, f64)>, color: usize) -> Series {
        Series {
            name,
            points,
            color,
            dash: Dash::Solid,
            faint: false,
        }
    }
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

/// A range around `lo..hi` with 5% padding; a flat range gets unit height. Non-negative data
/// (rates, counts, lengths) never gets a negative axis: an all-zero series spans 0..1.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let (a, b) = if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - d, hi + d)
    } else {
        let p = (hi - lo) * 0.05;
        (lo - p, hi + p)
    };
    if lo >= 0.0 { a.max(0.0)..b } else { a..b }
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
            .caption(&chart.title, ("sans-serif", CAPTION_PX))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(padded(x0, x1), padded(y0, y1))
            .map_err(|e| chart_err(id, e))?;
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        for s in &chart.series {
            if s.points.is_empty() {
                continue;
            }
            let color = color(s.color);
            let pts = s.points.iter().copied();
            if s.faint {
                ctx.draw_series(LineSeries::new(pts, color.mix(0.25).stroke_width(1)))
                    .map_err(|e| chart_err(id, e))?;
                continue;
            }
            match s.dash {
                Dash::Solid => ctx
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map(|_| ()),
                Dash::Dashed => ctx
                    .draw_series(DashedLineSeries::new(pts, 9, 5, color.stroke_width(2)))
                    .map(|_| ()),
                Dash::Dotted => ctx
                    .draw_series(DashedLineSeries::new(pts, 2, 4, color.stroke_width(2)))
                    .map(|_| ()),
            }
            .map_err(|e| chart_err(id, e))?;
            // Markers make single-step or sparse series (eval steps) visible; on long runs they
            // would only bloat the SVG (one element per point) and hide the line.
            if s.points.len() <= MAX_MARKERS {
                ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| chart_err(id, e))?;
            }
        }
        let entries: Vec<(&str, usize, Option<Dash>)> = chart
            .series
            .iter()
            .filter(|s| !s.points.is_empty() && !s.faint)
            .map(|s| (s.name.as_str(), s.color, Some(s.dash)))
            .collect();
        draw_legend(id, &legend, &entries)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg)
}

/// Two measures over one x axis, each on its own y axis (left: `left`, right: `right`), as the
/// study draws response length and reflection count together.
#[derive(Debug, Clone, PartialEq)]
pub struct DualChart {
    /// Caption.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Left y axis label.
    pub y_label: String,
    /// Right y axis label.
    pub y2_label: String,
    /// Lines on the left axis.
    pub left: Vec<Series>,
    /// Lines on the right axis.
    pub right: Vec<Series>,
}

fn bounds<'a>(series: impl Iterator<Item = &'a Series>) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series.flat_map(|s| s.points.iter()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    (x0, x1, y0, y1)
}

/// Draws a two-axis line chart as a standalone SVG document.
pub fn dual_svg(id: &str, chart: &DualChart) -> Result<String> {
    let (x0, x1, y0, y1) = bounds(chart.left.iter().chain(&chart.right));
    let (_, _, l0, l1) = bounds(chart.left.iter());
    let (_, _, r0, r1) = bounds(chart.right.iter());
    let _ = (y0, y1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(id, e))?;
        let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot)
            .caption(&chart.title, ("sans-serif", CAPTION_PX))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .right_y_label_area_size(78)
            .build_cartesian_2d(padded(x0, x1), padded(l0, l1))
            .map_err(|e| chart_err(id, e))?
            .set_secondary_coord(padded(x0, x1), padded(r0, r1));
        ctx.configure_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        ctx.configure_secondary_axes()
            .y_desc(chart.y2_label.as_str())
            .y_labels(8)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        for (secondary, s) in chart
            .left
            .iter()
            .map(|s| (false, s))
            .chain(chart.right.iter().map(|s| (true, s)))
        {
            let c = color(s.color);
            let style = if s.faint {
                c.mix(0.25).stroke_width(1)
            } else {
                c.stroke_width(2)
            };
            let pts: Vec<(f64, f64)> = s.points.clone();
            let r = if secondary {
                match s.dash {
                    Dash::Solid => ctx
                        .draw_secondary_series(LineSeries::new(pts, style))
                        .map(|_| ()),
                    _ => ctx
                        .draw_secondary_series(DashedLineSeries::new(pts, 9, 5, style))
                        .map(|_| ()),
                }
            } else {
                match s.dash {
                    Dash::Solid => ctx.draw_series(LineSeries::new(pts, style)).map(|_| ()),
                    _ => ctx
                        .draw_series(DashedLineSeries::new(pts, 9, 5, style))
                        .map(|_| ()),
                }
            };
            r.map_err(|e| chart_err(id, e))?;
        }
        let entries: Vec<(&str, usize, Option<Dash>)> = chart
            .left
            .iter()
            .chain(&chart.right)
            .filter(|s| !s.points.is_empty() && !s.faint)
            .map(|s| (s.name.as_str(), s.color, Some(s.dash)))
            .collect();
        draw_legend(id, &legend, &entries)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg)
}

/// One legend row per entry (name, palette colour, line dash or `None` for a bar swatch).
fn draw_legend<DB: DrawingBackend>(
    id: &str,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(&str, usize, Option<Dash>)],
) -> Result<()> {
    let style = ("sans-serif", LEGEND_PX)
        .into_font()
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row = LEGEND_PX as i32 + 5;
    for (i, (name, ci, dash)) in entries.iter().enumerate() {
        let c = color(*ci);
        let y = 44 + row * i as i32;
        let segments: Vec<(i32, i32)> = match dash {
            None => Vec::new(),
            Some(Dash::Solid) => vec![(2, 24)],
            Some(Dash::Dashed) => vec![(2, 10), (15, 24)],
            Some(Dash::Dotted) => vec![(2, 4), (8, 10), (14, 16), (20, 22)],
        };
        if dash.is_none() {
            area.draw(&Rectangle::new([(6, y - 6), (20, y + 6)], c.filled()))
                .map_err(|e| chart_err(id, e))?;
        }
        for (a, b) in segments {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], c.stroke_width(2)))
                .map_err(|e| chart_err(id, e))?;
        }
        area.draw(&Text::new(name.to_string(), (30, y), style.clone()))
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
            .caption(&chart.title, ("sans-serif", CAPTION_PX))
            .margin(12)
            .x_label_area_size(if rotate { 120 } else { 44 })
            .y_label_area_size(78)
            .build_cartesian_2d(0.0f64..n as f64, y)
            .map_err(|e| chart_err(id, e))?;
        ctx.configure_mesh()
            .disable_x_mesh()
            // Log axes get a label per minor step otherwise, which piles up below each decade.
            .y_labels(if chart.log_y { 4 } else { 10 })
            .light_line_style(WHITE.mix(0.0))
            // Category names are drawn below instead: plotters places numeric ticks itself.
            .x_labels(0)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", LABEL_PX))
            .axis_desc_style(("sans-serif", LABEL_PX))
            .bold_line_style(BLACK.mix(0.08))
            .y_desc(chart.y_label.as_str())
            .draw()
            .map_err(|e| chart_err(id, e))?;
        let label_style = if rotate {
            ("sans-serif", LABEL_PX)
                .into_font()
                .transform(FontTransform::Rotate90)
                .into_text_style(&root)
                .pos(Pos::new(HPos::Left, VPos::Center))
        } else {
            ("sans-serif", LABEL_PX)
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
        let entries: Vec<(&str, usize, Option<Dash>)> = chart
            .groups
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.as_str(), i, None))
            .collect();
        draw_legend(id, &legend, &entries)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg)
}
