//! Output helpers: tables for people, JSON for scripts, and a broken pipe
//! (`keyward token list | head`) that ends the program quietly.

use std::io::Write;

use comfy_table::presets::NOTHING;
use comfy_table::Table;
use serde_json::Value;

/// Writes a line to stdout; exits quietly with 0 if the reader went away.
pub fn print_line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Pretty JSON.
pub fn print_json(value: &Value) {
    print_line(&serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A borderless table with a header row.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    print_line(&table.to_string());
}

/// A table of JSON objects, one row each, showing `columns` (header, key).
pub fn print_objects(objects: &[Value], columns: &[(&str, &str)]) {
    let header: Vec<&str> = columns.iter().map(|(title, _)| *title).collect();
    let rows = objects.iter().map(|object| columns.iter().map(|(_, key)| text(&object[*key])).collect()).collect();
    print_table(&header, rows);
}

/// The `data` array of a page (empty when absent).
pub fn page_items(page: &Value) -> &[Value] {
    page["data"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// `key: value` lines for one object.
pub fn print_fields(value: &Value, keys: &[&str]) {
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    for key in keys {
        print_line(&format!("{key:width$}  {}", text(&value[*key])));
    }
}

/// A JSON value as a cell: strings bare, null as `-`, lists comma-separated,
/// a scope catalog entry as `scope (description)`.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::Object(entry) if entry.contains_key("scope") && entry.contains_key("description") => {
            format!("{} ({})", text(&value["scope"]), text(&value["description"]))
        }
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
