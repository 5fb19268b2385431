//! The benchmark's chart: one PNG with a panel for each part of the results file that a run
//! measured, and a footer saying where and on what the numbers were taken, so the picture can
//! be read without the JSON next to it.
//!
//! Text goes through `ab_glyph`, which has no access to system fonts: a TrueType file is read
//! at run time and registered as `sans-serif` before anything is drawn.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use super::results::{
    LargeObjectRow, Latency, OneEmulator, RequestRate, Requests, Results, ScaleRow, Startup,
    Throughput,
};

/// Size of the PNG: wide enough for five panels and the long tool names beside their bars.
const WIDTH: u32 = 1600;
const HEIGHT: u32 = 900;

/// Names the font file where DejaVu is missing or not at Debian's path.
const FONT_ENV: &str = "S3R_BENCH_FONT";
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";

/// The drawing surface: a PNG file, or memory in the tests.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Text sizes in pixels.
const CAPTION: f64 = 19.0;
const LABEL: f64 = 15.0;
const NOTE: f64 = 14.0;
const LEGEND: f64 = 13.0;
const LEGEND_ROW: u32 = 17;

/// Bars thicker than this (twice that for vertical ones) look like blocks when a panel has
/// few of them and the whole chart to itself.
const MAX_THICKNESS: u32 = 60;

const HEADER: u32 = 44;
const FOOTER: u32 = 52;
const GAP: u32 = 10;

const DAEMON: RGBColor = RGBColor(31, 119, 180);
const TOOL: RGBColor = RGBColor(255, 127, 14);
const EMULATOR: RGBColor = RGBColor(150, 150, 150);
const FLOOR: RGBColor = RGBColor(120, 120, 120);
const INK: RGBColor = RGBColor(30, 30, 30);
const MUTED: RGBColor = RGBColor(95, 95, 95);
const FRAME: RGBColor = RGBColor(210, 210, 210);

/// Colours for the requests a run reports, one per distinct request name.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `results` into a PNG at `path`.
pub fn draw(results: &Results, path: &Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    render(results, &root)?;
    root.present()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Draws the whole chart on `root`, which the PNG writer and the tests (an in-memory buffer)
/// both provide.
fn render(results: &Results, root: &Area<'_>) -> Result<(), String> {
    ensure_font()?;
    root.fill(&WHITE).map_err(fail)?;
    let (w, h) = root.dim_in_pixel();
    header(results, root, w)?;
    footer(results, root, w, h)?;
    let panels = panels(results);
    if panels.is_empty() {
        let s = style(CAPTION, MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(
            "no measurements in the results file",
            ((w / 2) as i32, (h / 2) as i32),
            s,
        ))
        .map_err(fail)?;
    }
    for (panel, rect) in layout(&panels, w, h) {
        let area = root.clone().shrink((rect.x, rect.y), (rect.w, rect.h));
        area.draw(&Rectangle::new(
            [(0, 0), (rect.w as i32 - 1, rect.h as i32 - 1)],
            FRAME.stroke_width(1),
        ))
        .map_err(fail)?;
        let area = area.margin(6, 6, 8, 12);
        match panel {
            Panel::Throughput(t) => throughput(&area, t)?,
            Panel::Latency(l) => latency(&area, l)?,
            Panel::Scale(s, capped, startup) => scale(&area, s, capped, startup)?,
            Panel::OneEmulator(o) => one_emulator(&area, o)?,
            Panel::LargeObjects(rows) => large_objects(&area, rows)?,
            Panel::Requests(r) => requests(&area, r)?,
        }
    }
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> String {
    format!("drawing the chart: {e}")
}

/// Registers the font once per process: `register_font` keeps a `'static` reference, so the
/// file's bytes are leaked, and doing it once bounds that to one copy.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = font_path();
            let bytes = load_font(&path)?;
            register_font(FONT, FontStyle::Normal, bytes).map_err(|_| {
                format!(
                    "font {} is not a TrueType/OpenType file (set {FONT_ENV} to one)",
                    path.display()
                )
            })
        })
        .clone()
}

fn font_path() -> PathBuf {
    std::env::var_os(FONT_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_FONT), PathBuf::from)
}

fn load_font(path: &Path) -> Result<&'static [u8], String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read the chart's font {}: {e}; install DejaVu (fonts-dejavu-core) \
             or set {FONT_ENV} to a TTF file",
            path.display()
        )
    })?;
    Ok(Box::leak(bytes.into_boxed_slice()))
}

/// One panel per part present in the results, in reading order.
#[derive(Clone, Copy)]
enum Panel<'a> {
    Throughput(&'a Throughput),
    Latency(&'a Latency),
    /// The default configuration's rows, the capped ones, the daemons' start-up times.
    Scale(&'a [ScaleRow], &'a [ScaleRow], &'a [Startup]),
    OneEmulator(&'a OneEmulator),
    LargeObjects(&'a [LargeObjectRow]),
    Requests(&'a Requests),
}

impl Panel<'_> {
    /// Share of its row's width: the throughput panel carries the most bars and the longest
    /// labels, the scale panel only two bars (but two-line notes above them).
    fn weight(self) -> u32 {
        match self {
            Panel::Throughput(_) => 5,
            Panel::Latency(_) => 3,
            Panel::Scale(..) => 3,
            Panel::OneEmulator(_) => 3,
            Panel::LargeObjects(_) => 4,
            Panel::Requests(_) => 4,
        }
    }
}

fn panels(r: &Results) -> Vec<Panel<'_>> {
    let mut out = Vec::new();
    if let Some(t) = &r.throughput {
        out.push(Panel::Throughput(t));
    }
    if let Some(l) = &r.latency {
        out.push(Panel::Latency(l));
    }
    if !r.scale.is_empty() {
        out.push(Panel::Scale(&r.scale, &r.scale_capped, &r.startup));
    }
    if let Some(o) = &r.one_emulator {
        out.push(Panel::OneEmulator(o));
    }
    if !r.large_objects.is_empty() {
        out.push(Panel::LargeObjects(&r.large_objects));
    }
    if let Some(q) = &r.requests {
        out.push(Panel::Requests(q));
    }
    out
}

#[derive(Clone, Copy)]
struct Rect {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

/// Places the panels between header and footer: one row for up to two panels, otherwise two
/// rows with the extra panel in the bottom one (the top row holds the headline numbers).
fn layout<'a>(panels: &[Panel<'a>], w: u32, h: u32) -> Vec<(Panel<'a>, Rect)> {
    let rows: Vec<&[Panel<'a>]> = match panels.len() {
        0 => vec![],
        1 | 2 => vec![panels],
        n => {
            let (top, bottom) = panels.split_at(n / 2);
            vec![top, bottom]
        }
    };
    let usable = h.saturating_sub(HEADER + FOOTER);
    let row_h = usable.saturating_sub(GAP * (rows.len() as u32).saturating_sub(1))
        / (rows.len() as u32).max(1);
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let y = (HEADER + i as u32 * (row_h + GAP)) as i32;
        let total: u32 = row.iter().map(|p| p.weight()).sum();
        let room = w.saturating_sub(GAP * (row.len() as u32 + 1));
        let mut x = GAP;
        for p in row.iter() {
            let pw = room * p.weight() / total;
            out.push((
                *p,
                Rect {
                    x: x as i32,
                    y,
                    w: pw,
                    h: row_h,
                },
            ));
            x += pw + GAP;
        }
    }
    out
}

fn style(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&color)
}

fn header(r: &Results, root: &Area<'_>, w: u32) -> Result<(), String> {
    let title = "s3-replicator benchmark";
    root.draw(&Text::new(title, (GAP as i32, 12), style(24.0, INK)))
        .map_err(fail)?;
    if !r.run.command.is_empty() {
        let text = format!("produced by: {}", r.run.command);
        let room = w.saturating_sub(text_width(root, title, 24.0) + 4 * GAP);
        let s = fitted(root, &text, 14.0, MUTED, room).pos(Pos::new(HPos::Right, VPos::Top));
        root.draw(&Text::new(text, ((w - GAP) as i32, 18), s))
            .map_err(fail)?;
    }
    Ok(())
}

/// The run's provenance: when, which tree, how loaded the machine was, which emulators.
fn footer(r: &Results, root: &Area<'_>, w: u32, h: u32) -> Result<(), String> {
    let run = &r.run;
    let first = format!(
        "started {}  ·  revision {}  ·  {} cores  ·  load average (1 min) {:.2} at start, {:.2} at end",
        run.started_at, run.revision, run.cores, run.load_average_start, run.load_average_end
    );
    let emulators = run
        .emulators
        .iter()
        .map(|e| format!("{} → {}", e.service, e.name))
        .collect::<Vec<_>>()
        .join(",  ");
    let second = format!("emulators: {emulators}");
    let y = (h - FOOTER + 8) as i32;
    root.draw(&PathElement::new(
        vec![(GAP as i32, y - 2), ((w - GAP) as i32, y - 2)],
        FRAME,
    ))
    .map_err(fail)?;
    for (i, line) in [first, second].into_iter().enumerate() {
        let s = fitted(root, &line, 14.0, MUTED, w - 2 * GAP);
        root.draw(&Text::new(line, (GAP as i32, y + 6 + 20 * i as i32), s))
            .map_err(fail)?;
    }
    Ok(())
}

/// A bar and what to write beside it; several segments make a stacked bar.
struct Bar {
    label: String,
    segments: Vec<(f64, RGBColor)>,
    note: String,
}

impl Bar {
    fn single(label: impl Into<String>, value: f64, color: RGBColor, note: String) -> Self {
        Bar {
            label: label.into(),
            segments: vec![(value, color)],
            note,
        }
    }

    fn total(&self) -> f64 {
        self.segments.iter().map(|(v, _)| v).sum()
    }
}

/// `1,234` for large values, a decimal or two for small ones, so every annotation is three or
/// four significant digits.
fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        grouped(v)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `v` rounded to a whole number, with thousands separators.
fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::from(if v < -0.5 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Axis ticks: whole numbers without decimals, the rest without trailing zeros.
fn tick(v: f64) -> String {
    if v == v.round() {
        grouped(v)
    } else {
        format!("{v:.2}").trim_end_matches('0').to_string()
    }
}

fn per_s(v: f64) -> String {
    format!("{}/s", num(v))
}

fn ratio(v: f64) -> String {
    format!("{v:.2}×")
}

/// Upper end of a value axis: room above the largest bar for its annotation.
fn headroom(max: f64, factor: f64) -> f64 {
    if max > 0.0 && max.is_finite() {
        max * factor
    } else {
        1.0
    }
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn text_width(area: &Area<'_>, text: &str, size: f64) -> u32 {
    area.estimate_text_size(text, &style(size, INK))
        .map_or(0, |(w, _)| w)
}

/// Width of the widest label, for the label area left of horizontal bars.
fn label_width<'s>(area: &Area<'_>, labels: impl Iterator<Item = &'s str>) -> u32 {
    labels
        .map(|l| text_width(area, l, LABEL))
        .max()
        .unwrap_or(0)
}

/// The style for `text` at `size`, or smaller (down to 11 px) until it fits in `room` pixels:
/// captions and descriptions are built from the data and would otherwise run off a panel.
fn fitted(
    area: &Area<'_>,
    text: &str,
    size: f64,
    color: RGBColor,
    room: u32,
) -> TextStyle<'static> {
    let mut size = size;
    while size > 11.0 && text_width(area, text, size) > room {
        size -= 1.0;
    }
    style(size, color)
}

/// An axis of categories: bar `i` spans `i..i + 1`, its name is the tick at `i + 0.5`.
/// plotters' segmented integer axis does the same but mis-places a lone category.
#[derive(Clone)]
struct Categories(usize);

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = f64::from(limit.1 - limit.0);
        limit.0 + (span * value / self.0.max(1) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        (0..self.0).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0.max(1) as f64
    }
}

/// Horizontal bars, first bar on top, with the notes right of the bars. Tool names sit left of
/// the bars, where they have the whole label area and never collide with each other.
struct HBars<'a> {
    caption: &'a str,
    x_desc: &'a str,
    bars: &'a [Bar],
    /// Pixels left of the plot for the names; 0 hides them (a second chart beside a first).
    label_area: u32,
    /// A dashed line across all bars at this value.
    reference: Option<f64>,
    /// Length of the value axis as a multiple of the longest bar, leaving room for its note.
    headroom: f64,
}

impl HBars<'_> {
    fn draw(&self, area: &Area<'_>) -> Result<(), String> {
        let max = self.bars.iter().map(Bar::total).fold(0.0, f64::max);
        let x_max = headroom(max.max(self.reference.unwrap_or(0.0)), self.headroom);
        let width = area.dim_in_pixel().0;
        let desc = fitted(
            area,
            self.x_desc,
            LABEL,
            MUTED,
            width.saturating_sub(self.label_area + 20),
        );
        let mut chart = ChartBuilder::on(area)
            .caption(
                self.caption,
                fitted(area, self.caption, CAPTION, INK, width - 8),
            )
            .margin(4)
            .margin_right(10)
            .x_label_area_size(40)
            .y_label_area_size(self.label_area)
            .build_cartesian_2d(0.0..x_max, Categories(self.bars.len()))
            .map_err(fail)?;
        let labels: Vec<&str> = self.bars.iter().map(|b| b.label.as_str()).collect();
        let y_fmt = |v: &f64| {
            let from_top = self.bars.len() as f64 - 1.0 - v.floor();
            labels
                .get(from_top as usize)
                .map_or_else(String::new, |s| s.to_string())
        };
        let x_fmt = |v: &f64| tick(*v);
        let slot = chart.plotting_area().dim_in_pixel().1 / self.bars.len().max(1) as u32;
        let inset = (slot.saturating_sub(MAX_THICKNESS) / 2).max(5);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_label_formatter(&y_fmt)
            .x_labels(6)
            .x_label_formatter(&x_fmt)
            .x_desc(self.x_desc)
            .label_style(style(LABEL, INK))
            .axis_desc_style(desc)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(fail)?;
        for (k, bar) in self.bars.iter().enumerate() {
            let y = (self.bars.len() - 1 - k) as f64;
            let mut x0 = 0.0;
            for &(v, color) in &bar.segments {
                let mut rect = Rectangle::new([(x0, y), (x0 + v, y + 1.0)], color.filled());
                rect.set_margin(inset, inset, 0, 0);
                chart.draw_series(std::iter::once(rect)).map_err(fail)?;
                x0 += v;
            }
            let note = EmptyElement::at((x0, y + 0.5))
                + Text::new(
                    bar.note.clone(),
                    (6, -3),
                    style(NOTE, INK).pos(Pos::new(HPos::Left, VPos::Center)),
                );
            chart.draw_series(std::iter::once(note)).map_err(fail)?;
        }
        if let Some(r) = self.reference {
            let line = DashedLineSeries::new(
                [(r, 0.0), (r, self.bars.len() as f64)],
                6,
                4,
                EMULATOR.stroke_width(1),
            );
            chart.draw_series(line).map_err(fail)?;
        }
        Ok(())
    }
}

/// Vertical bars with short category names below and their notes above: the first line of a
/// note is the value, further lines (in grey) what goes with it.
struct VBars<'a> {
    caption: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    bars: &'a [Bar],
}

impl VBars<'_> {
    fn draw(&self, area: &Area<'_>) -> Result<(), String> {
        let max = self.bars.iter().map(Bar::total).fold(0.0, f64::max);
        let width = area.dim_in_pixel().0;
        let desc = fitted(area, self.x_desc, LABEL, MUTED, width.saturating_sub(84));
        let lines = self
            .bars
            .iter()
            .map(|b| b.note.lines().count())
            .max()
            .unwrap_or(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(
                self.caption,
                fitted(area, self.caption, CAPTION, INK, width - 8),
            )
            .margin(4)
            .margin_right(10)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(
                Categories(self.bars.len()),
                0.0..headroom(max, 1.12 + 0.08 * lines),
            )
            .map_err(fail)?;
        let labels: Vec<&str> = self.bars.iter().map(|b| b.label.as_str()).collect();
        let x_fmt = |v: &f64| {
            labels
                .get(v.floor() as usize)
                .map_or_else(String::new, |s| s.to_string())
        };
        let y_fmt = |v: &f64| tick(*v);
        let slot = chart.plotting_area().dim_in_pixel().0 / self.bars.len().max(1) as u32;
        let inset = (slot.saturating_sub(MAX_THICKNESS * 2) / 2).max(12);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&x_fmt)
            .y_labels(6)
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .label_style(style(LABEL, INK))
            .axis_desc_style(desc)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(fail)?;
        for (i, bar) in self.bars.iter().enumerate() {
            let x = i as f64;
            let mut y0 = 0.0;
            for &(v, color) in &bar.segments {
                let mut rect = Rectangle::new([(x, y0), (x + 1.0, y0 + v)], color.filled());
                rect.set_margin(0, 0, inset, inset);
                chart.draw_series(std::iter::once(rect)).map_err(fail)?;
                y0 += v;
            }
            let count = bar.note.lines().count() as i32;
            for (j, line) in bar.note.lines().enumerate() {
                let up = 8 + 18 * (count - 1 - j as i32);
                let color = if j == 0 { INK } else { MUTED };
                let text = EmptyElement::at((x + 0.5, y0))
                    + Text::new(
                        line.to_string(),
                        (0, -up),
                        style(NOTE, color).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    );
                chart.draw_series(std::iter::once(text)).map_err(fail)?;
            }
        }
        Ok(())
    }
}

fn throughput(area: &Area<'_>, t: &Throughput) -> Result<(), String> {
    let raw = t.raw.objects_per_s;
    let vs_raw = |v: f64| {
        if raw > 0.0 {
            format!("{} ({})", per_s(v), ratio(v / raw))
        } else {
            per_s(v)
        }
    };
    let mut bars = vec![Bar::single(
        "emulator: copies only",
        raw,
        EMULATOR,
        vs_raw(raw),
    )];
    if t.queue_topic_per_s > 0.0 {
        bars.push(Bar::single(
            "emulator: queue + topic, Publish each",
            t.queue_topic_per_s,
            EMULATOR,
            vs_raw(t.queue_topic_per_s),
        ));
    }
    let ceiling = t.queue_topic_batch_per_s;
    if ceiling > 0.0 {
        bars.push(Bar::single(
            "emulator: queue + topic, PublishBatch",
            ceiling,
            EMULATOR,
            vs_raw(ceiling),
        ));
    }
    if t.sns_publish_per_s > 0.0 {
        bars.push(Bar::single(
            "emulator: SNS Publish only",
            t.sns_publish_per_s,
            EMULATOR,
            vs_raw(t.sns_publish_per_s),
        ));
    }
    if let Some(full) = &t.full_mix {
        bars.push(Bar::single(
            "emulators: bare client, whole mix",
            full.objects_per_s,
            EMULATOR,
            vs_raw(full.objects_per_s),
        ));
    }
    for row in &t.rows {
        let color = if row.tool.starts_with("s3-replicator") {
            DAEMON
        } else {
            TOOL
        };
        let mut note = format!("{} ({})", per_s(row.objects_per_s), ratio(row.ratio_to_raw));
        if ceiling > 0.0 && row.tool.starts_with("s3-replicator") {
            note += &format!(
                ", {:.2} of PublishBatch ceiling",
                row.objects_per_s / ceiling
            );
        }
        bars.push(Bar::single(
            row.tool.clone(),
            row.objects_per_s,
            color,
            note,
        ));
    }
    let caption = format!(
        "Throughput: {} objects of {} to {} targets (objects/s)",
        num(t.objects as f64),
        bytes(t.object_bytes),
        t.targets
    );
    let labels = label_width(area, bars.iter().map(|b| b.label.as_str()));
    HBars {
        caption: &caption,
        x_desc: "objects/s (ratio to the emulator's copy capacity; dashed line = that capacity)",
        bars: &bars,
        label_area: labels + 16,
        reference: (raw > 0.0).then_some(raw),
        headroom: 1.32,
    }
    .draw(area)
}

fn latency(area: &Area<'_>, l: &Latency) -> Result<(), String> {
    let ms = |v: f64| format!("{} ms", num(v));
    let bars = [
        Bar::single("floor", l.floor.median_ms, FLOOR, ms(l.floor.median_ms)),
        Bar::single("p50", l.p50_ms, DAEMON, ms(l.p50_ms)),
        Bar::single("p95", l.p95_ms, DAEMON, ms(l.p95_ms)),
        Bar::single("p99", l.p99_ms, DAEMON, ms(l.p99_ms)),
        Bar::single("max", l.max_ms, DAEMON, ms(l.max_ms)),
    ];
    let caption = format!(
        "Latency, upload → completion event (ms): p50 = {}, p99 = {} floor",
        ratio(l.ratio_p50_to_floor),
        ratio(l.p99_ms / l.floor.median_ms)
    );
    let x_desc = format!(
        "{} objects of {} at {}/s, {} targets; floor = median of {} sequential runs",
        l.objects,
        bytes(l.object_bytes),
        num(l.rate_per_s),
        l.targets,
        l.floor.samples
    );
    VBars {
        caption: &caption,
        x_desc: &x_desc,
        y_desc: "ms",
        bars: &bars,
    }
    .draw(area)
}

fn scale(
    area: &Area<'_>,
    rows: &[ScaleRow],
    capped: &[ScaleRow],
    startup: &[Startup],
) -> Result<(), String> {
    let mut bars = Vec::new();
    for (rows, is_capped) in [(rows, false), (capped, true)] {
        let one = rows
            .iter()
            .find(|r| r.daemons == 1)
            .map_or(0.0, |r| r.objects_per_s);
        for r in rows {
            // Short: four labels share the panel's width.
            let label = match (r.daemons, is_capped) {
                (1, false) => "1 daemon".to_string(),
                (n, false) => format!("{n} daemons"),
                (n, true) => format!("{n} at c={}", r.concurrency),
            };
            let speed = if r.daemons != 1 && one > 0.0 {
                format!(
                    "{} ({})",
                    per_s(r.objects_per_s),
                    ratio(r.objects_per_s / one)
                )
            } else {
                per_s(r.objects_per_s)
            };
            let note = format!("{speed}\n{} CPU s", num(r.daemon_cpu_seconds));
            bars.push(Bar::single(label, r.objects_per_s, DAEMON, note));
        }
    }
    let slowest = startup.iter().map(|s| s.seconds).fold(0.0, f64::max);
    let mut x_desc = "daemons on one queue (× = vs 1 daemon)".to_string();
    if !capped.is_empty() {
        x_desc += "; c = queue.concurrency, else 64";
    }
    if !startup.is_empty() {
        x_desc += &format!("; start-up ≤ {slowest:.3} s");
    }
    VBars {
        caption: "Scale (objects/s)",
        x_desc: &x_desc,
        y_desc: "objects/s",
        bars: &bars,
    }
    .draw(area)
}

fn one_emulator(area: &Area<'_>, o: &OneEmulator) -> Result<(), String> {
    let bars: Vec<Bar> = o
        .rows
        .iter()
        .map(|r| {
            let color = if r.tool.starts_with("s3-replicator") {
                DAEMON
            } else {
                TOOL
            };
            let label = r.tool.split(" (").next().unwrap_or(&r.tool).to_string();
            Bar::single(label, r.objects_per_s, color, per_s(r.objects_per_s))
        })
        .collect();
    let caption = format!(
        "S3, SQS, SNS on LocalStack alone: daemon = {} rclone",
        ratio(o.daemon_to_rclone)
    );
    let x_desc = format!(
        "{} objects of {} to {} targets (objects/s)",
        num(o.objects as f64),
        bytes(o.object_bytes),
        o.targets
    );
    VBars {
        caption: &caption,
        x_desc: &x_desc,
        y_desc: "objects/s",
        bars: &bars,
    }
    .draw(area)
}

fn large_objects(area: &Area<'_>, rows: &[LargeObjectRow]) -> Result<(), String> {
    let color = |tool: &str| {
        if tool.starts_with("s3-replicator") {
            DAEMON
        } else {
            TOOL
        }
    };
    let speed: Vec<Bar> = rows
        .iter()
        .map(|r| {
            Bar::single(
                r.tool.clone(),
                r.mib_per_s,
                color(&r.tool),
                format!("{} MiB/s", num(r.mib_per_s)),
            )
        })
        .collect();
    let memory: Vec<Bar> = rows
        .iter()
        .map(|r| {
            Bar::single(
                r.tool.clone(),
                r.peak_rss_mib,
                color(&r.tool),
                format!("{} MiB", num(r.peak_rss_mib)),
            )
        })
        .collect();
    let size = match rows.first() {
        Some(first) if rows.iter().all(|r| r.mib == first.mib) => {
            format!("Large objects, {} MiB", num(first.mib))
        }
        _ => "Large objects".to_string(),
    };
    let labels = label_width(area, rows.iter().map(|r| r.tool.as_str())) + 16;
    let (w, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(labels + (w.saturating_sub(labels)) / 2);
    HBars {
        caption: &format!("{size}: speed (MiB/s)"),
        x_desc: "MiB/s",
        bars: &speed,
        label_area: labels,
        reference: None,
        // "109 MiB/s" is longer than "271 MiB", and this half has the labels too.
        headroom: 2.1,
    }
    .draw(&left)?;
    HBars {
        caption: "peak RSS (MiB)",
        x_desc: "MiB",
        bars: &memory,
        label_area: 0,
        reference: None,
        headroom: 1.6,
    }
    .draw(&right)
}

fn requests(area: &Area<'_>, q: &Requests) -> Result<(), String> {
    let mut names: Vec<&str> = Vec::new();
    for r in q.per_object_per_target.iter().chain(&q.crr) {
        if !names.contains(&r.request.as_str()) {
            names.push(&r.request);
        }
    }
    let color = |name: &str| {
        let i = names.iter().position(|n| *n == name).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let bars = [
        Bar {
            label: "s3-replicator".into(),
            segments: q
                .per_object_per_target
                .iter()
                .map(|r| (r.per_object_per_target, color(&r.request)))
                .collect(),
            note: num(q.total_per_object_per_target),
        },
        Bar {
            label: "S3 CRR".into(),
            segments: q
                .crr
                .iter()
                .map(|r| (r.per_object_per_target, color(&r.request)))
                .collect(),
            note: num(q.crr_total_per_object_per_target),
        },
    ];
    let (w, h) = area.dim_in_pixel();
    let lists = [
        ("s3-replicator:", &q.per_object_per_target),
        ("S3 CRR (as AWS documents it):", &q.crr),
    ];
    let widest = lists
        .iter()
        .flat_map(|(_, rates)| rates.iter())
        .map(|r| text_width(area, &legend_entry(r), LEGEND) + 24)
        .max()
        .unwrap_or(0);
    let columns = if 2 * widest <= w { 2 } else { 1 };
    let legend_h = lists
        .iter()
        .filter(|(_, rates)| !rates.is_empty())
        .map(|(_, rates)| LEGEND_ROW * (1 + rates.len().div_ceil(columns) as u32) + 4)
        .sum::<u32>()
        .min(h / 2);
    let (top, bottom) = area.split_vertically(h - legend_h);
    let labels = label_width(area, bars.iter().map(|b| b.label.as_str()));
    let services = super::report::by_service(q)
        .iter()
        .map(|r| format!("{} {}", r.service, num(r.per_object)))
        .collect::<Vec<_>>()
        .join(" · ");
    let x_desc =
        format!("AWS API requests per object per target; per object to all targets: {services}");
    HBars {
        caption: "Requests per object per target (requests)",
        x_desc: &x_desc,
        bars: &bars,
        label_area: labels + 16,
        reference: None,
        headroom: 1.2,
    }
    .draw(&top)?;
    legend(&bottom, &lists, columns, &color)
}

fn legend_entry(r: &RequestRate) -> String {
    format!("{}  {}", r.request, num(r.per_object_per_target))
}

/// The requests behind each stacked bar with their rates: small rates are slivers in the bar,
/// so the numbers are read here.
fn legend(
    area: &Area<'_>,
    lists: &[(&str, &Vec<RequestRate>)],
    columns: usize,
    color: &dyn Fn(&str) -> RGBColor,
) -> Result<(), String> {
    let col_w = area.dim_in_pixel().0 as i32 / columns as i32;
    let row = LEGEND_ROW as i32;
    let mut y = 0;
    for (title, rates) in lists.iter().filter(|(_, rates)| !rates.is_empty()) {
        area.draw(&Text::new(*title, (8, y), style(LEGEND, MUTED)))
            .map_err(fail)?;
        for (i, r) in rates.iter().enumerate() {
            let x = 8 + (i % columns) as i32 * col_w;
            let row_y = y + row * (1 + (i / columns) as i32);
            area.draw(&Rectangle::new(
                [(x, row_y + 1), (x + 11, row_y + 12)],
                color(&r.request).filled(),
            ))
            .map_err(fail)?;
            area.draw(&Text::new(
                legend_entry(r),
                (x + 16, row_y),
                style(LEGEND, INK),
            ))
            .map_err(fail)?;
        }
        y += row * (1 + rates.len().div_ceil(columns) as i32) + 4;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::results::*;
    use super::*;

    fn rate(request: &str, per_object_per_target: f64) -> RequestRate {
        RequestRate {
            request: request.into(),
            per_object_per_target,
        }
    }

    fn throughput_row(tool: &str, seconds: f64, raw: f64) -> ThroughputRow {
        let objects_per_s = 10_000.0 / seconds;
        ThroughputRow {
            tool: tool.into(),
            how: "concurrency 64".into(),
            seconds,
            objects_per_s,
            ratio_to_raw: objects_per_s / raw,
            ..ThroughputRow::default()
        }
    }

    fn large(tool: &str, seconds: f64, peak_rss_mib: f64) -> LargeObjectRow {
        LargeObjectRow {
            tool: tool.into(),
            mib: 1024.0,
            seconds,
            mib_per_s: 1024.0 / seconds,
            peak_rss_mib,
        }
    }

    fn full() -> Results {
        let raw = 1342.0;
        Results {
            schema: SCHEMA.into(),
            run: Run {
                started_at: "2026-05-02T09:14:07Z".into(),
                command: "scripts/bench.sh".into(),
                revision: "v0.1.0-42-g3f9c2ab-dirty".into(),
                cores: 16,
                load_average_start: 0.84,
                load_average_end: 3.17,
                emulators: vec![
                    Emulator {
                        service: "s3".into(),
                        name: "s3s-fs 0.14.1".into(),
                    },
                    Emulator {
                        service: "sqs".into(),
                        name: "LocalStack core 2026.3.0".into(),
                    },
                    Emulator {
                        service: "sns".into(),
                        name: "LocalStack core 2026.3.0".into(),
                    },
                ],
            },
            latency: Some(Latency {
                objects: 200,
                object_bytes: 4096,
                targets: 2,
                rate_per_s: 10.0,
                p50_ms: 38.4,
                p95_ms: 61.2,
                p99_ms: 88.9,
                max_ms: 131.5,
                floor: Floor {
                    samples: 50,
                    median_ms: 21.7,
                    min_ms: 17.9,
                    calls: vec![CallTime {
                        call: "sqs:ReceiveMessage".into(),
                        median_ms: 4.1,
                    }],
                    delivery_ms: 9.6,
                    event_send_ms: 2.1,
                },
                ratio_p50_to_floor: 38.4 / 21.7,
                ratio_p99_to_floor: 88.9 / 21.7,
            }),
            throughput: Some(Throughput {
                objects: 10_000,
                object_bytes: 4096,
                targets: 2,
                raw: RawCapacity {
                    concurrency: 64,
                    copies_per_s: raw * 2.0,
                    objects_per_s: raw,
                    emulator_load: Vec::new(),
                },
                sns_publish_per_s: 1910.0,
                sqs_receive_delete_per_s: 4520.0,
                queue_topic_per_s: 310.0,
                queue_topic_batch_per_s: 820.0,
                rows: vec![
                    throughput_row("s3-replicator (1 daemon)", 24.3, raw),
                    throughput_row("s3-replicator (2 daemons)", 14.1, raw),
                    throughput_row("rclone copy", 41.8, raw),
                    throughput_row("aws s3 sync", 97.5, raw),
                ],
                ..Throughput::default()
            }),
            large_objects: vec![
                large("s3-replicator", 6.9, 38.2),
                large("rclone copy", 8.8, 96.7),
                large("aws s3 sync", 12.4, 142.0),
            ],
            scale: vec![
                ScaleRow {
                    daemons: 1,
                    seconds: 24.3,
                    objects_per_s: 411.5,
                    daemon_cpu_seconds: 9.8,
                    ..ScaleRow::default()
                },
                ScaleRow {
                    daemons: 2,
                    seconds: 14.1,
                    objects_per_s: 709.2,
                    daemon_cpu_seconds: 11.3,
                    ..ScaleRow::default()
                },
            ],
            scale_capped: vec![
                ScaleRow {
                    daemons: 1,
                    seconds: 12.0,
                    objects_per_s: 166.0,
                    daemon_cpu_seconds: 2.8,
                    concurrency: 10,
                    objects: 2000,
                    ..ScaleRow::default()
                },
                ScaleRow {
                    daemons: 2,
                    seconds: 6.5,
                    objects_per_s: 307.0,
                    daemon_cpu_seconds: 3.0,
                    concurrency: 10,
                    objects: 2000,
                    ..ScaleRow::default()
                },
            ],
            startup: vec![Startup {
                daemon: "latency".into(),
                seconds: 0.012,
            }],
            one_emulator: Some(OneEmulator {
                emulator: "LocalStack core 2026.3.0".into(),
                objects: 2000,
                object_bytes: 4096,
                targets: 2,
                rows: vec![
                    throughput_row("s3-replicator (1 daemon)", 120.0, 0.0),
                    throughput_row("rclone copy", 100.0, 0.0),
                ],
                daemon_to_rclone: 100.0 / 120.0,
                daemon_requests_per_object: Vec::new(),
            }),
            requests: Some(Requests {
                objects: 10_000,
                targets: 2,
                per_object_per_target: vec![
                    rate("s3:CopyObject", 1.0),
                    rate("s3:HeadObject", 0.5),
                    rate("sns:Publish", 0.5),
                    rate("sqs:ReceiveMessage", 0.06),
                    rate("sqs:DeleteMessageBatch", 0.05),
                ],
                total_per_object_per_target: 2.11,
                crr: vec![rate("s3:PutObject (replica)", 1.0)],
                crr_total_per_object_per_target: 1.0,
                per_object_by_service: Vec::new(),
            }),
        }
    }

    /// Renders into memory and returns the RGB pixels.
    fn pixels(results: &Results) -> Vec<u8> {
        let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
            render(results, &root).unwrap();
            root.present().unwrap();
        }
        buf
    }

    /// Pixels of a bar colour (clearly not white, grey or black) inside `rect`: captions, axes
    /// and grid lines alone do not produce them.
    fn coloured(buf: &[u8], rect: Rect) -> usize {
        let mut n = 0;
        for y in rect.y..rect.y + rect.h as i32 {
            for x in rect.x..rect.x + rect.w as i32 {
                let i = (y as usize * WIDTH as usize + x as usize) * 3;
                let px = &buf[i..i + 3];
                let (lo, hi) = (px.iter().min().unwrap(), px.iter().max().unwrap());
                n += usize::from(hi - lo > 60);
            }
        }
        n
    }

    fn assert_panels_drawn(results: &Results, expected: usize) {
        let buf = pixels(results);
        let placed = layout(&panels(results), WIDTH, HEIGHT);
        assert_eq!(placed.len(), expected);
        for (i, (_, rect)) in placed.into_iter().enumerate() {
            let share = coloured(&buf, rect) as f64 / f64::from(rect.w * rect.h);
            assert!(share > 0.02, "panel {i} has {share:.4} of its area in bars");
        }
    }

    #[test]
    fn draws_a_png_with_every_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.png");
        draw(&full(), &path).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (WIDTH, HEIGHT));
        assert_panels_drawn(&full(), 6);
    }

    #[test]
    fn skips_absent_parts() {
        let only_throughput = Results {
            latency: None,
            large_objects: vec![],
            scale: vec![],
            requests: None,
            one_emulator: None,
            ..full()
        };
        assert_panels_drawn(&only_throughput, 1);
        let dir = tempfile::tempdir().unwrap();
        draw(&only_throughput, &dir.path().join("chart.png")).unwrap();

        let without_scale = Results {
            scale: vec![],
            ..full()
        };
        assert_panels_drawn(&without_scale, 5);
    }

    #[test]
    fn an_empty_results_file_still_draws_the_footer() {
        let buf = pixels(&Results::default());
        assert!(buf.iter().any(|&b| b < 128));
    }

    #[test]
    fn a_missing_font_names_the_file_and_the_variable() {
        let err = load_font(Path::new("/nonexistent/Font.ttf")).unwrap_err();
        assert!(err.contains("/nonexistent/Font.ttf"), "{err}");
        assert!(err.contains(FONT_ENV), "{err}");
    }

    #[test]
    fn numbers_read_as_annotations() {
        assert_eq!(num(1342.4), "1,342");
        assert_eq!(num(1_234_567.0), "1,234,567");
        assert_eq!(num(38.44), "38.4");
        assert_eq!(num(0.06), "0.06");
        assert_eq!(tick(2500.0), "2,500");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(1000), "1000 B");
    }
}
