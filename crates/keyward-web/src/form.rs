//! A submitted form, read leniently: missing fields are empty, repeated
//! fields (checkboxes) are all kept, and nothing fails before the handler
//! can answer next to the field.

use axum::body::Bytes;

/// The fields of an `application/x-www-form-urlencoded` body.
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses `body`; undecodable bytes become U+FFFD rather than an error.
    pub fn parse(body: &Bytes) -> Self {
        Self(url::form_urlencoded::parse(body).map(|(name, value)| (name.into_owned(), value.into_owned())).collect())
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.0.iter().find(|(field, _)| field == name).map(|(_, value)| value.trim().to_owned()).unwrap_or_default()
    }

    /// The first value of `name` exactly as sent (passwords).
    pub fn raw(&self, name: &str) -> String {
        self.0.iter().find(|(field, _)| field == name).map(|(_, value)| value.clone()).unwrap_or_default()
    }

    /// Whether the form has a field `name` at all (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(field, _)| field == name)
    }

    /// Every non-empty value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(field, value)| field == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_kept_and_missing_ones_are_empty() {
        let form =
            FormData::parse(&Bytes::from_static(b"name=+ci+&scope=a%3Aread&scope=b%3Awrite&scope=&password=%20x%20"));
        assert_eq!(form.get("name"), "ci");
        assert_eq!(form.all("scope"), ["a:read", "b:write"]);
        assert_eq!(form.get("missing"), "");
        assert_eq!(form.raw("password"), " x ");
        assert!(form.has("scope") && !form.has("missing"));
    }
}
