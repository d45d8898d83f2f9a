//! Query-string validation for `/v1/shape` (ref §1): offset, handle, live, live_sse, cursor and
//! the shape definition. Each problem becomes a 400 naming the parameter, as Electric does.
//! Unknown parameters are ignored (proxies and cache busters add their own).

use std::collections::BTreeMap;

use eddy::protocol::Offset;

use crate::schema::Catalog;
use crate::shape::{DefError, DefLimits, DefParams, Shape};

/// Decoded query pairs; the first occurrence of a name wins.
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decode a raw query string.
    pub fn parse(raw: Option<&str>) -> QueryParams {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        QueryParams { pairs }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `params[n]=v` pairs.
    pub fn where_params(&self) -> Result<BTreeMap<u32, String>, DefError> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.pairs {
            let Some(inner) = k.strip_prefix("params[").and_then(|r| r.strip_suffix(']')) else {
                continue;
            };
            let n = inner
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1 && *n <= 1000)
                .ok_or_else(|| DefError {
                    field: "params",
                    message: format!("invalid parameter name {k:?}: expected params[1], params[2], ..."),
                })?;
            out.entry(n).or_insert_with(|| v.clone());
        }
        Ok(out)
    }

    /// The shape definition parameters.
    pub fn def_params(&self) -> Result<DefParams<'_>, DefError> {
        Ok(DefParams {
            table: self.get("table"),
            where_sql: self.get("where"),
            params: self.where_params()?,
            columns: self.get("columns"),
            replica: self.get("replica"),
            log: self.get("log"),
        })
    }
}

/// A validated `GET /v1/shape` request.
#[derive(Debug, Clone)]
pub struct ShapeRequest {
    /// Requested offset.
    pub offset: Offset,
    /// The offset as sent (for the etag).
    pub offset_text: String,
    /// `handle` (dropped for `-1`/`now`).
    pub handle: Option<String>,
    /// Long-poll or SSE.
    pub live: bool,
    /// SSE.
    pub sse: bool,
    /// The client's cursor.
    pub cursor: Option<String>,
    /// The compiled shape.
    pub shape: Shape,
}

/// A 400: parameter and message.
pub type Invalid = (&'static str, String);

/// Validate a `GET /v1/shape` query.
pub fn parse_shape_request(
    q: &QueryParams,
    catalog: &Catalog,
    limits: DefLimits,
) -> Result<ShapeRequest, Invalid> {
    let offset_text = q.get("offset").ok_or(("offset", "can't be blank".to_string()))?;
    let offset = Offset::parse(offset_text).map_err(|_| ("offset", "has invalid format".to_string()))?;
    let live = q.get("live").is_some_and(|v| v != "false");
    let sse_flag = q.get("live_sse").or_else(|| q.get("experimental_live_sse"));
    let sse = sse_flag.is_some_and(|v| v == "true");
    if sse && !live {
        return Err(("live_sse", "can't be true unless live is also true".into()));
    }
    if live && offset.is_initial() {
        return Err(("live", "can't be true when offset is -1 or now".into()));
    }
    let handle = if offset.is_initial() {
        None
    } else {
        Some(
            q.get("handle")
                .filter(|h| !h.is_empty())
                .ok_or(("handle", "can't be blank when offset != -1".to_string()))?
                .to_string(),
        )
    };
    let def = q.def_params().map_err(|e| (e.field, e.message))?;
    let shape = Shape::from_params(&def, catalog, limits).map_err(|e| (e.field, e.message))?;
    Ok(ShapeRequest {
        offset,
        offset_text: offset_text.to_string(),
        handle,
        live,
        sse,
        cursor: q.get("cursor").map(String::from),
        shape,
    })
}
