//! The shape definition as JS can change it after construction: replaced once (`onError`
//! returned `{params}`) or resolved before every request (`params` holding (async) functions),
//! and the schema JS needs to apply its own `parser` functions.

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::{options, ShapeStreamDriver};
use crate::web::error::to_js_error;

#[wasm_bindgen]
impl ShapeStreamDriver {
    /// Replace the shape definition of the next requests (a JSON document like the options'
    /// `table`, `where`, `params`, `columns`, `replica`, `log`, `extra`); from `onError`'s
    /// `{params}`. A different definition gets a 409 from the server and a fresh sync, as with
    /// the official client. Throws a typed error for a bad definition.
    #[wasm_bindgen(js_name = setShape)]
    pub fn set_shape(&self, json: &str) -> Result<(), JsValue> {
        let mut core = self.inner.core.borrow_mut();
        let shape = options::parse_shape(json, &core.base_url).map_err(|e| to_js_error(&e))?;
        core.shape = shape;
        core.shape_provider = None;
        Ok(())
    }

    /// Resolve the shape definition before every request with `provider()`, which returns (a
    /// promise of) the JSON document of [`ShapeStreamDriver::set_shape`]; for `params` given as
    /// (async) functions. A provider that throws, rejects or resolves to a bad definition counts
    /// as a network failure (warned, retried with backoff).
    #[wasm_bindgen(js_name = setShapeProvider)]
    pub fn set_shape_provider(&self, provider: Function) {
        self.inner.core.borrow_mut().shape_provider = Some(provider);
    }

    /// The shape's schema as its `electric-schema` header JSON, once known.
    #[wasm_bindgen(getter)]
    pub fn schema(&self) -> Option<String> {
        self.inner.core.borrow().schema.as_ref().map(|s| s.to_header())
    }
}
