//! Shared by the benchmarks: reading criterion's medians back to print ratios.

use std::path::PathBuf;

/// Criterion's median estimate, in nanoseconds, of `group/bench` from this run.
pub fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints a table of medians and ratios against `baseline` for `group`.
pub fn print_ratios(group: &str, baseline: &str, others: &[&str]) {
    let Some(base) = median_ns(group, baseline) else {
        println!("({group}: no estimates found; ratios skipped)");
        return;
    };
    println!("\n{group}: median time per call, and ratio to `{baseline}`");
    println!("  {:<28} {:>12} {:>8}", "variant", "median", "ratio");
    println!("  {:<28} {:>12} {:>8}", baseline, fmt_ns(base), "1.000");
    for other in others {
        if let Some(ns) = median_ns(group, other) {
            println!("  {:<28} {:>12} {:>8.3}", other, fmt_ns(ns), ns / base);
        }
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}
