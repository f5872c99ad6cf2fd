//! b00t datums: the TOML files (`<name>.<type>.toml` with a `[b00t]` table) that say how to
//! install and check a tool, the catalog of them, their `require` constraints, and the
//! dependency order to install them in. Input written by others is tolerated: unknown fields,
//! tables and types are kept and reported as notes; a bad file is a `Problem`, never a panic.
//! No async, no network; it only reads files.
//!
//! # Layout
//! - `id.rs`: `DatumId` (`jq.cli`) and the rules for names and types.
//! - `kind.rs`: `DatumType`, the known types plus `Other`.
//! - `model.rs`: `Datum` and its MCP launch methods.
//! - `load.rs`: parsing one file into a `Datum`, with notes for what is unknown.
//! - `scan.rs`: finding `*.toml` files under the catalog folders.
//! - `catalog.rs`: `Catalog`: load, lookups (`find`, `provider_of`) and direct dependencies.
//! - `suggest.rs`: close names for "did you mean".
//! - `constraint.rs`: `Constraint`, `Environment`, `SystemEnv` and `check_constraints`.
//! - `resolve.rs`: install order (`resolve`, `resolve_all`) with cycle and missing checks.
//! - `tree.rs`: `DepTree` for displaying what a datum depends on.
//! - `error.rs`: `DatumError`, `FileError` and `Problem`.

mod catalog;
mod constraint;
mod error;
mod id;
mod kind;
mod load;
mod model;
mod resolve;
mod scan;
mod suggest;
#[cfg(test)]
mod testutil;
mod tree;

pub use catalog::{Catalog, Dependency, DependencyKind};
pub use constraint::{
    check_constraints, command_on, unknown_constraints, Constraint, Environment, SystemEnv, Unmet,
};
pub use error::{DatumError, FileError, Problem, Refused};
pub use id::{is_valid_name, is_valid_type, DatumId};
pub use kind::DatumType;
pub use model::{Datum, InstallMethod, Mcp, McpHttp, McpStdio};
pub use resolve::{resolve, resolve_all, ResolveError};
pub use tree::{tree, DepTree};
