//! Colours for people, none for pipes: ANSI codes only when the stream is a terminal and
//! `NO_COLOR` is unset.

use std::io::IsTerminal;

use b00t_config::env;

pub(crate) fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && env::var(env::NO_COLOR).is_none()
}

pub(crate) fn colour_stderr() -> bool {
    std::io::stderr().is_terminal() && env::var(env::NO_COLOR).is_none()
}

/// An ANSI colour, or nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Paint {
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Dim,
    Bold,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Red => "31",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Blue => "34",
            Paint::Magenta => "35",
            Paint::Cyan => "36",
            Paint::Dim => "2",
            Paint::Bold => "1",
        }
    }

    /// `text` in this colour when `on`.
    pub(crate) fn paint(self, on: bool, text: &str) -> String {
        if on {
            format!("\x1b[{}m{text}\x1b[0m", self.code())
        } else {
            text.to_owned()
        }
    }
}

/// `error:`, red on a terminal.
pub(crate) fn error_label() -> String {
    Paint::Red.paint(colour_stderr(), "error:")
}
