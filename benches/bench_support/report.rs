//! Result rows: printed as a table with ratios and written as Markdown.
use std::fmt::Write;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

pub struct Row {
    pub workload: String,
    pub unit: &'static str,
    pub stock: Option<f64>,
    pub module: Option<f64>,
    pub better: Better,
    pub note: String,
}

impl Row {
    pub fn new(workload: impl Into<String>, unit: &'static str, stock: f64, module: f64, better: Better) -> Row {
        Row { workload: workload.into(), unit, stock: Some(stock), module: Some(module), better, note: String::new() }
    }

    pub fn module_only(workload: impl Into<String>, unit: &'static str, module: f64, note: impl Into<String>) -> Row {
        Row { workload: workload.into(), unit, stock: None, module: Some(module), better: Better::Lower, note: note.into() }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        match (self.stock, self.module) {
            (Some(s), Some(m)) if s != 0.0 && s.is_finite() && m.is_finite() => Some(m / s),
            _ => None,
        }
    }
}

fn number(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(v) if !v.is_finite() => "n/a".into(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

pub fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.workload.len() + r.unit.len() + 3).max().unwrap_or(8).max(8);
    println!("{:<width$}  {:>11}  {:>11}  {:>7}  note", "workload", "stock", "module", "ratio");
    println!("{}", "-".repeat(width + 40));
    for row in rows {
        let label = format!("{} ({})", row.workload, row.unit);
        let ratio = row.ratio().map(|r| format!("{r:.3}")).unwrap_or_else(|| "—".into());
        println!("{label:<width$}  {:>11}  {:>11}  {ratio:>7}  {}", number(row.stock), number(row.module), row.note);
    }
    println!("ratio = module / stock (per-second rows: below 1 is slower; ms, s and MB rows: above 1 is slower)");
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| workload | unit | stock | module | ratio | note |\n|---|---|---:|---:|---:|---|\n");
    for row in rows {
        let ratio = row.ratio().map(|r| format!("{r:.3}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {ratio} | {} |",
            row.workload,
            row.unit,
            number(row.stock),
            number(row.module),
            row.note
        );
    }
    out
}

pub const BEGIN: &str = "<!-- bench-scale results: begin (written by `make bench-scale`) -->";
pub const END: &str = "<!-- bench-scale results: end -->";

/// Replaces the results between the markers of `path` (appends them when the markers are absent).
pub fn write_docs(path: &std::path::Path, section: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{section}\n{END}");
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(start), Some(end)) if end > start => format!("{}{block}{}", &text[..start], &text[end + END.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(path, updated)
}
