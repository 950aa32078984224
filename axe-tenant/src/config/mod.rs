//! `customers.yaml`: the schema, loading, validation, and [`check`].
//!
//! ```
//! use axe_tenant::Customers;
//! let yaml = r#"
//! base_domain: axelabs.ai
//! customers:
//!   - id: axe
//!     tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
//!     domains: [axellc.com]
//!     services: [frame]
//!     entities:
//!       - id: axe
//!         default: true
//! "#;
//! let customers = Customers::from_yaml(yaml, "customers.yaml")?;
//! assert_eq!(customers.customer("axe").unwrap().host(), "axe.axelabs.ai");
//!
//! let err = Customers::from_yaml(&yaml.replace("axellc.com", "co.kr"), "customers.yaml")
//!     .unwrap_err();
//! assert_eq!(err.to_string(),
//!     "customers.yaml:6:15: customers[0].domains[0]: the domain co.kr is a public suffix; \
//!      name the organisation's own domain");
//! # Ok::<(), axe_tenant::ConfigError>(())
//! ```
//!
//! The schema reference is in the crate README.

mod error;
mod locate;
mod model;
mod raw;
mod validate;

use std::path::Path;
use std::sync::Arc;

pub use error::{ConfigError, ConfigErrorKind};
pub use model::{Customer, Customers, Entity};

impl Customers {
    /// Reads, parses and validates a `customers.yaml` file. Returns the first
    /// error by position; [`check`] returns them all.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Customers, ConfigError> {
        parse_path(path.as_ref()).map_err(first)
    }

    /// Parses and validates `customers.yaml` text; `name` names it in errors.
    pub fn from_yaml(src: &str, name: &str) -> Result<Customers, ConfigError> {
        parse_str(src, &Arc::from(name)).map_err(first)
    }
}

/// What [`check`] found in a valid file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Customers defined.
    pub customers: usize,
    /// Entities defined, over all customers.
    pub entities: usize,
    /// Email domains claimed, over all customers.
    pub domains: usize,
}

/// Validates a `customers.yaml` for CI: every error, each naming the file,
/// the YAML path and line, and the reason.
///
/// ```no_run
/// match axe_tenant::check("customers.yaml") {
///     Ok(report) => println!("ok: {} customers", report.customers),
///     Err(errors) => {
///         for e in &errors {
///             eprintln!("{e}");
///         }
///         std::process::exit(1);
///     }
/// }
/// ```
pub fn check(path: impl AsRef<Path>) -> Result<CheckReport, Vec<ConfigError>> {
    parse_path(path.as_ref()).map(|c| CheckReport {
        customers: c.len(),
        entities: c.iter().map(|c| c.entities().len()).sum(),
        domains: c.iter().map(|c| c.domains().len()).sum(),
    })
}

/// The first error by position. Validation never returns an empty list; an
/// empty one still yields an error rather than a panic.
pub(crate) fn first(mut errors: Vec<ConfigError>) -> ConfigError {
    if errors.is_empty() {
        return ConfigError::new(
            &Arc::from("customers.yaml"),
            ".".to_owned(),
            None,
            ConfigErrorKind::Yaml {
                message: "invalid configuration".to_owned(),
            },
        );
    }
    errors.swap_remove(0)
}

pub(crate) fn parse_path(path: &Path) -> Result<Customers, Vec<ConfigError>> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let bytes = std::fs::read(path).map_err(|e| vec![io_error(&name, e)])?;
    parse_bytes(&bytes, &name)
}

pub(crate) fn parse_bytes(bytes: &[u8], name: &Arc<str>) -> Result<Customers, Vec<ConfigError>> {
    match std::str::from_utf8(bytes) {
        Ok(src) => parse_str(src, name),
        Err(e) => Err(vec![io_error(
            name,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )]),
    }
}

pub(crate) fn io_error(name: &Arc<str>, e: std::io::Error) -> ConfigError {
    ConfigError::new(name, ".".to_owned(), None, ConfigErrorKind::Io(e))
}

pub(crate) fn no_source() -> ConfigError {
    ConfigError::new(
        &Arc::from("<memory>"),
        ".".to_owned(),
        None,
        ConfigErrorKind::NoSource,
    )
}

fn parse_str(src: &str, name: &Arc<str>) -> Result<Customers, Vec<ConfigError>> {
    let raw: raw::RawFile =
        serde_norway::from_str(src).map_err(|e| vec![error::from_parser(name, &e)])?;
    validate::validate(name, src, raw)
}
