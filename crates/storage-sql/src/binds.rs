//! Values bound to a dynamically built statement, numbered `$1`, `$2`, ... in both dialects.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Number(f64),
    Integer(i64),
}

#[derive(Debug, Default)]
pub struct Binds {
    values: Vec<Bind>,
}

impl Binds {
    /// Adds a value and returns its placeholder.
    pub fn push(&mut self, value: Bind) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    pub fn text(&mut self, value: impl Into<String>) -> String {
        self.push(Bind::Text(value.into()))
    }

    pub fn number(&mut self, value: f64) -> String {
        self.push(Bind::Number(value))
    }

    pub fn integer(&mut self, value: i64) -> String {
        self.push(Bind::Integer(value))
    }

    pub fn apply<'q>(
        self,
        mut query: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for value in self.values {
            query = match value {
                Bind::Text(text) => query.bind(text),
                Bind::Number(number) => query.bind(number),
                Bind::Integer(integer) => query.bind(integer),
            };
        }
        query
    }
}
