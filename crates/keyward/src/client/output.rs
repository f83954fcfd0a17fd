//! Output helpers: tables for people, JSON for scripts, and a broken pipe
//! (`keyward token list | head`) that ends the program quietly.

use std::io::Write;

use comfy_table::presets::NOTHING;
use comfy_table::Table;
use serde::Serialize;
use serde_json::Value;

use crate::error::CliError;

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

/// One field of `value` by a dotted path (`id`, `organization.name`,
/// `data.0.id`), as `jq -r` prints it: a string bare, anything else as JSON.
/// A field that is not there is an error naming what is.
pub fn field(value: &Value, path: &str) -> Result<String, CliError> {
    let mut current = value;
    let mut walked: Vec<&str> = Vec::new();
    for step in path.split('.') {
        let next = match current {
            Value::Object(fields) => fields.get(step),
            Value::Array(items) => step.parse::<usize>().ok().and_then(|index| items.get(index)),
            _ => None,
        };
        let Some(next) = next else {
            let here = if walked.is_empty() { "the output".to_owned() } else { format!("`{}`", walked.join(".")) };
            let has = match current {
                Value::Object(fields) if fields.is_empty() => "no fields".to_owned(),
                Value::Object(fields) => format!("fields {}", fields.keys().cloned().collect::<Vec<_>>().join(", ")),
                Value::Array(items) if items.is_empty() => "an empty list".to_owned(),
                Value::Array(items) => format!("a list of {} (index 0 to {})", items.len(), items.len() - 1),
                other => format!("the value {other}"),
            };
            return Err(CliError::Usage(format!(
                "--field {path}: {here} has no `{step}`, it has {has} (the command itself was carried out)"
            )));
        };
        walked.push(step);
        current = next;
    }
    Ok(match current {
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    })
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

/// The `data` array of a page (empty when absent).
pub fn page_items(page: &Value) -> &[Value] {
    page["data"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// `key: value` lines for one object.
pub fn print_fields(value: &Value, keys: &[&str]) {
    let pairs: Vec<(&str, String)> = keys.iter().map(|key| (*key, text(&value[*key]))).collect();
    print_pairs(&pairs);
}

/// `key: value` lines, the values aligned.
pub fn print_pairs(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        print_line(&format!("{key:width$}  {value}"));
    }
}

/// A field of a typed view as a cell: by the rules of [`text`] applied to
/// its JSON, so a typed view prints exactly as its JSON always did.
pub fn cell<T: Serialize + ?Sized>(value: &T) -> String {
    text(&serde_json::to_value(value).unwrap_or(Value::Null))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::json;

    use super::*;

    #[test]
    fn fields_are_picked_by_dotted_path_and_print_like_jq_raw() {
        let value = json!({"id": "ks_1", "count": 3, "gone": null, "org": {"name": "Acme"},
                           "data": [{"id": "tok_a"}, {"id": "tok_b"}], "scopes": ["a", "b"]});
        assert_eq!(field(&value, "id").unwrap(), "ks_1");
        assert_eq!(field(&value, "count").unwrap(), "3");
        assert_eq!(field(&value, "gone").unwrap(), "null");
        assert_eq!(field(&value, "org.name").unwrap(), "Acme");
        assert_eq!(field(&value, "data.1.id").unwrap(), "tok_b");
        assert_eq!(field(&value, "scopes").unwrap(), "[\n  \"a\",\n  \"b\"\n]");
    }

    #[test]
    fn a_missing_field_names_what_is_there() {
        // Keys in sorted order, which is also their order with serde_json's `preserve_order`.
        let value = json!({"data": [{"id": "tok_a"}], "id": "ks_1", "org": {"name": "Acme"}});
        let error = field(&value, "nmae").unwrap_err().to_string();
        assert_eq!(
            error,
            "--field nmae: the output has no `nmae`, it has fields data, id, org (the command itself was carried out)"
        );
        let error = field(&value, "org.id").unwrap_err().to_string();
        assert!(error.contains("`org` has no `id`, it has fields name"), "{error}");
        let error = field(&value, "data.3").unwrap_err().to_string();
        assert!(error.contains("`data` has no `3`, it has a list of 1 (index 0 to 0)"), "{error}");
        let error = field(&value, "id.x").unwrap_err().to_string();
        assert!(error.contains("`id` has no `x`, it has the value \"ks_1\""), "{error}");
        assert!(matches!(field(&value, "nmae"), Err(CliError::Usage(_))));
    }
}
