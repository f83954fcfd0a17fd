//! The endpoints, one module per resource. Each handler documents the scope
//! it needs; the engine enforces it.

pub mod accounts;
pub mod audit;
pub mod health;
pub mod keyspaces;
pub mod organizations;
pub mod policy;
pub mod sample;
pub mod tokens;
pub mod verify;
pub mod webhooks;
pub mod whoami;

use axum::http::{header, HeaderMap, HeaderValue};
use keyward_store::{Cursor, PageRequest};

use crate::error::ApiError;

/// Builds a page request from query parameters, naming a bad cursor.
pub fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let after = cursor
        .map(|text| {
            Cursor::decode(text).ok_or_else(|| ApiError::invalid_field("cursor", "Not a cursor returned by this API."))
        })
        .transpose()?;
    Ok(PageRequest::new(limit, after))
}

/// Headers of a 201 whose body holds a secret shown once: where the new
/// thing lives (when it has an address), and that no intermediary may keep
/// a copy of the body.
pub fn shown_once_headers(location: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(Ok(location)) = location.map(HeaderValue::from_str) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers
}
