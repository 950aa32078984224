//! Validates a customers.yaml, for CI and before a deploy.
//!
//! ```sh
//! cargo run -p axe-tenant --example check -- axe-tenant/examples/customers.yaml
//! ```
//!
//! Prints `ok: …` and exits 0, or prints every error (file:line:column:
//! path: reason) and exits 1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: check FILE");
        return ExitCode::from(2);
    };
    match axe_tenant::check(&path) {
        Ok(report) => {
            println!(
                "ok: {} customers, {} entities, {} domains",
                report.customers, report.entities, report.domains
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}
