//! The parser registry: which rule types each Postgres type (ref §5 defaults plus user
//! overrides).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::Value;

/// A user parser: the element or scalar text (never NULL) → a value, or a message.
pub type ParseFn = Arc<dyn Fn(&str) -> Result<Value, String> + Send + Sync>;

#[derive(Clone)]
enum Rule {
    Custom(ParseFn),
    Text,
}

/// The parser registry: the default rules plus per-type overrides.
///
/// ```
/// use eddy::protocol::value::{parse_value, Parsers, Value};
/// use eddy::protocol::schema::ColumnInfo;
/// let mut p = Parsers::default();
/// p.register("numeric", |s| s.parse::<f64>().map(Value::Float).map_err(|e| e.to_string()));
/// p.leave_as_text("int8"); // the JS layer will make BigInts itself
/// let v = parse_value(&ColumnInfo::array("numeric", 1), Some("{1.5,NULL}"), &p).unwrap();
/// assert_eq!(v, Value::Array(vec![Value::Float(1.5), Value::Null]));
/// ```
#[derive(Clone, Default)]
pub struct Parsers {
    rules: HashMap<Box<str>, Rule>,
    text_only: bool,
}

impl fmt::Debug for Parsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<(&str, &str)> = self
            .rules
            .iter()
            .map(|(k, r)| (&**k, if matches!(r, Rule::Text) { "text" } else { "custom" }))
            .collect();
        names.sort_unstable();
        f.debug_struct("Parsers")
            .field("text_only", &self.text_only)
            .field("overrides", &names)
            .finish()
    }
}

impl Parsers {
    /// The default rules (the TS client's `defaultParser`).
    pub fn new() -> Self {
        Parsers::default()
    }

    /// No default typing at all: every type stays text unless a parser is registered for it
    /// (arrays are still split into [`Value::Array`]s).
    pub fn text_only() -> Self {
        Parsers {
            text_only: true,
            ..Parsers::default()
        }
    }

    /// Use `parser` for `type_name` (scalars and array elements of that type), replacing the
    /// default rule. It never sees NULL.
    pub fn register(
        &mut self,
        type_name: &str,
        parser: impl Fn(&str) -> Result<Value, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.register_fn(type_name, Arc::new(parser))
    }

    /// [`Parsers::register`] with a shared parser.
    pub fn register_fn(&mut self, type_name: &str, parser: ParseFn) -> &mut Self {
        self.rules.insert(type_name.into(), Rule::Custom(parser));
        self
    }

    /// Keep `type_name` as [`Value::Text`] (array elements too), e.g. because a JS-function
    /// parser will handle it later.
    pub fn leave_as_text(&mut self, type_name: &str) -> &mut Self {
        self.rules.insert(type_name.into(), Rule::Text);
        self
    }

    /// Drop any override for `type_name`, restoring the default rule.
    pub fn reset(&mut self, type_name: &str) -> &mut Self {
        self.rules.remove(type_name);
        self
    }

    pub(super) fn kind<'a>(&'a self, type_name: &'a str) -> Kind<'a> {
        if !self.rules.is_empty() {
            match self.rules.get(type_name) {
                Some(Rule::Custom(f)) => return Kind::Custom(f, type_name),
                Some(Rule::Text) => return Kind::Text,
                None => {}
            }
        }
        if self.text_only {
            return Kind::Text;
        }
        match type_name {
            "bool" => Kind::Bool,
            "int2" => Kind::Int2,
            "int4" => Kind::Int4,
            "int8" => Kind::Int8,
            "float4" | "float8" => Kind::Float,
            "json" | "jsonb" => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// The rule chosen for one column.
#[derive(Clone, Copy)]
pub(super) enum Kind<'a> {
    Bool,
    Int2,
    Int4,
    Int8,
    Float,
    Json,
    Text,
    Custom(&'a ParseFn, &'a str),
}
