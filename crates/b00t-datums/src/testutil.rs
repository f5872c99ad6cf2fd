//! Test helpers: datums and catalogs from short TOML snippets.

use std::path::Path;

use crate::catalog::Catalog;
use crate::model::Datum;

/// The datum `id` (`a.cli`) with `body` appended to its `[b00t]` table.
pub(crate) fn datum(id: &str, body: &str) -> Datum {
    let (name, kind) = id.rsplit_once('.').expect("test ids have a type");
    let text = format!("[b00t]\nname = \"{name}\"\ntype = \"{kind}\"\nhint = \"{id}\"\n{body}");
    Datum::from_toml(
        &Path::new("datums").join(format!("{id}.toml")),
        Path::new("datums"),
        &text,
    )
    .unwrap_or_else(|error| panic!("test datum {id}: {error}"))
}

/// A catalog of `(id, body)` datums.
pub(crate) fn catalog(datums: &[(&str, &str)]) -> Catalog {
    Catalog::from_datums(datums.iter().map(|(id, body)| datum(id, body)).collect())
}

/// `depends_on = [...]` for a body.
pub(crate) fn deps(ids: &[&str]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    format!("depends_on = [{}]\n", quoted.join(", "))
}
