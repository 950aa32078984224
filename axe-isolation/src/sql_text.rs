//! [`SqlText`]: SQL text assembled only from `&'static str` fragments and [`Ident`]s.

use sqlx::AssertSqlSafe;

use crate::ident::Ident;

/// SQL text whose only dynamic parts are validated identifiers.
///
/// This is the one place in the crate that produces an `AssertSqlSafe`: nothing but a
/// `&'static str` or an [`Ident`] can be appended, so no request data can reach SQL text.
#[derive(Debug)]
pub(crate) struct SqlText(String);

impl SqlText {
    /// Starts with a static fragment.
    pub(crate) fn new(sql: &'static str) -> Self {
        Self(String::from(sql))
    }

    /// Appends a static fragment.
    pub(crate) fn sql(mut self, sql: &'static str) -> Self {
        self.0.push_str(sql);
        self
    }

    /// Appends `ident` as a quoted identifier: `"name"`.
    pub(crate) fn ident(mut self, ident: &Ident) -> Self {
        self.0.push_str(&ident.quoted());
        self
    }

    /// Appends `ident` as a string literal: `'name'` (an [`Ident`] holds no quote; a quote
    /// would be doubled anyway). Used by the `testing` harness only.
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    pub(crate) fn literal(mut self, ident: &Ident) -> Self {
        self.0.push('\'');
        for c in ident.as_str().chars() {
            if c == '\'' {
                self.0.push('\'');
            }
            self.0.push(c);
        }
        self.0.push('\'');
        self
    }

    /// The finished text, for `sqlx::query`, `raw_sql` or `Executor::execute`.
    pub(crate) fn build(self) -> AssertSqlSafe<String> {
        AssertSqlSafe(self.0)
    }

    /// The text (tests and logs).
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EntityId;

    #[test]
    fn assembles_quoted_names() -> Result<(), crate::NameError> {
        let id = EntityId::new("acme")?;
        let text = SqlText::new("GRANT USAGE ON SCHEMA ")
            .ident(&id.schema())
            .sql(" TO ")
            .ident(&id.default_role())
            .sql(" -- ")
            .literal(&id.schema());
        assert_eq!(
            text.as_str(),
            "GRANT USAGE ON SCHEMA \"ent_acme\" TO \"ent_acme_rw\" -- 'ent_acme'"
        );
        Ok(())
    }
}
