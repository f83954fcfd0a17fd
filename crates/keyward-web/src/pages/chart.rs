//! The token page's usage chart: verifications per day as an inline SVG
//! drawn on the server, so the page needs no script and no third party.
//!
//! Only numbers and dates reach the markup, never text a user typed.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use keyward_store::DailyUsage;

const WIDTH: u32 = 600;
const HEIGHT: u32 = 120;
const AXIS: u32 = 18;

fn date_of(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(day.saturating_mul(86_400), 0)
        .map_or_else(String::new, |at| at.format("%b %-d").to_string())
}

/// The chart of `days` (oldest first), with a text summary for screen readers.
pub fn usage_svg(days: &[DailyUsage]) -> String {
    let total: u64 = days.iter().map(|day| day.uses).sum();
    let peak = days.iter().map(|day| day.uses).max().unwrap_or(0).max(1);
    let count = u32::try_from(days.len()).unwrap_or(u32::MAX).max(1);
    let slot = WIDTH / count;
    let plot = HEIGHT - AXIS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{total} verifications over the last {count} days, at most {peak} in a day" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(svg, r#"<line class="axis" x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"/>"#);
    for (index, day) in days.iter().enumerate() {
        let x = u32::try_from(index).unwrap_or(0) * slot;
        // A day with any use gets at least one pixel, so it never looks empty.
        let height = if day.uses == 0 {
            0
        } else {
            u32::try_from((u64::from(plot - 4) * day.uses).div_ceil(peak)).unwrap_or(plot).max(1)
        };
        let y = plot - height;
        let bar = slot.saturating_sub(2).max(1);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x}" y="{y}" width="{bar}" height="{height}"><title>{}: {}</title></rect>"#,
            date_of(day.day),
            day.uses
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(svg, r#"<text class="label" x="0" y="{HEIGHT}">{}</text>"#, date_of(first.day));
        let _ = write!(
            svg,
            r#"<text class="label" x="{WIDTH}" y="{HEIGHT}" text-anchor="end">{}</text>"#,
            date_of(last.day)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_empty_days_stay_flat() {
        let days: Vec<DailyUsage> = (0..30)
            .map(|n| DailyUsage { day: 20_000 + n, uses: if n == 29 { 1_000 } else { u64::from(n == 3) } })
            .collect();
        let svg = usage_svg(&days);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 30, "one bar per day");
        assert!(svg.contains(r#"height="98"><title>Nov 2: 1000</title>"#), "the peak fills the plot: {svg}");
        assert!(svg.contains(r#"height="1"><title>Oct 7: 1</title>"#), "a single use stays visible");
        assert!(svg.contains(r#"height="0"><title>Oct 8: 0</title>"#), "an idle day has no bar");
        assert!(svg.contains(r#"aria-label="1001 verifications over the last 30 days, at most 1000 in a day""#));
        assert!(usage_svg(&[]).contains("0 verifications"), "an empty chart still renders");
    }
}
