//! Charts as inline SVG, drawn on the server: no script, no CDN, and the
//! same markup in the dashboard and in a report file. Every data point is
//! an element (`circle.point` or `rect.point`) carrying its value in
//! `data-value` and a `<title>` tooltip.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::format;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// What the values measure (how the axis and tooltips print them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Seconds,
    Ratio,
    Count,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes => format::bytes(v.max(0.0) as u64),
            Unit::Seconds => format::duration(chrono::Duration::milliseconds((v * 1000.0) as i64)),
            Unit::Ratio => format!("{v:.1}×"),
            Unit::Count => format!("{v:.0}"),
        }
    }
}

/// One line (or set of bars) of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// How the series are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Line,
    Bars,
}

/// A chart with a title; `id` names it for links and tests.
pub fn chart(id: &str, title: &str, unit: Unit, kind: Kind, series: &[Series]) -> Markup {
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    html! {
        figure.chart id=(id) data-points=(points) {
            figcaption { (title) }
            @if points == 0 {
                p.empty { "No data yet." }
            } @else {
                (svg(title, unit, kind, series))
                @if series.len() > 1 {
                    ul.legend {
                        @for (i, s) in series.iter().enumerate() {
                            li { span class={"swatch s" (i % 6)} {} (s.name) }
                        }
                    }
                }
            }
        }
    }
}

struct Scale {
    t0: i64,
    t1: i64,
    max: f64,
}

impl Scale {
    fn of(series: &[Series]) -> Scale {
        let times = series.iter().flat_map(|s| s.points.iter().map(|p| p.0.timestamp()));
        let (t0, t1) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0_f64, f64::max);
        Scale { t0, t1, max: if max > 0.0 { max } else { 1.0 } }
    }

    fn x(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        if self.t1 == self.t0 {
            return LEFT + (WIDTH - LEFT - RIGHT) / 2.0;
        }
        LEFT + (t.timestamp() - self.t0) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (1.0 - v / self.max) * (HEIGHT - TOP - BOTTOM)
    }
}

fn svg(title: &str, unit: Unit, kind: Kind, series: &[Series]) -> Markup {
    let scale = Scale::of(series);
    let bar_width = bar_width(series, &scale);
    let base = scale.y(0.0);
    html! {
        svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
            @for frac in [0.0, 0.5, 1.0] {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(num(scale.y(scale.max * frac))) y2=(num(scale.y(scale.max * frac))) {}
                text.axis x=(LEFT - 6.0) y=(num(scale.y(scale.max * frac) + 4.0)) text-anchor="end" { (unit.show(scale.max * frac)) }
            }
            text.axis x=(LEFT) y=(HEIGHT - 8.0) { (day(scale.t0)) }
            @if scale.t1 != scale.t0 {
                text.axis x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (day(scale.t1)) }
            }
            @for (i, s) in series.iter().enumerate() {
                @let class = format!("s{}", i % 6);
                @if kind == Kind::Line && s.points.len() > 1 {
                    polyline class={"series " (class)} fill="none" points=(polyline(s, &scale)) {}
                }
                @for (t, v) in &s.points {
                    @let tip = format!("{}: {} at {}", s.name, unit.show(*v), format::time(*t));
                    @if kind == Kind::Bars {
                        @let x = scale.x(*t) - bar_width / 2.0 + bar_width * i as f64 / series.len() as f64;
                        rect class={"point " (class)} x=(num(x)) y=(num(scale.y(*v))) width=(num(bar_width / series.len() as f64))
                            height=(num(base - scale.y(*v))) data-value=(v) { title { (tip) } }
                    } @else {
                        circle class={"point " (class)} cx=(num(scale.x(*t))) cy=(num(scale.y(*v))) r="3" data-value=(v) { title { (tip) } }
                    }
                }
            }
        }
    }
}

/// One labelled value of a [`ranking`] chart.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

const LABEL_WIDTH: f64 = 200.0;
const ROW: f64 = 22.0;
/// Labels longer than this are cut (the whole one is in the tooltip).
const LABEL_CHARS: usize = 30;

/// Horizontal bars, largest first (e.g. the volumes of a backup by size):
/// one `rect.point` per bar with its value in `data-value` and a tooltip.
pub fn ranking(id: &str, title: &str, unit: Unit, bars: &[Bar]) -> Markup {
    let mut sorted: Vec<&Bar> = bars.iter().collect();
    sorted.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.label.cmp(&b.label)));
    let max = sorted.first().map(|b| b.value).filter(|v| *v > 0.0).unwrap_or(1.0);
    let plot = WIDTH - LABEL_WIDTH - 90.0;
    let height = ROW * sorted.len() as f64 + 4.0;
    html! {
        figure.chart id=(id) data-points=(sorted.len()) {
            figcaption { (title) }
            @if sorted.is_empty() {
                p.empty { "No data yet." }
            } @else {
                svg viewBox={"0 0 " (WIDTH) " " (num(height))} role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
                    @for (i, b) in sorted.iter().enumerate() {
                        @let y = 2.0 + ROW * i as f64;
                        @let w = (b.value.max(0.0) / max * plot).max(1.0);
                        @let label = cut(&b.label);
                        text.axis x=(LABEL_WIDTH - 6.0) y=(num(y + 13.0)) text-anchor="end" { (label) }
                        rect.point.s0 x=(LABEL_WIDTH) y=(num(y + 2.0)) width=(num(w)) height="14" data-value=(b.value) {
                            title { (b.label) ": " (unit.show(b.value)) }
                        }
                        text.axis x=(num(LABEL_WIDTH + w + 6.0)) y=(num(y + 13.0)) { (unit.show(b.value)) }
                    }
                }
            }
        }
    }
}

fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let head: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{head}…")
}

fn bar_width(series: &[Series], scale: &Scale) -> f64 {
    let n = series.iter().map(|s| s.points.len()).max().unwrap_or(1).max(1) as f64;
    let plot = WIDTH - LEFT - RIGHT;
    if scale.t1 == scale.t0 { 24.0 } else { (plot / n * 0.7).clamp(2.0, 24.0) }
}

fn polyline(s: &Series, scale: &Scale) -> String {
    s.points.iter().map(|(t, v)| format!("{},{}", num(scale.x(*t)), num(scale.y(*v)))).collect::<Vec<_>>().join(" ")
}

fn num(v: f64) -> String {
    format!("{v:.1}")
}

fn day(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap()
    }

    #[test]
    fn every_point_is_drawn_with_its_value() {
        let s = Series { name: "nightly".into(), points: vec![(at(0), 10.0), (at(24), 30.0), (at(48), 20.0)] };
        let html = chart("added", "Bytes added", Unit::Bytes, Kind::Line, &[s]).into_string();
        assert_eq!(html.matches("<circle class=\"point s0\"").count(), 3);
        assert!(html.contains("data-points=\"3\""));
        assert!(html.contains("data-value=\"30\""));
        assert!(html.contains("<polyline"));
        // The highest point touches the top of the plot, zero the bottom.
        assert!(html.contains(&format!("cy=\"{:.1}\"", TOP)));
    }

    #[test]
    fn bars_and_empty_charts() {
        let s = Series { name: "a".into(), points: vec![(at(0), 5.0)] };
        let html = chart("b", "Bars", Unit::Count, Kind::Bars, &[s]).into_string();
        assert_eq!(html.matches("<rect class=\"point s0\"").count(), 1);
        let empty = chart("e", "Empty", Unit::Count, Kind::Line, &[]).into_string();
        assert!(empty.contains("No data yet."));
        assert!(!empty.contains("<svg"));
    }

    #[test]
    fn rankings_put_the_largest_first_and_cut_long_labels() {
        let bars = [
            Bar { label: "shop/small".into(), value: 10.0 },
            Bar { label: "shop/large".into(), value: 1000.0 },
            Bar { label: format!("shop/{}", "x".repeat(40)), value: 0.0 },
        ];
        let html = ranking("sizes", "Volume sizes", Unit::Bytes, &bars).into_string();
        assert_eq!(html.matches("<rect class=\"point s0\"").count(), 3);
        assert!(html.find("shop/large").unwrap() < html.find("shop/small").unwrap());
        // The largest bar spans the plot; an empty one still shows.
        assert!(html.contains(&format!("width=\"{:.1}\"", WIDTH - LABEL_WIDTH - 90.0)));
        assert!(html.contains("width=\"1.0\""));
        assert!(html.contains("xxxxx…<"), "a long label is cut: {html}");
        assert!(html.contains(&format!("<title>shop/{}: 0 B</title>", "x".repeat(40))), "the tooltip has it whole");
        let empty = ranking("e", "Empty", Unit::Bytes, &[]).into_string();
        assert!(empty.contains("No data yet.") && !empty.contains("<svg"));
    }

    #[test]
    fn names_are_escaped() {
        let s = Series { name: "<script>".into(), points: vec![(at(0), 1.0)] };
        let html = chart("x", "t", Unit::Count, Kind::Line, &[s]).into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
