//! What `keyward serve` tells the operator on stderr outside the logger:
//! startup lines, the setup link, warnings about configuration.
//!
//! They bypass tracing on purpose: the setup link carries a secret and must
//! never reach a log pipeline, only the operator's terminal (or whatever
//! they pipe stderr to). But with `log_format = "json"` every stderr line
//! must still parse as JSON, so in that mode each notice is written as one
//! JSON object shaped like tracing-subscriber's events (`timestamp`,
//! `level`, `fields.message`, `target`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stderr speaks JSON; set once logging is configured. A global
/// because the final error line in `main` is printed far from the config.
static JSON: AtomicBool = AtomicBool::new(false);

/// Switches notices to JSON lines.
pub fn use_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// An informational line; `fields` appear only in JSON.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    write("INFO", message, fields, None);
}

/// A line with a link for the operator to open: on a terminal, the link
/// stands indented on its own line; in JSON, it is the field `name`.
pub fn link(message: &str, name: &str, url: &str) {
    write("INFO", message, &[(name, url)], Some(url));
}

/// A warning line.
pub fn warn(message: &str) {
    write("WARN", message, &[], None);
}

/// An error line.
pub fn error(message: &str) {
    write("ERROR", &format!("error: {message}"), &[], None);
}

fn write(level: &str, message: &str, fields: &[(&str, &str)], shown: Option<&str>) {
    let line = if JSON.load(Ordering::Relaxed) {
        let mut object = serde_json::Map::new();
        object.insert("message".into(), message.into());
        for (name, value) in fields {
            object.insert((*name).into(), (*value).into());
        }
        let event = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level,
            "fields": object,
            "target": "keyward",
        });
        format!("{event}\n")
    } else {
        let mut line = format!("keyward: {}{message}\n", if level == "WARN" { "warning: " } else { "" });
        if let Some(shown) = shown {
            line.push_str(&format!("\n    {shown}\n\n"));
        }
        line
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
