//! The exit codes shared by every command, beyond a command's own 0/1/2 (listed in the
//! README's CLI table), and [`Refusal`]: an error that ends the command with its own code.

use std::fmt;

/// `b00t up`: another `b00t up` already runs for this home.
pub(crate) const HOME_IN_USE: u8 = 3;
/// `b00t agent run`: an agent with this name is already online.
pub(crate) const NAME_TAKEN: u8 = 4;
/// `b00t up`: the journal (`state/journal.db`) cannot be opened or written: damaged,
/// read-only, or on a full disk.
pub(crate) const JOURNAL_UNUSABLE: u8 = 5;
/// `b00t up`: another runtime took the bus's lease (a standby took over while this one
/// was cut off or paused), so this one stopped; started again, it stands by.
pub(crate) const LEASE_LOST: u8 = 6;

/// The command refuses to go on; `main` prints the message and exits with `code`.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The code of the first [`Refusal`] in `error`'s chain.
pub(crate) fn refusal_code(error: &anyhow::Error) -> Option<u8> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Refusal>())
        .map(|r| r.code)
}
