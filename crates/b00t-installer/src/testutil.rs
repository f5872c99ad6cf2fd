//! Test helpers: datums from b00t-format text, and an environment with a chosen PATH.

use std::path::Path;

use b00t_datums::{Datum, Environment};

/// The datum of file `datums/<file>` with this text.
pub(crate) fn datum(file: &str, text: &str) -> Datum {
    Datum::from_toml(&Path::new("datums").join(file), Path::new("datums"), text)
        .unwrap_or_else(|error| panic!("test datum {file}: {error}"))
}

/// A machine whose PATH holds exactly `commands`.
pub(crate) struct OnPath(pub(crate) &'static [&'static str]);

impl Environment for OnPath {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }

    fn os_ids(&self) -> Vec<String> {
        vec!["linux".into()]
    }

    fn has_command(&self, cmd: &str) -> bool {
        self.0.contains(&cmd)
    }
}
